package runner

import (
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
)

// setThreshold applies decision.threshold, in the calibration method's own
// units (an energy for the energy method); nil restores the calibrated
// threshold. The rule itself is ood.Decision's, shared with the CLI.
func (a *Agent) setThreshold(v *float64) {
	a.modelMu.Lock()
	defer a.modelMu.Unlock()
	a.model.thresh = v
	d := ood.NewDecision(a.model.calib, v)
	a.decision.Store(&d)
}

// active returns the model in use.
func (a *Agent) active() *activeModel {
	a.modelMu.RLock()
	defer a.modelMu.RUnlock()
	return a.model
}

// idThreshold is the threshold in ID-score orientation in force now.
func (a *Agent) idThreshold() float64 { return a.decision.Load().Threshold }

// decide says whether a classified frame is out of distribution, and
// under which threshold (in ID-score orientation).
func (a *Agent) decide(r detect.Result) (isOOD bool, threshold float64) {
	d := a.decision.Load()
	return d.IsOOD(r.IDScore), d.Threshold
}
