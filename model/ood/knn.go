package ood

// knnScorer returns minus the distance from the normalized features to
// their k-th nearest neighbour in the bank.
type knnScorer struct {
	s   *searcher
	top []float32
}

func newKNN(b *Bank, k int, dots RowDots) *knnScorer {
	return &knnScorer{s: newSearcher(b, dots), top: make([]float32, k)}
}

func (k *knnScorer) Method() Method { return MethodKNN }

func (k *knnScorer) Score(_, features []float32) (float64, error) {
	if err := k.s.similarities(features); err != nil {
		return 0, err
	}
	return -float64(distance(kthLargest(k.top, k.s.sims))), nil
}
