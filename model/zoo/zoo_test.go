package zoo_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/internal/oracle"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/zoo"
)

func TestEmbeddedModelsAndCalibrations(t *testing.T) {
	want := []string{"fashion_mnist_cnn", "fashion_mnist_cnn_energy", "fashion_mnist_cnn_energy_int8", "fashion_mnist_cnn_int8"}
	names := zoo.Names()
	if len(names) != len(want) {
		t.Fatalf("Names() = %v, want %v", names, want)
	}
	for i, name := range names {
		if name != want[i] {
			t.Fatalf("Names() = %v, want %v", names, want)
		}
		f, c, err := zoo.Open(name)
		if err != nil {
			t.Fatalf("Open(%s): %v", name, err)
		}
		if c.AchievedTPR < 0.95 || c.N != 5000 {
			t.Errorf("%s calibration: achieved TPR %.4f on %d samples", name, c.AchievedTPR, c.N)
		}
		if f.Metadata == nil || len(f.Metadata.Labels()) != 10 || f.Metadata.Inputs[0].ColorSpace != "grayscale" {
			t.Errorf("%s metadata = %+v", name, f.Metadata)
		}
	}
	if _, _, err := zoo.Open("nope"); err == nil {
		t.Error("Open of an unknown model succeeded")
	}
}

// TestEmbeddedModelsMatchTFLite runs every committed model in the real
// TensorFlow Lite runtime and in the project's interpreter on the same
// random inputs.
func TestEmbeddedModelsMatchTFLite(t *testing.T) {
	o := oracle.Require(t)
	for _, name := range zoo.Names() {
		t.Run(name, func(t *testing.T) {
			f, _, err := zoo.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			it, err := interp.New(f.Model, interp.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			rng := rand.New(rand.NewPCG(3, 4))
			for sample := 0; sample < 5; sample++ {
				in := it.Input(0)
				if in.Type == model.Float32 {
					for i := range in.F32() {
						in.F32()[i] = rng.Float32()
					}
				} else {
					for i := range in.Data {
						in.Data[i] = byte(rng.IntN(256))
					}
				}
				want, _, err := o.Run(context.Background(), f.Raw, [][]byte{in.Data})
				if err != nil {
					t.Fatalf("TFLite runtime: %v", err)
				}
				if err := it.Invoke(); err != nil {
					t.Fatal(err)
				}
				out := it.Output(0)
				tol := conformance.Tolerance{QuantizedSteps: 1, FloatAbsolute: 1e-5, FloatRelative: 1e-4}
				if err := conformance.Compare(out.Type, out.Data, want[0], tol); err != nil {
					t.Errorf("sample %d: %v", sample, err)
				}
			}
		})
	}
}
