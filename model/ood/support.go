package ood

import "math"

// supportScorer measures how deep a sample lies in the support of the ID
// reference set. Each bank vector y_j carries a ball of radius r_j (its
// k-NN distance); the sample's membership of a ball is soft, 1 − d/r_j
// inside and 0 outside, and the score is the mean membership over all
// balls — the per-sample form of probabilistic precision. A sample in no
// ball gets the negative margin 1 − min_j d_j/r_j instead of a tie at 0, so
// the score stays informative far from the data.
type supportScorer struct {
	s     *searcher
	radii []float32
}

func newSupport(b *Bank, radii []float32) *supportScorer {
	return &supportScorer{s: newSearcher(b), radii: radii}
}

func (s *supportScorer) Method() Method { return MethodSupport }

func (s *supportScorer) Score(_, features []float32) (float64, error) {
	if err := s.s.similarities(features); err != nil {
		return 0, err
	}
	var sum float64
	margin := math.Inf(-1) // the largest 1 − d/r
	for j, sim := range s.s.sims {
		r := s.radii[j]
		if r <= 0 {
			continue // a duplicated reference vector has an empty ball
		}
		m := 1 - float64(distance(sim)/r)
		if m > 0 {
			sum += m
		}
		margin = max(margin, m)
	}
	if sum > 0 {
		return sum / float64(len(s.radii)), nil
	}
	return margin, nil
}
