package ood

import "math"

// supportScorer measures whether a sample lies in the support of the ID
// reference set, the per-sample term of probabilistic precision (Park &
// Kim, 2023): every bank vector y_j carries a ball of the common radius R
// (the mean k-NN distance of the bank, so that a few outlying references
// cannot inflate the support), membership is soft, p_j = max(0, 1 − d_j/R),
// and the probability of lying in at least one ball is 1 − Π(1 − p_j). The
// score is −Σ log(1 − p_j), which orders samples as that probability does
// without saturating at 1. A sample in no ball scores its largest margin
// 1 − d_j/R, which is ≤ 0, instead of a tie at 0.
type supportScorer struct {
	s      *searcher
	radius float32
}

func newSupport(b *Bank, radius float32, dots RowDots) *supportScorer {
	return &supportScorer{s: newSearcher(b, dots), radius: radius}
}

func (s *supportScorer) Method() Method { return MethodSupport }

// maxMembership caps p_j below 1 so that log(1 − p_j) stays finite for a
// sample that coincides with a reference vector.
const maxMembership = 1 - 1e-6

func (s *supportScorer) Score(_, features []float32) (float64, error) {
	if err := s.s.similarities(features); err != nil {
		return 0, err
	}
	// Membership needs d < R, that is a similarity above 1 − R²/2.
	minSim := 1 - s.radius*s.radius/2
	// −Σ log(1 − p_j) as −log of products of up to 16 factors: a
	// logarithm per ball a sample lies in cost as much as the search. Each
	// factor is at least 1 − maxMembership, so a product stays above
	// 10⁻⁹⁶.
	inside, prod, n := 0.0, 1.0, 0
	best := float32(-2)
	for _, sim := range s.s.sims {
		best = max(best, sim)
		if sim <= minSim {
			continue
		}
		prod *= 1 - min(1-float64(distance(sim)/s.radius), maxMembership)
		if n++; n == 16 {
			inside -= math.Log(prod)
			prod, n = 1, 0
		}
	}
	inside -= math.Log(prod)
	if inside > 0 {
		return inside, nil
	}
	return 1 - float64(distance(best)/s.radius), nil
}
