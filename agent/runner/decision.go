package runner

import (
	"math"

	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
)

// The decision rule lives here alone so that it can be replaced by the
// model's single decision type without touching the wiring.

// setThreshold applies decision.threshold: for the energy method it is an
// energy (frames with E above it are out of distribution), for the others a
// score (frames below it are). nil restores the calibrated threshold.
func (a *Agent) setThreshold(v *float64) {
	if v == nil {
		a.threshold.Store(nil)
		return
	}
	t := *v
	if a.calib.Method == ood.MethodEnergy {
		t = -t
	}
	a.threshold.Store(&t)
}

// idThreshold is the threshold in ID-score orientation in force now.
func (a *Agent) idThreshold() float64 {
	if t := a.threshold.Load(); t != nil {
		return *t
	}
	return a.calib.Threshold
}

// decide says whether a classified frame is out of distribution, and
// under which threshold (in ID-score orientation).
func (a *Agent) decide(r detect.Result) (isOOD bool, threshold float64) {
	threshold = a.idThreshold()
	return r.IDScore < threshold || math.IsNaN(r.IDScore), threshold
}
