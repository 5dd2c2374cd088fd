package ood

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func testPreprocessing() *Preprocessing {
	return &Preprocessing{Width: 28, Height: 28, Color: "gray", Mean: []float64{0}, Std: []float64{255}, Crop: "pad", Resize: "bilinear"}
}

func TestPreprocessingResolve(t *testing.T) {
	rec := testPreprocessing()
	tests := []struct {
		name string
		req  Preprocessing
		want []string // the exact error lines; nil means it resolves to rec
	}{
		{"nothing set", Preprocessing{}, nil},
		{"auto colour, same size", Preprocessing{Width: 28, Height: 28, Color: "auto"}, nil},
		{"same values", Preprocessing{Color: "gray", Crop: "pad", Mean: []float64{0, 0, 0}, Std: []float64{255}}, nil},
		{"mean", Preprocessing{Mean: []float64{0.5}}, []string{
			"preprocess.mean (--mean) = [0.5] but the calibration was made with [0]: leave it unset to use the calibration's, or recalibrate",
		}},
		{"every contradiction at once", Preprocessing{Width: 32, Height: 32, Color: "rgb", Crop: "center", Std: []float64{1}}, []string{
			"model input size (--model) = 32×32 but the calibration was made with 28×28: leave it unset to use the calibration's, or recalibrate",
			"preprocess.color (--color) = rgb but the calibration was made with gray: leave it unset to use the calibration's, or recalibrate",
			"preprocess.crop (--crop) = center but the calibration was made with pad: leave it unset to use the calibration's, or recalibrate",
			"preprocess.std (--std) = [1] but the calibration was made with [255]: leave it unset to use the calibration's, or recalibrate",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rec.Resolve(tt.req)
			if tt.want == nil {
				if err != nil || !reflect.DeepEqual(&got, rec) {
					t.Fatalf("Resolve(%+v) = %+v, %v; want the record", tt.req, got, err)
				}
				return
			}
			if !errors.Is(err, ErrPreprocessMismatch) {
				t.Fatalf("Resolve(%+v) error = %v, want ErrPreprocessMismatch", tt.req, err)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resolve(%+v) error lines:\n%q\nwant\n%q", tt.req, got, tt.want)
			}
		})
	}
}

func TestCalibrationPreprocessRoundTrip(t *testing.T) {
	c, err := Calibrate(testSHA, MethodEnergy, 1, 0.95, testScores(50))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings()) != 1 {
		t.Errorf("a calibration without preprocessing: warnings %q, want one", c.Warnings())
	}
	// An old file (no "preprocess") still loads; the field is unknown.
	var b strings.Builder
	if err := c.Write(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "preprocess") {
		t.Fatalf("nil preprocessing was written: %s", b.String())
	}
	old, err := Parse([]byte(b.String()))
	if err != nil || old.Preprocess != nil {
		t.Fatalf("Parse(old file) = %+v, %v", old, err)
	}

	c.Preprocess = testPreprocessing()
	b.Reset()
	if err := c.Write(&b); err != nil {
		t.Fatal(err)
	}
	got, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Preprocess, c.Preprocess) || len(got.Warnings()) != 0 {
		t.Errorf("round trip: %+v, warnings %q", got.Preprocess, got.Warnings())
	}

	bad := []struct {
		edit func(*Preprocessing)
		want string
	}{
		{func(p *Preprocessing) { p.Width = 0 }, "preprocess: input size 0×28"},
		{func(p *Preprocessing) { p.Color = "auto" }, `preprocess: color "auto", want gray or rgb`},
		{func(p *Preprocessing) { p.Crop = "" }, `preprocess: crop "", want center, stretch or pad`},
		{func(p *Preprocessing) { p.Resize = "nearest" }, `preprocess: resize "nearest", want bilinear`},
		{func(p *Preprocessing) { p.Std = []float64{0} }, "preprocess: std [0] must be non-zero"},
		{func(p *Preprocessing) { p.Mean = nil }, "preprocess: mean missing"},
	}
	for _, tt := range bad {
		p := testPreprocessing()
		tt.edit(p)
		c.Preprocess = p
		if err := c.Validate(); err == nil || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("Validate() = %v, want an error ending in %q", err, tt.want)
		}
	}
}
