package detect

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/model/ood"
)

// BenchmarkScoreVsInvoke measures each score's per-frame cost on the
// MobileNetV2 conformance model (1,280 features, 1,001 classes) with a
// 5,000-vector bank, next to that model's Invoke in the same process; the
// metric invoke-% is the score's cost as a share of one Invoke.
func BenchmarkScoreVsInvoke(b *testing.B) {
	f := conformanceCase("mobilenet_v2_224_uint8").open(b)
	d, err := New(f, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	fill := conformanceCase("").fill
	invoke := func() time.Duration {
		start := time.Now()
		if err := fill(d, rng); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// Fit data: features of random frames, jittered to a 5,000-vector bank
	// (the values do not change the cost).
	var fitFeatures [][]float32
	for i := 0; i < 8; i++ {
		invoke()
		feats, _ := d.Features()
		fitFeatures = append(fitFeatures, slices.Clone(feats))
	}
	bankFeatures := make([][]float32, 5000)
	for i := range bankFeatures {
		v := slices.Clone(fitFeatures[i%len(fitFeatures)])
		for j := range v {
			v[j] = max(0, v[j]+0.1*float32(rng.NormFloat64()))
		}
		bankFeatures[i] = v
	}
	head, err := d.Head()
	if err != nil {
		b.Fatal(err)
	}
	var invokes []time.Duration
	for i := 0; i < 5; i++ {
		invokes = append(invokes, invoke())
	}
	slices.Sort(invokes)
	invokeNs := float64(invokes[2].Nanoseconds())
	logits := slices.Clone(d.Logits())
	feats, _ := d.Features()
	feats = slices.Clone(feats)

	react, _ := ood.Fit(ood.MethodReAct, fitFeatures, ood.FitOptions{})
	type benchCase struct {
		name string
		m    ood.Method
		data *ood.FeatureData
	}
	cases := []benchCase{{"energy", ood.MethodEnergy, nil}, {"react", ood.MethodReAct, react}, {"ash", ood.MethodASH, &ood.FeatureData{Percentile: 90}}}
	for _, storage := range []ood.Storage{ood.StorageInt8, ood.StorageFloat16} {
		bank, err := ood.NewBank(bankFeatures, storage)
		if err != nil {
			b.Fatal(err)
		}
		cases = append(cases,
			benchCase{"knn-" + string(storage), ood.MethodKNN, &ood.FeatureData{K: ood.DefaultKNNK, Bank: bank}},
			// A fitted radius would cost 5,000² dot products; its value
			// barely changes the cost of scoring.
			benchCase{"support-" + string(storage), ood.MethodSupport, &ood.FeatureData{K: ood.DefaultSupportK, Bank: bank, Radius: 0.5}})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s, err := ood.NewScorer(c.m, 1, head, c.data)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Score(logits, feats); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(100*float64(b.Elapsed().Nanoseconds())/float64(b.N)/invokeNs, "invoke-%")
			b.ReportMetric(invokeNs/1e6, "invoke-ms")
		})
	}
}
