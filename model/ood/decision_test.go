package ood

import (
	"math"
	"testing"
)

func TestDecisionIsOOD(t *testing.T) {
	d := (&Calibration{Method: MethodEnergy, Threshold: -4.5}).Decision()
	tests := []struct {
		score float64
		want  bool
	}{
		{-4.5, false}, // equal to the threshold is kept as ID
		{-4.4, false},
		{math.Inf(1), false},
		{math.Nextafter(-4.5, math.Inf(-1)), true},
		{math.Inf(-1), true},
		{math.NaN(), true}, // NaN is OOD: the one place this is decided
	}
	for _, tt := range tests {
		if got := d.IsOOD(tt.score); got != tt.want {
			t.Errorf("IsOOD(%v) = %v, want %v", tt.score, got, tt.want)
		}
	}
}

func TestDecisionKeepsAchievedTPR(t *testing.T) {
	scores := testScores(300)
	cal, err := Calibrate(testSHA, MethodEnergy, 1, 0.95, scores)
	if err != nil {
		t.Fatal(err)
	}
	d := cal.Decision()
	kept := 0
	for _, s := range scores {
		if !d.IsOOD(s) {
			kept++
		}
	}
	if got := float64(kept) / float64(len(scores)); got != cal.AchievedTPR {
		t.Errorf("the decision keeps %v of the calibration set, want achieved_tpr %v", got, cal.AchievedTPR)
	}
}

// TestDecisionOverrideSign pins the sign convention of overrides: an energy
// for the energy method, a score for the others.
func TestDecisionOverrideSign(t *testing.T) {
	v := -7.0
	tests := []struct {
		method        Method
		wantThreshold float64 // ID orientation
		oodScore      float64 // an ID score that must be OOD
		idScore       float64 // one that must not
		wantEnergy    bool
	}{
		// energy > −7 is OOD, i.e. score −E < 7.
		{MethodEnergy, 7, 6.9, 7, true},
		// msp < −7 is OOD (an odd value, but the orientation is the point).
		{MethodMSP, -7, -7.1, -7, false},
		{MethodMaxLogit, -7, -8, 0, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.method), func(t *testing.T) {
			d := NewDecision(&Calibration{Method: tt.method, Threshold: 123}, &v)
			if d.Threshold != tt.wantThreshold || !d.Overridden {
				t.Fatalf("NewDecision(override %v) = %+v, want threshold %v, overridden", v, d, tt.wantThreshold)
			}
			if !d.IsOOD(tt.oodScore) || d.IsOOD(tt.idScore) {
				t.Errorf("IsOOD(%v) = %v, IsOOD(%v) = %v", tt.oodScore, d.IsOOD(tt.oodScore), tt.idScore, d.IsOOD(tt.idScore))
			}
			e, ok := d.EnergyThreshold()
			if ok != tt.wantEnergy || (ok && e != v) {
				t.Errorf("EnergyThreshold() = %v, %v; want %v, %v", e, ok, v, tt.wantEnergy)
			}
		})
	}
	d := NewDecision(&Calibration{Method: MethodEnergy, Threshold: 10.5}, nil)
	if d.Threshold != 10.5 || d.Overridden {
		t.Errorf("without override: %+v", d)
	}
	if got, want := d.String(), "energy > -10.5 is OOD, i.e. score −E < 10.5"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
