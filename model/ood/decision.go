package ood

import (
	"fmt"
	"math"
)

// Decision is the one rule that says whether an input is out of
// distribution. The agent, the score and eval commands and the demo all
// decide through it, so they cannot disagree.
//
// Signs. Every method is reduced to an ID score, higher meaning more
// in-distribution; for the energy method the ID score is −E. Threshold is in
// that orientation: an input is in-distribution iff its ID score is
// >= Threshold. For energy this reads "E > −Threshold flags OOD", and
// EnergyThreshold returns that energy.
//
// NaN. A NaN ID score is out of distribution: a model that cannot produce a
// finite score for a frame has certainly not seen anything like it, and
// an alert is cheaper than a silent miss.
type Decision struct {
	// Method is the score the threshold applies to.
	Method Method
	// Threshold is in ID-score orientation (see the type's comment).
	Threshold float64
	// Overridden reports that Threshold came from an override rather than
	// the calibration.
	Overridden bool
}

// NewDecision returns the decision of a calibration, with the threshold
// replaced by override when it is not nil. The override is in the method's
// natural units, as an operator writes it: an energy for MethodEnergy
// (inputs with E above it are OOD), an ID score for the other methods
// (inputs with a score below it are OOD).
func NewDecision(c *Calibration, override *float64) Decision {
	d := Decision{Method: c.Method, Threshold: c.Threshold}
	if override != nil {
		d.Threshold = *override
		if c.Method == MethodEnergy {
			d.Threshold = -*override
		}
		d.Overridden = true
	}
	return d
}

// IsOOD reports whether an input with the given ID score is out of
// distribution: its score is below the threshold, or NaN.
func (d Decision) IsOOD(idScore float64) bool {
	return !(idScore >= d.Threshold)
}

// EnergyThreshold returns the threshold as an energy (OOD iff E is above
// it) and true for MethodEnergy, and false for the other methods.
func (d Decision) EnergyThreshold() (float64, bool) {
	if d.Method != MethodEnergy {
		return math.NaN(), false
	}
	return -d.Threshold, true
}

// String describes the rule in the method's natural terms, e.g.
// "energy > -10.38 is OOD, i.e. score −E < 10.38".
func (d Decision) String() string {
	if e, ok := d.EnergyThreshold(); ok {
		return fmt.Sprintf("energy > %.4g is OOD, i.e. score −E < %.4g", e, d.Threshold)
	}
	return fmt.Sprintf("%s < %.4g is OOD", d.Method, d.Threshold)
}
