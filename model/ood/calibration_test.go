package ood

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// countKept returns how many scores are >= tau.
func countKept(scores []float64, tau float64) int {
	n := 0
	for _, s := range scores {
		if s >= tau {
			n++
		}
	}
	return n
}

func TestThresholdHandWorked(t *testing.T) {
	ten := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	tests := []struct {
		name         string
		scores       []float64
		tpr          float64
		wantTau      float64
		wantAchieved float64
	}{
		// n=10, tpr=0.95: k = floor(0.5) = 0, keep all.
		{"95 of 10", ten, 0.95, 1, 1},
		// k = floor(1) = 1: the lowest score is dropped.
		{"90 of 10", ten, 0.9, 2, 0.9},
		// k = floor(2.5) = 2.
		{"75 of 10", ten, 0.75, 3, 0.8},
		{"all of 10", ten, 1, 1, 1},
		// k = floor(9.99) = 9: the maximum is kept.
		{"0.1% of 10", ten, 0.001, 10, 0.1},
		{"n=1", []float64{-3.5}, 0.95, -3.5, 1},
		{"n=1 tiny tpr", []float64{7}, 1e-9, 7, 1},
		// k = 1 lands on a tie of three: all of them stay.
		{"ties kept", []float64{1, 2, 2, 2, 3}, 0.8, 2, 0.8},
		{"ties above target", []float64{1, 2, 2, 2, 3}, 0.5, 2, 0.8},
		{"all equal", []float64{4, 4, 4, 4}, 0.3, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tau, achieved, err := Threshold(tt.scores, tt.tpr)
			if err != nil {
				t.Fatalf("Threshold error: %v", err)
			}
			if tau != tt.wantTau || achieved != tt.wantAchieved {
				t.Errorf("Threshold(%v, %v) = %v, %v, want %v, %v", tt.scores, tt.tpr, tau, achieved, tt.wantTau, tt.wantAchieved)
			}
		})
	}
}

// checkThreshold verifies the contract of Threshold on one input: the
// achieved rate is the true kept fraction, meets the target, and no higher
// threshold would.
func checkThreshold(t *testing.T, scores []float64, tpr float64) {
	t.Helper()
	tau, achieved, err := Threshold(scores, tpr)
	if err != nil {
		t.Fatalf("Threshold(%v, %v) error: %v", scores, tpr, err)
	}
	n := float64(len(scores))
	kept := countKept(scores, tau)
	if achieved != float64(kept)/n {
		t.Errorf("Threshold(%v, %v) achieved = %v, but %d of %v kept", scores, tpr, achieved, kept, n)
	}
	if achieved < tpr {
		t.Errorf("Threshold(%v, %v) achieved = %v, below target", scores, tpr, achieved)
	}
	if !containsFloat(scores, tau) {
		t.Errorf("Threshold(%v, %v) = %v, not one of the scores", scores, tpr, tau)
	}
	above := 0 // kept by any threshold just above tau
	for _, s := range scores {
		if s > tau {
			above++
		}
	}
	if float64(above)/n >= tpr {
		t.Errorf("Threshold(%v, %v) = %v is not the tightest: %d scores above it already meet the target", scores, tpr, tau, above)
	}
}

func containsFloat(s []float64, x float64) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestThresholdAchievesTarget(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	// Targets whose products with n are prone to rounding.
	tprs := []float64{1, 0.999, 0.99, 0.95, 0.9, 0.7, 0.6, 0.3, 0.1, 1.0 / 3, 2.0 / 3, 0.01, 1e-12}
	for n := 1; n <= 120; n++ {
		for _, tpr := range tprs {
			distinct := make([]float64, n)
			for i := range distinct {
				distinct[i] = rng.NormFloat64()
			}
			checkThreshold(t, distinct, tpr)
			// Heavy ties: at most three distinct values.
			tied := make([]float64, n)
			for i := range tied {
				tied[i] = float64(rng.IntN(3))
			}
			checkThreshold(t, tied, tpr)
			// Exact targets k/n, where the rate must be met with equality.
			k := 1 + rng.IntN(n)
			checkThreshold(t, distinct, float64(k)/float64(n))
		}
	}
	for range 500 {
		n := 1 + rng.IntN(60)
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(rng.IntN(1 + rng.IntN(5)))
		}
		checkThreshold(t, s, math.Nextafter(rng.Float64(), 2))
	}
}

func TestThresholdDoesNotModifyInput(t *testing.T) {
	s := []float64{3, 1, 2}
	if _, _, err := Threshold(s, 0.5); err != nil {
		t.Fatal(err)
	}
	if want := []float64{3, 1, 2}; !reflect.DeepEqual(s, want) {
		t.Errorf("Threshold reordered its input to %v, want %v", s, want)
	}
}

func TestThresholdErrors(t *testing.T) {
	tests := []struct {
		name   string
		scores []float64
		tpr    float64
		want   error
	}{
		{"empty", nil, 0.95, ErrEmpty},
		{"nan score", []float64{1, math.NaN()}, 0.95, ErrNonFinite},
		{"inf score", []float64{math.Inf(-1), 1}, 0.95, ErrNonFinite},
		{"tpr zero", []float64{1}, 0, ErrTPR},
		{"tpr negative", []float64{1}, -0.5, ErrTPR},
		{"tpr above one", []float64{1}, 1.01, ErrTPR},
		{"tpr nan", []float64{1}, math.NaN(), ErrTPR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Threshold(tt.scores, tt.tpr); !errors.Is(err, tt.want) {
				t.Errorf("Threshold(%v, %v) error = %v, want %v", tt.scores, tt.tpr, err, tt.want)
			}
		})
	}
}

// testSHA stands for the hash of a model file.
const testSHA = "00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef"

func testScores(n int) []float64 {
	rng := rand.New(rand.NewPCG(9, 10))
	s := make([]float64, n)
	for i := range s {
		s[i] = 8 + 2*rng.NormFloat64()
	}
	return s
}

func TestCalibrate(t *testing.T) {
	scores := testScores(500)
	for _, m := range []Method{MethodEnergy, MethodMSP, MethodMaxLogit, MethodTempMSP} {
		t.Run(string(m), func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			c, err := Calibrate(strings.ToUpper(testSHA), m, 1.5, 0.95, scores)
			if err != nil {
				t.Fatalf("Calibrate error: %v", err)
			}
			tau, achieved, _ := Threshold(scores, 0.95)
			if c.Threshold != tau || c.AchievedTPR != achieved || c.TargetTPR != 0.95 || c.N != len(scores) {
				t.Errorf("Calibrate threshold, achieved, target, n = %v, %v, %v, %d, want %v, %v, 0.95, %d",
					c.Threshold, c.AchievedTPR, c.TargetTPR, c.N, tau, achieved, len(scores))
			}
			if c.ModelSHA256 != testSHA || c.Method != m || c.Temperature != 1.5 || c.Version != FormatVersion {
				t.Errorf("Calibrate sha, method, T, version = %s, %s, %v, %d", c.ModelSHA256, c.Method, c.Temperature, c.Version)
			}
			if c.Created.Before(before) || c.Created.After(time.Now()) {
				t.Errorf("Calibrate created = %v, want about now", c.Created)
			}
			switch {
			case m == MethodEnergy && (c.EnergyThreshold == nil || *c.EnergyThreshold != -tau):
				t.Errorf("energy_threshold = %v, want %v", c.EnergyThreshold, -tau)
			case m != MethodEnergy && c.EnergyThreshold != nil:
				t.Errorf("energy_threshold = %v for method %s, want unset", *c.EnergyThreshold, m)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

func TestCalibrateErrors(t *testing.T) {
	scores := testScores(10)
	tests := []struct {
		name   string
		sha    string
		method Method
		T      float64
		tpr    float64
		scores []float64
		want   error
	}{
		{"missing sha", "", MethodEnergy, 1, 0.95, scores, ErrInvalidCalibration},
		{"short sha", testSHA[:12], MethodEnergy, 1, 0.95, scores, ErrInvalidCalibration},
		{"non-hex sha", strings.Repeat("g", 64), MethodEnergy, 1, 0.95, scores, ErrInvalidCalibration},
		{"method", testSHA, "odin", 1, 0.95, scores, ErrUnknownMethod},
		{"temperature", testSHA, MethodEnergy, 0, 0.95, scores, ErrTemperature},
		{"tpr", testSHA, MethodEnergy, 1, 0, scores, ErrTPR},
		{"no scores", testSHA, MethodEnergy, 1, 0.95, nil, ErrEmpty},
		{"nan score", testSHA, MethodEnergy, 1, 0.95, []float64{math.NaN()}, ErrNonFinite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Calibrate(tt.sha, tt.method, tt.T, tt.tpr, tt.scores); !errors.Is(err, tt.want) {
				t.Errorf("Calibrate error = %v, want %v", err, tt.want)
			}
		})
	}
}

// sameCalibration compares two calibrations, times by instant.
func sameCalibration(t *testing.T, got, want *Calibration) {
	t.Helper()
	if !got.Created.Equal(want.Created) {
		t.Errorf("created = %v, want %v", got.Created, want.Created)
	}
	g, w := *got, *want
	g.Created, w.Created = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("calibration round trip differs:\n got %+v\nwant %+v", g, w)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, m := range []Method{MethodEnergy, MethodTempMSP} {
		t.Run(string(m), func(t *testing.T) {
			c, err := Calibrate(testSHA, m, 2, 0.9, testScores(200))
			if err != nil {
				t.Fatal(err)
			}
			c.ModelName = "mobilenet-v2"
			path := filepath.Join(dir, string(m)+".json")
			if err := c.Save(path); err != nil {
				t.Fatalf("Save error: %v", err)
			}
			got, err := Load(path)
			if err != nil {
				t.Fatalf("Load error: %v", err)
			}
			sameCalibration(t, got, c)

			var buf bytes.Buffer
			if err := c.Write(&buf); err != nil {
				t.Fatalf("Write error: %v", err)
			}
			saved, _ := os.ReadFile(path)
			if !bytes.Equal(buf.Bytes(), saved) {
				t.Errorf("Write and Save produce different bytes")
			}
			var fields map[string]any
			if err := json.Unmarshal(saved, &fields); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"version", "model_sha256", "model_name", "method", "temperature", "target_tpr", "achieved_tpr", "n", "threshold", "created", "summary"} {
				if _, ok := fields[key]; !ok {
					t.Errorf("saved file lacks %q", key)
				}
			}
			if _, ok := fields["energy_threshold"]; ok != (m == MethodEnergy) {
				t.Errorf("saved file has energy_threshold = %v, want %v", ok, m == MethodEnergy)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries after two saves, want 2 (temporary files left?)", len(entries))
	}
}

func TestSaveErrors(t *testing.T) {
	c, err := Calibrate(testSHA, MethodEnergy, 1, 0.95, testScores(20))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(filepath.Join(t.TempDir(), "missing", "cal.json")); err == nil {
		t.Errorf("Save into a missing directory succeeded")
	}
	dir := t.TempDir()
	c.Threshold = math.NaN()
	if err := c.Save(filepath.Join(dir, "cal.json")); !errors.Is(err, ErrInvalidCalibration) {
		t.Errorf("Save of NaN threshold error = %v, want %v", err, ErrInvalidCalibration)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed Save left %d files behind", len(entries))
	}
	if _, err := Load(filepath.Join(dir, "cal.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of missing file error = %v, want %v", err, os.ErrNotExist)
	}
}

// validJSON returns a valid calibration file as a generic map for tests to
// corrupt.
func validJSON(t *testing.T, m Method) map[string]any {
	t.Helper()
	c, err := Calibrate(testSHA, m, 1, 0.95, testScores(50))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseValidation(t *testing.T) {
	tests := []struct {
		name   string
		method Method
		edit   func(map[string]any)
		want   error // nil means Parse must succeed
	}{
		{"valid", MethodEnergy, func(map[string]any) {}, nil},
		{"derived energy threshold", MethodEnergy, func(v map[string]any) { delete(v, "energy_threshold") }, nil},
		{"upper-case sha", MethodMSP, func(v map[string]any) { v["model_sha256"] = strings.ToUpper(testSHA) }, nil},
		{"version", MethodEnergy, func(v map[string]any) { v["version"] = 2 }, ErrInvalidCalibration},
		{"no version", MethodEnergy, func(v map[string]any) { delete(v, "version") }, ErrInvalidCalibration},
		{"unknown method", MethodEnergy, func(v map[string]any) { v["method"] = "odin" }, ErrUnknownMethod},
		{"missing method", MethodEnergy, func(v map[string]any) { delete(v, "method") }, ErrUnknownMethod},
		{"missing sha", MethodEnergy, func(v map[string]any) { delete(v, "model_sha256") }, ErrInvalidCalibration},
		{"short sha", MethodEnergy, func(v map[string]any) { v["model_sha256"] = "abc" }, ErrInvalidCalibration},
		{"tpr zero", MethodEnergy, func(v map[string]any) { v["target_tpr"] = 0 }, ErrTPR},
		{"tpr above one", MethodEnergy, func(v map[string]any) { v["target_tpr"] = 1.2 }, ErrTPR},
		{"achieved below target", MethodEnergy, func(v map[string]any) { v["achieved_tpr"] = 0.5 }, ErrInvalidCalibration},
		{"temperature", MethodEnergy, func(v map[string]any) { v["temperature"] = -1 }, ErrTemperature},
		{"n zero", MethodEnergy, func(v map[string]any) { v["n"] = 0 }, ErrInvalidCalibration},
		{"energy threshold mismatch", MethodEnergy, func(v map[string]any) { v["energy_threshold"] = 3.25 }, ErrInvalidCalibration},
		{"energy threshold on msp", MethodMSP, func(v map[string]any) { v["energy_threshold"] = -0.5 }, ErrInvalidCalibration},
		{"logits from the head", MethodEnergy, func(v map[string]any) { v["logits"] = LogitsHead }, nil},
		{"unknown logits source", MethodEnergy, func(v map[string]any) { v["logits"] = "softmax" }, ErrInvalidCalibration},
		{"histogram count", MethodEnergy, func(v map[string]any) {
			v["summary"].(map[string]any)["histogram"].(map[string]any)["counts"] = []int{1, 2}
		}, ErrInvalidCalibration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := validJSON(t, tt.method)
			tt.edit(v)
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(b)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse error: %v", err)
				}
				if c.Method == MethodEnergy && *c.EnergyThreshold != -c.Threshold {
					t.Errorf("energy_threshold = %v, want %v", *c.EnergyThreshold, -c.Threshold)
				}
				if c.ModelSHA256 != testSHA {
					t.Errorf("model_sha256 = %s, want %s", c.ModelSHA256, testSHA)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseNonFiniteThreshold(t *testing.T) {
	v := validJSON(t, MethodMSP)
	b, _ := json.Marshal(v)
	// JSON has no NaN or infinity; such values must be rejected, not read
	// as zero.
	for _, bad := range []string{"NaN", "1e999", "Infinity", `"inf"`} {
		in := bytes.Replace(b, []byte(`"threshold":`), []byte(`"threshold":`+bad+`,"x":`), 1)
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse with threshold %s succeeded", bad)
		}
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	c.Threshold = math.Inf(1)
	if err := c.Validate(); !errors.Is(err, ErrInvalidCalibration) {
		t.Errorf("Validate with infinite threshold = %v, want %v", err, ErrInvalidCalibration)
	}
}

func TestCheckModel(t *testing.T) {
	c, err := Calibrate(testSHA, MethodEnergy, 1, 0.95, testScores(20))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckModel(strings.ToUpper(testSHA)); err != nil {
		t.Errorf("CheckModel(same) = %v, want nil", err)
	}
	other := SHA256Hex([]byte("other model"))
	err = c.CheckModel(other)
	if !errors.Is(err, ErrModelMismatch) {
		t.Fatalf("CheckModel(other) = %v, want %v", err, ErrModelMismatch)
	}
	for _, h := range []string{testSHA[:12], other[:12]} {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("CheckModel error %q does not name %s", err, h)
		}
	}
	if err := c.CheckModel(""); !errors.Is(err, ErrModelMismatch) {
		t.Errorf("CheckModel(\"\") = %v, want %v", err, ErrModelMismatch)
	}
}

func TestSHA256Hex(t *testing.T) {
	// FIPS 180-2 test vector for "abc".
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := SHA256Hex([]byte("abc")); got != want {
		t.Errorf("SHA256Hex(abc) = %s, want %s", got, want)
	}
	sum := sha256.Sum256(nil)
	if got := SHA256Hex(nil); got != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256Hex(nil) = %s", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, m := range []Method{MethodEnergy, MethodMSP} {
		c, err := Calibrate(testSHA, m, 1, 0.95, testScores(30))
		if err != nil {
			f.Fatal(err)
		}
		b, err := json.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		c.Preprocess = testPreprocessing()
		if b, err = json.Marshal(c); err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"version":1,"method":"energy","threshold":1e999}`))
	f.Add([]byte(`[1,2`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Errorf("Parse returned a calibration with error %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid calibration: %v", err)
		}
		// Whatever Parse accepts must survive a write and re-parse
		// unchanged.
		first, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of parsed calibration: %v", err)
		}
		again, err := Parse(first)
		if err != nil {
			t.Fatalf("Parse of re-encoded calibration: %v\n%s", err, first)
		}
		second, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Errorf("re-encoding changed the calibration:\n%s\n%s", first, second)
		}
	})
}
