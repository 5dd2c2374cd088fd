package ood

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSummarizeHandWorked(t *testing.T) {
	s, err := Summarize([]float64{5, 1, 4, 2, 3}, 4)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"mean", s.Mean, 3},
		{"std", s.Std, math.Sqrt(2)}, // population: (4+1+0+1+4)/5
		{"min", s.Min, 1},
		{"max", s.Max, 5},
		// Position (n−1)·q = 4q in the sorted 1..5.
		{"p01", s.Quantiles.P01, 1.04},
		{"p05", s.Quantiles.P05, 1.2},
		{"p25", s.Quantiles.P25, 2},
		{"p50", s.Quantiles.P50, 3},
		{"p75", s.Quantiles.P75, 4},
		{"p95", s.Quantiles.P95, 4.8},
		{"p99", s.Quantiles.P99, 4.96},
	}
	for _, c := range checks {
		if !approxEqual(c.got, c.want, 1e-12) {
			t.Errorf("Summarize %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Bins of width 1 over [1, 5]; 5 falls in the closed last bin.
	wantEdges := []float64{1, 2, 3, 4, 5}
	wantCounts := []int{1, 1, 1, 2}
	if !slices.Equal(s.Histogram.Edges, wantEdges) || !slices.Equal(s.Histogram.Counts, wantCounts) {
		t.Errorf("Summarize histogram = %v %v, want %v %v", s.Histogram.Edges, s.Histogram.Counts, wantEdges, wantCounts)
	}
}

func TestSummarizeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 50 {
		n := 1 + rng.IntN(300)
		scores := make([]float64, n)
		for i := range scores {
			scores[i] = rng.NormFloat64()*3 - 7
		}
		bins := 1 + rng.IntN(30)
		s, err := Summarize(scores, bins)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Histogram.Counts) != bins || len(s.Histogram.Edges) != bins+1 {
			t.Fatalf("Summarize(%d bins) has %d counts, %d edges", bins, len(s.Histogram.Counts), len(s.Histogram.Edges))
		}
		// Count each bin by brute force from the edges.
		h := s.Histogram
		for b := range bins {
			want := 0
			for _, v := range scores {
				if v >= h.Edges[b] && (v < h.Edges[b+1] || (b == bins-1 && v == h.Edges[b+1])) {
					want++
				}
			}
			if h.Counts[b] != want {
				t.Errorf("bin %d [%v, %v) count = %d, want %d", b, h.Edges[b], h.Edges[b+1], h.Counts[b], want)
			}
		}
		q := s.Quantiles
		ordered := []float64{s.Min, q.P01, q.P05, q.P25, q.P50, q.P75, q.P95, q.P99, s.Max}
		if !slices.IsSorted(ordered) {
			t.Errorf("min, quantiles, max not ordered: %v", ordered)
		}
		if h.Edges[0] != s.Min || (s.Min != s.Max && h.Edges[bins] != s.Max) {
			t.Errorf("edges span [%v, %v], want [%v, %v]", h.Edges[0], h.Edges[bins], s.Min, s.Max)
		}
	}
}

func TestSummarizeConstant(t *testing.T) {
	s, err := Summarize([]float64{2, 2, 2}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if s.Std != 0 || s.Mean != 2 || s.Quantiles.P50 != 2 {
		t.Errorf("Summarize(constant) = mean %v std %v p50 %v, want 2 0 2", s.Mean, s.Std, s.Quantiles.P50)
	}
	h := s.Histogram
	if h.Edges[0] != 1.5 || h.Edges[3] != 2.5 || h.Counts[1] != 3 {
		t.Errorf("Summarize(constant) histogram = %v %v, want [1.5 … 2.5] with all in the middle bin", h.Edges, h.Counts)
	}
}

func TestSummarizeErrors(t *testing.T) {
	tests := []struct {
		name   string
		scores []float64
		bins   int
		want   error
	}{
		{"empty", nil, 4, ErrEmpty},
		{"nan", []float64{1, math.NaN()}, 4, ErrNonFinite},
		{"zero bins", []float64{1}, 0, nil},
		{"overflowing range", []float64{-math.MaxFloat64, math.MaxFloat64}, 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Summarize(tt.scores, tt.bins)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("Summarize(%v, %d) error = %v, want %v", tt.scores, tt.bins, err, tt.want)
			}
		})
	}
}

func TestHistogramBin(t *testing.T) {
	h := Histogram{Edges: []float64{0, 1, 2, 4}, Counts: make([]int, 3)}
	tests := []struct {
		x    float64
		want int
	}{
		{-0.1, -1},
		{0, 0},
		{0.99, 0},
		{1, 1},
		{3.9, 2},
		{4, 2},
		{4.01, -1},
		{math.NaN(), -1},
	}
	for _, tt := range tests {
		if got := h.Bin(tt.x); got != tt.want {
			t.Errorf("Bin(%v) = %d, want %d", tt.x, got, tt.want)
		}
	}
	if got := (Histogram{}).Bin(0); got != -1 {
		t.Errorf("empty Histogram.Bin(0) = %d, want -1", got)
	}
}
