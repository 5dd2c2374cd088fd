package ood

import (
	"math"
	"slices"
)

// The metrics in this file follow the conventions of the energy paper's
// evaluation code: in-distribution samples are the positive class and
// scores are ID scores, higher meaning more in-distribution. Every metric
// returns NaN when either set is empty or contains a NaN; infinite scores
// are ordered normally. Thresholds are swept over the distinct score values,
// so tied scores always fall on the same side of a threshold.

// Result holds the evaluation metrics of a detector on one ID and one OOD
// data set.
type Result struct {
	// FPR95 is FPRAtTPR at a TPR of 0.95.
	FPR95 float64 `json:"fpr95"`
	// AUROC is the area under the ROC curve.
	AUROC float64 `json:"auroc"`
	// AUPRIn is the average precision with ID as the positive class.
	AUPRIn float64 `json:"aupr_in"`
	// AUPROut is the average precision with OOD as the positive class.
	AUPROut float64 `json:"aupr_out"`
	// DetectionError is the minimum balanced error over thresholds.
	DetectionError float64 `json:"detection_error"`
	// NID and NOOD are the sizes of the two sets.
	NID  int `json:"n_id"`
	NOOD int `json:"n_ood"`
}

// Evaluate computes every metric of id and ood scores, sorting each set
// once.
func Evaluate(id, ood []float64) Result {
	r := Result{NID: len(id), NOOD: len(ood)}
	p, ok := prepare(id, ood)
	if !ok {
		nan := math.NaN()
		r.FPR95, r.AUROC, r.AUPRIn, r.AUPROut, r.DetectionError = nan, nan, nan, nan, nan
		return r
	}
	r.FPR95 = p.fprAtTPR(0.95)
	r.AUROC = p.auroc()
	r.AUPRIn = averagePrecision(p.id, p.ood, true)
	r.AUPROut = averagePrecision(p.ood, p.id, false)
	r.DetectionError = p.detectionError()
	return r
}

// FPRAtTPR returns the fraction of OOD scores that are >= the threshold
// keeping tpr of the ID scores, the threshold being chosen as in Threshold.
// With tpr = 0.95 this is the paper's FPR95. It returns NaN for a tpr
// outside (0, 1].
func FPRAtTPR(id, ood []float64, tpr float64) float64 {
	p, ok := prepare(id, ood)
	if !ok {
		return math.NaN()
	}
	return p.fprAtTPR(tpr)
}

// AUROC returns the area under the ROC curve: the probability that a random
// ID sample scores higher than a random OOD sample, ties counting one half
// (the Mann–Whitney U statistic divided by len(id)·len(ood)). It runs in
// O(n log n).
func AUROC(id, ood []float64) float64 {
	p, ok := prepare(id, ood)
	if !ok {
		return math.NaN()
	}
	return p.auroc()
}

// AUPRIn returns the average precision with ID as the positive class:
// Σₙ (Rₙ − Rₙ₋₁)·Pₙ over the distinct scores taken as thresholds from the
// highest down, with Rₙ and Pₙ the recall and precision of keeping the
// scores >= the n-th threshold. This is the step-wise sum of scikit-learn's
// average_precision_score, not a trapezoidal area.
func AUPRIn(id, ood []float64) float64 {
	p, ok := prepare(id, ood)
	if !ok {
		return math.NaN()
	}
	return averagePrecision(p.id, p.ood, true)
}

// AUPROut returns the average precision with OOD as the positive class and
// the scores negated, computed as in AUPRIn.
func AUPROut(id, ood []float64) float64 {
	p, ok := prepare(id, ood)
	if !ok {
		return math.NaN()
	}
	return averagePrecision(p.ood, p.id, false)
}

// DetectionError returns the minimum over thresholds of
// 0.5·(1−TPR) + 0.5·FPR. Thresholds above and below every score are
// included, so the result is at most 0.5.
func DetectionError(id, ood []float64) float64 {
	p, ok := prepare(id, ood)
	if !ok {
		return math.NaN()
	}
	return p.detectionError()
}

// sortedPair holds ascending copies of the ID and OOD scores.
type sortedPair struct {
	id, ood []float64
}

func prepare(id, ood []float64) (sortedPair, bool) {
	if len(id) == 0 || len(ood) == 0 || slices.ContainsFunc(id, math.IsNaN) || slices.ContainsFunc(ood, math.IsNaN) {
		return sortedPair{}, false
	}
	p := sortedPair{id: slices.Clone(id), ood: slices.Clone(ood)}
	slices.Sort(p.id)
	slices.Sort(p.ood)
	return p, true
}

func (p sortedPair) fprAtTPR(tpr float64) float64 {
	if checkTPR(tpr) != nil {
		return math.NaN()
	}
	tau := p.id[thresholdIndex(len(p.id), tpr)]
	fp := len(p.ood) - lowerBound(p.ood, tau)
	return float64(fp) / float64(len(p.ood))
}

// auroc integrates the ROC curve with the trapezoidal rule. A tie group
// moves the curve diagonally, and the trapezoid under that segment is
// exactly the half credit Mann–Whitney gives to tied pairs. The sum is kept
// in float64, exact for integers below 2⁵³.
func (p sortedPair) auroc() float64 {
	var twiceArea float64
	prevTP, prevFP := 0, 0
	sweep(p.id, p.ood, true, func(tp, fp int) {
		twiceArea += float64(fp-prevFP) * float64(tp+prevTP)
		prevTP, prevFP = tp, fp
	})
	return twiceArea / (2 * float64(len(p.id)) * float64(len(p.ood)))
}

func (p sortedPair) detectionError() float64 {
	nID, nOOD := float64(len(p.id)), float64(len(p.ood))
	best := 0.5 // threshold above every score: TPR = FPR = 0
	sweep(p.id, p.ood, true, func(tp, fp int) {
		best = min(best, 0.5*(1-float64(tp)/nID)+0.5*float64(fp)/nOOD)
	})
	return best
}

// averagePrecision returns Σₙ (Rₙ − Rₙ₋₁)·Pₙ for the ascending positive
// and negative scores. With high set, higher scores are more positive;
// otherwise lower ones are, which is the same as negating the scores.
func averagePrecision(pos, neg []float64, high bool) float64 {
	nPos := float64(len(pos))
	var ap float64
	prevTP := 0
	sweep(pos, neg, high, func(tp, fp int) {
		if tp != prevTP {
			ap += float64(tp-prevTP) / nPos * float64(tp) / float64(tp+fp)
			prevTP = tp
		}
	})
	return ap
}

// sweep visits every distinct score of the ascending slices pos and neg as
// a threshold and calls fn with the number of pos and neg scores on the
// accepted side of it. With high set, thresholds go from the highest score
// down and scores >= the threshold are accepted; otherwise they go from the
// lowest up and scores <= the threshold are accepted. The last call accepts
// every score.
func sweep(pos, neg []float64, high bool, fn func(tp, fp int)) {
	if high {
		i, j := len(pos), len(neg) // pos[i:] and neg[j:] are accepted
		for i > 0 || j > 0 {
			var t float64
			switch {
			case i == 0:
				t = neg[j-1]
			case j == 0:
				t = pos[i-1]
			default:
				t = max(pos[i-1], neg[j-1])
			}
			for i > 0 && pos[i-1] == t {
				i--
			}
			for j > 0 && neg[j-1] == t {
				j--
			}
			fn(len(pos)-i, len(neg)-j)
		}
		return
	}
	i, j := 0, 0 // pos[:i] and neg[:j] are accepted
	for i < len(pos) || j < len(neg) {
		var t float64
		switch {
		case i == len(pos):
			t = neg[j]
		case j == len(neg):
			t = pos[i]
		default:
			t = min(pos[i], neg[j])
		}
		for i < len(pos) && pos[i] == t {
			i++
		}
		for j < len(neg) && neg[j] == t {
			j++
		}
		fn(i, j)
	}
}
