package ood

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkFeatureScores measures the per-frame cost of every score at
// MobileNetV2's size: 1,280 features, 1,001 classes, a 5,000-vector bank.
// Compare with the model's Invoke time (BenchmarkConformanceModels in
// model/interp).
func BenchmarkFeatureScores(b *testing.B) {
	const dim, classes, bankSize = 1280, 1001, 5000
	rng := rand.New(rand.NewPCG(1, 1))
	head := randomHead(rng, classes, dim)
	feats := randomFeatures(rng, bankSize, dim, 0.2)
	query := randomFeatures(rng, 1, dim, 0.2)[0]
	logits := make([]float32, classes)
	head.Logits(logits, query)
	react, err := Fit(MethodReAct, feats[:200], FitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	data := map[Method]*FeatureData{
		MethodEnergy: nil, MethodMSP: nil, MethodMaxLogit: nil,
		MethodReAct: react, MethodASH: {Percentile: 90},
	}
	for _, storage := range []Storage{StorageInt8, StorageFloat16} {
		bank, err := NewBank(feats, storage)
		if err != nil {
			b.Fatal(err)
		}
		// The support radius from a real fit would cost 5,000² dot
		// products; its value barely changes the cost of scoring.
		b.Run("knn-"+string(storage), func(b *testing.B) {
			benchScorer(b, MethodKNN, head, &FeatureData{K: DefaultKNNK, Bank: bank}, logits, query)
			b.ReportMetric(float64(bank.Bytes()), "bank-bytes")
		})
		b.Run("support-"+string(storage), func(b *testing.B) {
			benchScorer(b, MethodSupport, head, &FeatureData{K: DefaultSupportK, Bank: bank, Radius: 0.4}, logits, query)
		})
	}
	for _, m := range []Method{MethodEnergy, MethodMSP, MethodMaxLogit, MethodReAct, MethodASH} {
		b.Run(string(m), func(b *testing.B) { benchScorer(b, m, head, data[m], logits, query) })
	}
}

func benchScorer(b *testing.B, m Method, head *Head, d *FeatureData, logits, features []float32) {
	s, err := NewScorer(m, 1, head, d)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Score(logits, features); err != nil {
			b.Fatal(err)
		}
	}
}
