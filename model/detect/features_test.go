package detect

import (
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/kernels"
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
				// The logits tensor itself: on quantized models the
				// detector's logits are the recomputed ones.
				tensorLogits, err := d.logits.Dequantize(nil)
				if err != nil {
					t.Fatal(err)
				}
				if d.headLogits != d.logits.Quantized() {
					t.Errorf("logits from the head: %v, quantized logits tensor: %v", d.headLogits, d.logits.Quantized())
				}
				if d.headLogits && !slices.Equal(got, d.Logits()) {
					t.Errorf("sample %d: the detector's logits are not its head's", sample)
				}
				worst := 0.0
				for i, want := range tensorLogits {
					worst = max(worst, math.Abs(float64(got[i]-want)))
				}
				if worst > tol {
					t.Errorf("sample %d: recomputed logits differ from the interpreter's by up to %g (tolerance %g)", sample, worst, tol)
				}
				e, _ := ood.Energy(tensorLogits, 1)
				r, err := react.Score(tensorLogits, feats)
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

// TestScorersOnKernels checks the scorers on the kernels' row products
// against portable Go, at every level: the int8 bank's similarities are
// exact integers either way, so knn and support scores are equal; the float
// products (float16 banks, the last layer of react and ash) differ only in
// the order of their sums.
func TestScorersOnKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, dim := range []int{37, 1280} {
		const classes = 11
		randVec := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = max(0, float32(rng.NormFloat64()))
			}
			return v
		}
		var fit [][]float32
		for range 200 {
			fit = append(fit, randVec(dim))
		}
		w, b := randVec(classes*dim), randVec(classes)
		for i := range w {
			w[i] -= 0.5
		}
		var cases []struct {
			m    ood.Method
			data *ood.FeatureData
		}
		for _, m := range []ood.Method{ood.MethodReAct, ood.MethodASH, ood.MethodKNN, ood.MethodSupport} {
			for _, storage := range []ood.Storage{ood.StorageInt8, ood.StorageFloat16} {
				data, err := ood.Fit(m, fit, ood.FitOptions{Storage: storage, K: 5})
				if err != nil {
					t.Fatal(err)
				}
				cases = append(cases, struct {
					m    ood.Method
					data *ood.FeatureData
				}{m, data})
			}
		}
		for _, level := range kernels.Levels() {
			dots, err := rowDots(level)
			if err != nil {
				t.Fatal(err)
			}
			// Support's fit searches the bank for each of its vectors.
			for _, c := range cases {
				if c.m != ood.MethodSupport {
					continue
				}
				fast, err := ood.Fit(c.m, fit, ood.FitOptions{Storage: c.data.Bank.Storage, K: 5, Dots: dots})
				if err != nil {
					t.Fatal(err)
				}
				exact := c.data.Bank.Storage == ood.StorageInt8
				if d := math.Abs(float64(fast.Radius - c.data.Radius)); exact && d != 0 || d > 1e-5 {
					t.Errorf("dim %d, %s, %s bank: support radius %v on the kernels, %v in portable Go", dim, level, c.data.Bank.Storage, fast.Radius, c.data.Radius)
				}
			}
			for _, c := range cases {
				lo, hi := ood.Unbounded()
				portable, _ := ood.NewHead(w, b, classes, dim, lo, hi)
				fast, _ := ood.NewHead(w, b, classes, dim, lo, hi)
				fast.Dots = dots
				want, err := ood.NewScorer(c.m, 1, portable, c.data)
				if err != nil {
					t.Fatal(err)
				}
				got, err := ood.NewScorer(c.m, 1, fast, c.data)
				if err != nil {
					t.Fatal(err)
				}
				exact := c.data.Bank != nil && c.data.Bank.Storage == ood.StorageInt8
				for range 20 {
					q := randVec(dim)
					sw, err1 := want.Score(nil, q)
					sg, err2 := got.Score(nil, q)
					if err1 != nil || err2 != nil {
						t.Fatal(err1, err2)
					}
					if exact && sg != sw || math.Abs(sg-sw) > 1e-4*(1+math.Abs(sw)) {
						t.Fatalf("dim %d, %s, %s: %v on the kernels, %v in portable Go", dim, level, c.m, sg, sw)
					}
				}
			}
		}
	}
}

// TestLogitsSource checks where the logits come from: the recomputed last
// layer for models with a quantized logits tensor unless a calibration
// records the tensor, and what a calibration made by the detector records.
func TestLogitsSource(t *testing.T) {
	for _, tc := range []struct {
		model string
		want  string // without a calibration
	}{
		{"fashion_mnist_cnn", ood.LogitsModel},
		{"fashion_mnist_cnn_int8", ood.LogitsHead},
	} {
		f := zooCase(tc.model).open(t)
		if got := LogitsSource(f); got != tc.want {
			t.Errorf("%s: LogitsSource %q, want %q", tc.model, got, tc.want)
		}
		d, err := New(f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := d.Calibrate(ood.MethodMaxLogit, 0.95, []float64{1, 2, 3, 4})
		d.Close()
		if err != nil {
			t.Fatal(err)
		}
		if c.Logits != tc.want {
			t.Errorf("%s: calibration records logits %q, want %q", tc.model, c.Logits, tc.want)
		}
		for _, src := range []string{ood.LogitsModel, ood.LogitsHead} {
			c.Logits = src
			d, err := New(f, Options{Calibration: c})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.LogitsSource(); got != src {
				t.Errorf("%s: calibration with logits %q, detector takes them from %q", tc.model, src, got)
			}
			d.Close()
		}
	}
	// A quantized model whose last layer is not found keeps its tensor.
	f := conformanceCase("dwconv_int8_bitexact").open(t)
	if _, err := f.FindFeatures(); err == nil {
		t.Fatal("the test needs a model without a recognizable last layer")
	}
	if got := LogitsSource(f); got != ood.LogitsModel {
		t.Errorf("without a last layer: LogitsSource %q", got)
	}
}
