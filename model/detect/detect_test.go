package detect_test

import (
	"errors"
	"image"
	"image/color"
	"testing"

	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
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
