package ood

import "fmt"

// reactScorer clips the features at an ID percentile, recomputes the last
// layer and returns the negative energy. When nothing exceeds the clip the
// logits equal the model's own.
type reactScorer struct {
	head    *Head
	clip    float32
	T       float64
	clipped []float32
	logits  []float32
}

func newReAct(h *Head, clip float32, T float64) *reactScorer {
	return &reactScorer{head: h, clip: clip, T: T, clipped: make([]float32, h.Dim), logits: make([]float32, h.Classes)}
}

func (s *reactScorer) Method() Method { return MethodReAct }

func (s *reactScorer) Score(_, features []float32) (float64, error) {
	if err := checkFeatures(features, s.head.Dim); err != nil {
		return 0, err
	}
	for i, v := range features {
		s.clipped[i] = min(v, s.clip)
	}
	s.head.Logits(s.logits, s.clipped)
	e, err := Energy(s.logits, s.T)
	if err != nil {
		return 0, fmt.Errorf("react: %w", err)
	}
	return -e, nil
}
