package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/model/ood"
)

// TestFeatureScoresCLI calibrates a feature score, uses the calibration to
// score, and compares every score with eval --score all.
func TestFeatureScoresCLI(t *testing.T) {
	frames := filepath.Join("..", "..", "agent", "demo", "frames")
	if _, err := run(t, "calibrate", "--score", "react", "--id", frames, "--out", filepath.Join(t.TempDir(), "c.json")); err == nil || !strings.Contains(err.Error(), "--fit") {
		t.Fatalf("calibrate --score react without --fit = %v, want an error asking for --fit", err)
	}
	calib := filepath.Join(t.TempDir(), "knn.json")
	out, err := run(t, "calibrate", "--score", "knn", "--k", "3", "--fit", "noise:gaussian:300", "--id", "noise:gaussian:100", "--bank-storage", "float16", "--out", calib)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "feature bank: 300 vectors × 128 features, float16, 76800 bytes") {
		t.Errorf("calibrate output does not report the bank: %s", out)
	}
	c, err := ood.Load(calib)
	if err != nil {
		t.Fatal(err)
	}
	if c.Method != ood.MethodKNN || c.Features == nil || c.Features.K != 3 || c.Features.Bank.N != 300 {
		t.Fatalf("calibration %+v", c)
	}
	// The detector scores with the stored bank: gaussian noise is
	// in-distribution here, the demo's garments are not.
	out, err = run(t, "score", "--calibration", calib, "--json", "noise:gaussian:20", frames)
	if err != nil {
		t.Fatal(err)
	}
	flagged := 0
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		var s scoreLine
		if err := json.Unmarshal([]byte(l), &s); err != nil || s.OOD == nil {
			t.Fatalf("score line %s (%v)", l, err)
		}
		if *s.OOD {
			flagged++
		}
	}
	if len(lines) != 35 || flagged < 12 || flagged > 18 {
		t.Errorf("%d lines, %d flagged OOD; want 35 lines and about the 15 frames flagged", len(lines), flagged)
	}

	plotPath := filepath.Join(t.TempDir(), "all.png")
	out, err = run(t, "eval", "--score", "all", "--fit", "noise:gaussian:300", "--k", "3", "--id", "noise:gaussian:100", "--ood", frames, "--json", "--plot", plotPath)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Results []EvalRow `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Results) != 7 {
		t.Fatalf("eval --score all --json = %s (%v), want 7 rows", out, err)
	}
	for i, m := range append(ood.LogitMethods(), ood.FeatureMethods()...) {
		r := res.Results[i]
		if r.Score != string(m) || r.NID != 100 || r.NOOD != 15 {
			t.Errorf("row %d = %+v, want score %s on 100 ID and 15 OOD inputs", i, r, m)
		}
		if m == ood.MethodKNN && r.AUROC < 0.9 {
			t.Errorf("knn separates gaussian noise from garments with AUROC %.3f", r.AUROC)
		}
	}
	if st, err := os.Stat(plotPath); err != nil || st.Size() < 1000 {
		t.Errorf("plot of every score not written: %v", err)
	}
}
