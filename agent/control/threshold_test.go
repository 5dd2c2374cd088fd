package control

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model/ood"
)

func TestThresholdForTPR(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	scores := make([]float64, 5000)
	for i := range scores {
		scores[i] = 10 + 3*rng.NormFloat64()
	}
	sum, err := ood.Summarize(scores, ood.SummaryBins)
	if err != nil {
		t.Fatal(err)
	}
	width := (sum.Max - sum.Min) / ood.SummaryBins
	for _, tpr := range []float64{0.5, 0.8, 0.9, 0.95, 0.97, 0.99, 0.999} {
		got, err := ThresholdForTPR(sum, tpr)
		if err != nil {
			t.Fatal(err)
		}
		exact, _, err := ood.Threshold(scores, tpr)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-exact) > width {
			t.Errorf("tpr %v: threshold %.3f, exact %.3f, more than a bin (%.3f) apart", tpr, got, exact, width)
		}
		kept := 0
		for _, s := range scores {
			if s >= got {
				kept++
			}
		}
		if frac := float64(kept) / float64(len(scores)); math.Abs(frac-tpr) > 0.02 {
			t.Errorf("tpr %v: threshold %.3f keeps %.3f of the scores", tpr, got, frac)
		}
	}
	for _, bad := range []float64{0, 1, -0.5, math.NaN()} {
		if _, err := ThresholdForTPR(sum, bad); err == nil {
			t.Errorf("ThresholdForTPR(%v) succeeded", bad)
		}
	}
	if _, err := ThresholdForTPR(ood.Summary{}, 0.9); err == nil {
		t.Error("ThresholdForTPR of an empty summary succeeded")
	}
}
