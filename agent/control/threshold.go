package control

import (
	"errors"
	"fmt"
	"math"

	"github.com/ood-agent/ood-agent/model/ood"
)

// ThresholdForTPR answers set_threshold's target_tpr on an agent, which
// has the calibration's summary but not its scores: the ID-score
// threshold that keeps about tpr of the calibration's in-distribution
// scores. At the summary's quantile levels (tpr 0.99, 0.95, 0.75, 0.5,
// 0.25, 0.05, 0.01) it is that quantile; elsewhere it interpolates the
// histogram linearly within a bin, so it is within one bin width of the
// exact ood.Threshold.
func ThresholdForTPR(s ood.Summary, tpr float64) (float64, error) {
	if !(tpr > 0 && tpr < 1) {
		return 0, fmt.Errorf("target_tpr %v: want between 0 and 1 (exclusive)", tpr)
	}
	level := 1 - tpr // fraction of ID scores below the threshold
	q := s.Quantiles
	for _, a := range []struct{ level, value float64 }{
		{0.01, q.P01}, {0.05, q.P05}, {0.25, q.P25}, {0.5, q.P50}, {0.75, q.P75}, {0.95, q.P95}, {0.99, q.P99},
	} {
		if math.Abs(level-a.level) < 1e-9 {
			return a.value, nil
		}
	}
	h := s.Histogram
	if len(h.Counts) == 0 || len(h.Edges) != len(h.Counts)+1 {
		return 0, errors.New("calibration summary has no histogram")
	}
	total := 0
	for _, c := range h.Counts {
		total += c
	}
	if total == 0 {
		return 0, errors.New("calibration summary histogram is empty")
	}
	want := level * float64(total)
	below := 0.0
	for i, c := range h.Counts {
		if c > 0 && below+float64(c) >= want {
			frac := (want - below) / float64(c)
			return h.Edges[i] + frac*(h.Edges[i+1]-h.Edges[i]), nil
		}
		below += float64(c)
	}
	return h.Edges[len(h.Edges)-1], nil
}
