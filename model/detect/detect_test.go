package detect_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/preprocess"
	"github.com/ood-agent/ood-agent/model/zoo"
)

func TestDetectorScoresAndVerdicts(t *testing.T) {
	f, calib, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	d, err := detect.New(f, detect.Options{Calibration: calib})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Labels()) != 10 || d.Temperature() != 1 {
		t.Fatalf("labels %v, temperature %v", d.Labels(), d.Temperature())
	}
	// A white 4×4 checkerboard is far from any garment.
	img := image.NewGray(image.Rect(0, 0, 56, 56))
	for y := 0; y < 56; y++ {
		for x := 0; x < 56; x++ {
			if (x/8+y/8)%2 == 0 {
				img.SetGray(x, y, color.Gray{Y: 255})
			}
		}
	}
	r, err := d.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Calibrated || !r.OOD || r.LabelName == "" {
		t.Errorf("checkerboard: %+v, want a calibrated OOD verdict with a label name", r)
	}
	if got, want := r.IDScore, -r.Energy; got != want {
		t.Errorf("IDScore = %v, want −energy %v", got, want)
	}
	if len(d.Logits()) != 10 {
		t.Errorf("Logits() has %d values", len(d.Logits()))
	}
	allocs := testing.AllocsPerRun(20, func() { d.Image(img) })
	if allocs > 0 {
		t.Errorf("Image allocates %.0f times per frame", allocs)
	}

	// The same frame preprocessed elsewhere gets the same verdict; an
	// input of another shape is refused.
	in := d.Spec().NewTensor()
	if err := preprocess.New(d.Spec()).Image(img, in); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Image(image.NewGray(image.Rect(0, 0, 28, 28))); err != nil { // another frame in between
		t.Fatal(err)
	}
	if got, err := d.Tensor(in); err != nil || !reflect.DeepEqual(got, r) {
		t.Errorf("Tensor = %+v, %v; Image gave %+v", got, err, r)
	}
	other := d.Spec()
	other.Width++
	if _, err := d.Tensor(other.NewTensor()); err == nil {
		t.Error("Tensor accepted an input of another shape")
	}
}

func TestDetectorRejectsForeignCalibration(t *testing.T) {
	f, _, err := zoo.Open("fashion_mnist_cnn")
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := zoo.Open("fashion_mnist_cnn_int8")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := detect.New(f, detect.Options{Calibration: other}); !errors.Is(err, ood.ErrModelMismatch) {
		t.Fatalf("New with another model's calibration = %v, want ErrModelMismatch", err)
	}
}

func TestDetectorPreprocessingFromCalibration(t *testing.T) {
	f, calib, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	if calib.Preprocess == nil {
		t.Fatal("the embedded calibration does not record its preprocessing")
	}

	// A setting that contradicts the calibration is refused, naming both.
	_, err = detect.New(f, detect.Options{Calibration: calib, Preprocess: preprocess.Options{Mean: []float32{0.5}}})
	const want = "preprocess.mean (--mean) = [0.5] but the calibration was made with [0]"
	if !errors.Is(err, ood.ErrPreprocessMismatch) || !strings.Contains(err.Error(), want) {
		t.Fatalf("New with mean 0.5 = %v, want an error containing %q", err, want)
	}

	// What is left unset follows the calibration.
	c := *calib
	rec := *calib.Preprocess
	rec.Crop, rec.Std = "pad", []float64{127.5}
	c.Preprocess = &rec
	d, err := detect.New(f, detect.Options{Calibration: &c})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if s := d.Spec(); s.Crop != preprocess.CropPad || len(s.Std) != 1 || s.Std[0] != 127.5 {
		t.Errorf("spec = %+v, want the calibration's crop pad and std 127.5", s)
	}
	if got := d.Preprocessing(); !reflect.DeepEqual(got, rec) {
		t.Errorf("Preprocessing() = %+v, want the record %+v", got, rec)
	}

	// A calibration from before the record warns and keeps the settings.
	old := *calib
	old.Preprocess = nil
	var logged bytes.Buffer
	d2, err := detect.New(f, detect.Options{Calibration: &old, Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		Preprocess: preprocess.Options{Crop: preprocess.CropStretch}})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if !strings.Contains(logged.String(), "does not record the preprocessing") || d2.Spec().Crop != preprocess.CropStretch {
		t.Errorf("old calibration: crop %s, log %q", d2.Spec().Crop, logged.String())
	}
}

func TestDetectorThresholdOverride(t *testing.T) {
	f, calib, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	verdict := func(override *float64) (detect.Result, ood.Decision) {
		d, err := detect.New(f, detect.Options{Calibration: calib, Threshold: override})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		r, err := d.Image(img)
		if err != nil {
			t.Fatal(err)
		}
		dec, _ := d.Decision()
		return r, dec
	}
	r, _ := verdict(nil)
	// An energy threshold just above the frame's energy keeps it; just
	// below flags it.
	above, below := r.Energy+0.01, r.Energy-0.01
	if r, dec := verdict(&above); r.OOD || dec.Threshold != -above {
		t.Errorf("energy %v with threshold %v: OOD %v, decision %+v", r.Energy, above, r.OOD, dec)
	}
	if r, _ := verdict(&below); !r.OOD {
		t.Errorf("energy %v with threshold %v: not OOD", r.Energy, below)
	}
}

// TestDetectorLogsMetadataWarnings: a model whose labels zip is cut short
// runs, without label names, and the warning reaches the logger.
func TestDetectorLogsMetadataWarnings(t *testing.T) {
	f, _, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := model.OpenBytes("cut.tflite", f.Raw[:len(f.Raw)-1])
	if err != nil {
		t.Fatalf("a model with its zip cut short does not load: %v", err)
	}
	var logged bytes.Buffer
	d, err := detect.New(cut, detect.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Labels() != nil || !strings.Contains(logged.String(), "model metadata: ") || !strings.Contains(logged.String(), "cut short") {
		t.Errorf("labels %q, log %q", d.Labels(), logged.String())
	}
}

func TestDetectorRefusesOtherTemperature(t *testing.T) {
	f, calib, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	_, err = detect.New(f, detect.Options{Calibration: calib, Temperature: 2})
	if want := "temperature (--temperature) = 2 but the calibration was made with 1"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("New at temperature 2 = %v, want %q", err, want)
	}
	d, err := detect.New(f, detect.Options{Calibration: calib, Temperature: 1})
	if err != nil {
		t.Fatalf("New at the calibration's temperature: %v", err)
	}
	d.Close()
}
