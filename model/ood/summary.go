package ood

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Summary describes a set of scores: moments, quantiles and a histogram.
// A calibration keeps one of its ID scores so that scores seen in the field
// can be compared against it to detect drift.
type Summary struct {
	// Mean is the arithmetic mean.
	Mean float64 `json:"mean"`
	// Std is the population standard deviation (divisor n).
	Std float64 `json:"std"`
	// Min is the smallest score.
	Min float64 `json:"min"`
	// Max is the largest score.
	Max float64 `json:"max"`
	// Quantiles are selected quantiles of the scores.
	Quantiles Quantiles `json:"quantiles"`
	// Histogram counts the scores in equal-width bins from Min to Max.
	Histogram Histogram `json:"histogram"`
}

// Quantiles holds the quantiles a Summary reports. They are computed by
// linear interpolation between order statistics: for sorted s of length n
// the q-quantile is read at position (n−1)·q (the default of NumPy and R
// type 7).
type Quantiles struct {
	P01 float64 `json:"p01"`
	P05 float64 `json:"p05"`
	P25 float64 `json:"p25"`
	P50 float64 `json:"p50"`
	P75 float64 `json:"p75"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Histogram is a histogram with equal-width bins. Bin i covers
// [Edges[i], Edges[i+1]); the last bin also includes its upper edge.
type Histogram struct {
	// Edges are the len(Counts)+1 ascending bin edges.
	Edges []float64 `json:"edges"`
	// Counts are the number of values in each bin.
	Counts []int `json:"counts"`
}

// Bin returns the index of the bin containing x, or -1 if x is NaN or
// outside [Edges[0], Edges[len(Edges)-1]]. It lets scores seen later be
// counted on the calibration bins.
func (h Histogram) Bin(x float64) int {
	n := len(h.Counts)
	if n == 0 || len(h.Edges) != n+1 || !(x >= h.Edges[0] && x <= h.Edges[n]) {
		return -1
	}
	// Edges[i] <= x < Edges[i+1], or the last bin for x == Edges[n].
	i, found := slices.BinarySearch(h.Edges, x)
	if !found {
		i--
	}
	return min(i, n-1)
}

// Summarize computes the Summary of scores with the given number of
// histogram bins. The bins span [min, max]; if all scores are equal they
// span [min−0.5, min+0.5] so that the bins have a width.
func Summarize(scores []float64, bins int) (Summary, error) {
	if bins < 1 {
		return Summary{}, fmt.Errorf("summarize: %d bins, want at least 1", bins)
	}
	if err := checkScores(scores); err != nil {
		return Summary{}, fmt.Errorf("summarize: %w", err)
	}
	s := slices.Clone(scores)
	slices.Sort(s)
	n := float64(len(s))

	// Welford's update keeps the sums from overflowing for large scores.
	var mean, m2 float64
	for i, v := range s {
		d := v - mean
		mean += d / float64(i+1)
		m2 += d * (v - mean)
	}

	lo, hi := s[0], s[len(s)-1]
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	h := Histogram{Edges: make([]float64, bins+1), Counts: make([]int, bins)}
	width := (hi - lo) / float64(bins)
	if !finite(width) {
		return Summary{}, fmt.Errorf("summarize: score range [%v, %v] overflows", lo, hi)
	}
	for i := range h.Edges {
		h.Edges[i] = lo + float64(i)*width
	}
	// Computing the last edge as lo+bins·width may round below hi.
	h.Edges[bins] = hi
	for _, v := range s {
		h.Counts[h.Bin(v)]++
	}

	sum := Summary{
		Mean: mean,
		Std:  math.Sqrt(m2 / n),
		Min:  s[0],
		Max:  s[len(s)-1],
		Quantiles: Quantiles{
			P01: quantile(s, 0.01),
			P05: quantile(s, 0.05),
			P25: quantile(s, 0.25),
			P50: quantile(s, 0.50),
			P75: quantile(s, 0.75),
			P95: quantile(s, 0.95),
			P99: quantile(s, 0.99),
		},
		Histogram: h,
	}
	// Scores near the float64 limits can still overflow the spread.
	if err := sum.validate(len(s)); err != nil {
		return Summary{}, fmt.Errorf("summarize: %w", err)
	}
	return sum, nil
}

// quantile returns the q-quantile of the ascending, non-empty s by linear
// interpolation at position (n−1)·q.
func quantile(s []float64, q float64) float64 {
	pos := float64(len(s)-1) * q
	i := int(pos)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	frac := pos - float64(i)
	return s[i] + frac*(s[i+1]-s[i])
}

// validate checks that the summary is finite and consistent with n samples.
func (s Summary) validate(n int) error {
	q := s.Quantiles
	for _, v := range []float64{s.Mean, s.Std, s.Min, s.Max, q.P01, q.P05, q.P25, q.P50, q.P75, q.P95, q.P99} {
		if !finite(v) {
			return fmt.Errorf("non-finite statistic %v", v)
		}
	}
	if s.Min > s.Max {
		return fmt.Errorf("min %v above max %v", s.Min, s.Max)
	}
	h := s.Histogram
	if len(h.Counts) == 0 {
		return errors.New("histogram has no bins")
	}
	if len(h.Edges) != len(h.Counts)+1 {
		return fmt.Errorf("histogram has %d edges for %d bins", len(h.Edges), len(h.Counts))
	}
	for i, e := range h.Edges {
		if !finite(e) || (i > 0 && e < h.Edges[i-1]) {
			return fmt.Errorf("histogram edge %d (%v) not finite and ascending", i, e)
		}
	}
	total := 0
	for _, c := range h.Counts {
		if c < 0 {
			return fmt.Errorf("negative histogram count %d", c)
		}
		total += c
	}
	if total != n {
		return fmt.Errorf("histogram counts sum to %d, want n = %d", total, n)
	}
	return nil
}
