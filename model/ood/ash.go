package ood

import (
	"fmt"
	"math"
)

// ashScorer implements ASH-S: keep the largest (100 − percentile)% of the
// activations, zero the rest, scale what is kept by exp(Σ all / Σ kept),
// recompute the last layer and return the negative energy.
type ashScorer struct {
	head    *Head
	keep    int
	T       float64
	shaped  []float32
	scratch []float32
	logits  []float32
}

func newASH(h *Head, percentile float64, T float64) *ashScorer {
	keep := h.Dim - int(math.Round(float64(h.Dim)*percentile/100))
	return &ashScorer{head: h, keep: max(keep, 1), T: T,
		shaped: make([]float32, h.Dim), scratch: make([]float32, h.Dim), logits: make([]float32, h.Classes)}
}

func (s *ashScorer) Method() Method { return MethodASH }

func (s *ashScorer) Score(_, features []float32) (float64, error) {
	if err := checkFeatures(features, s.head.Dim); err != nil {
		return 0, err
	}
	copy(s.scratch, features)
	// The keep-th largest value: everything above it is kept, and as many
	// values equal to it as fill the quota.
	thr := nthLargest(s.scratch, s.keep)
	above := 0
	for _, v := range features {
		if v > thr {
			above++
		}
	}
	ties := s.keep - above
	var total, kept float64
	for i, v := range features {
		total += float64(v)
		switch {
		case v > thr:
		case v == thr && ties > 0:
			ties--
		default:
			s.shaped[i] = 0
			continue
		}
		s.shaped[i] = v
		kept += float64(v)
	}
	if kept > 0 && total > 0 {
		scale := float32(math.Exp(total / kept))
		for i := range s.shaped {
			s.shaped[i] *= scale
		}
	}
	s.head.Logits(s.logits, s.shaped)
	e, err := Energy(s.logits, s.T)
	if err != nil {
		return 0, fmt.Errorf("ash: %w", err)
	}
	return -e, nil
}

// nthLargest returns the n-th largest value of v (n from 1), reordering v,
// in linear expected time (Hoare's selection with a median-of-three pivot).
func nthLargest(v []float32, n int) float32 {
	lo, hi, k := 0, len(v)-1, n-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Order v[lo], v[mid], v[hi] descending; the median becomes the pivot.
		if v[mid] > v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] > v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] > v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		pivot := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] > pivot {
				i++
			}
			for v[j] < pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}
