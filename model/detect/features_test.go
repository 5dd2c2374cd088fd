package detect

import (
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/zoo"
)

// headCase is a model whose last layer is recomputed in Go and compared
// with the interpreter's logits.
type headCase struct {
	name string
	open func(t testing.TB) *model.File
	fill func(d *Detector, rng *rand.Rand) error
}

func zooCase(name string) headCase {
	return headCase{name, func(t testing.TB) *model.File {
		f, _, err := zoo.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}, func(d *Detector, rng *rand.Rand) error {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for i := range img.Pix {
			img.Pix[i] = uint8(rng.IntN(256))
		}
		_, err := d.Image(img)
		return err
	}}
}

func conformanceCase(name string) headCase {
	return headCase{name, func(t testing.TB) *model.File {
		dir := conformance.Dir(".")
		f, err := model.Open(filepath.Join(dir, name, "model.tflite"))
		if err != nil {
			if testingCI() {
				t.Fatal(err)
			}
			t.Skip(err)
		}
		return f
	}, func(d *Detector, rng *rand.Rand) error {
		in := d.it.Input(0).Data
		for i := range in {
			in[i] = uint8(rng.IntN(256))
		}
		_, err := d.run()
		return err
	}}
}

// TestHeadRecomputesLogits checks the feature tap and the dequantized last
// layer: W·features + b equals the interpreter's logits (exactly up to
// float rounding for float models, within one output quantization step for
// quantized ones), and ReAct with a clip nothing reaches equals energy.
func TestHeadRecomputesLogits(t *testing.T) {
	cases := []headCase{
		zooCase("fashion_mnist_cnn"), zooCase("fashion_mnist_cnn_int8"), zooCase("fashion_mnist_cnn_energy_int8"),
		conformanceCase("mobilenet_v2_224_uint8"), conformanceCase("inat_bird_v2_224_uint8"),
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.open(t)
			d, err := New(f, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			info, ok := d.FeatureInfo()
			if !ok {
				t.Fatal("no feature tap")
			}
			head, err := d.Head()
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-4
			if lt := d.logits; lt.Quantized() {
				tol = 1.01 * lt.Scale()
			}
			react, err := ood.NewScorer(ood.MethodReAct, 1, head, &ood.FeatureData{Percentile: 90, Clip: float32(math.MaxFloat32)})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, info.Classes)
			rng := rand.New(rand.NewPCG(1, 2))
			for sample := 0; sample < 3; sample++ {
				if err := tc.fill(d, rng); err != nil {
					t.Fatal(err)
				}
				feats, err := d.Features()
				if err != nil {
					t.Fatal(err)
				}
				if len(feats) != info.Dim {
					t.Fatalf("%d features, want %d", len(feats), info.Dim)
				}
				head.Logits(got, feats)
				worst := 0.0
				for i, want := range d.Logits() {
					worst = max(worst, math.Abs(float64(got[i]-want)))
				}
				if worst > tol {
					t.Errorf("sample %d: recomputed logits differ from the interpreter's by up to %g (tolerance %g)", sample, worst, tol)
				}
				e, _ := ood.Energy(d.Logits(), 1)
				r, err := react.Score(d.Logits(), feats)
				if err != nil {
					t.Fatal(err)
				}
				// Energy moves by at most the largest logit difference.
				if math.Abs(r+e) > tol+1e-4 {
					t.Errorf("sample %d: unclipped ReAct %v, −energy %v", sample, r, -e)
				}
			}
			if allocs := testing.AllocsPerRun(10, func() { d.Features() }); allocs > 0 {
				t.Errorf("Features allocates %.0f times", allocs)
			}
		})
	}
}

func testingCI() bool { return os.Getenv("CI") == "true" }
