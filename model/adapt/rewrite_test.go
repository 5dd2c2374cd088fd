package adapt_test

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/adapt"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/internal/oracle"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/zoo"
)

func openModel(t *testing.T, name string) *model.File {
	t.Helper()
	if f, _, err := zoo.Open(name); err == nil {
		return f
	}
	path := filepath.Join(conformance.Dir("."), name, "model.tflite")
	f, err := model.Open(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return f
}

// TestRewriteRoundTrip replaces the last layer of float, int8 and uint8
// models with a changed one and checks the new file three ways: our
// interpreter computes the new layer, the real TFLite runtime agrees with
// our interpreter, and nothing but the last layer changed.
func TestRewriteRoundTrip(t *testing.T) {
	o := oracle.Require(t)
	for _, name := range []string{"fashion_mnist_cnn", "fashion_mnist_cnn_int8", "mobilenet_v2_224_uint8"} {
		t.Run(name, func(t *testing.T) {
			f := openModel(t, name)
			d, err := detect.New(f, detect.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			feat, _ := d.FeatureInfo()
			head, err := d.Head()
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 8))
			// A changed layer: rows mixed and shifted.
			changed := *head
			changed.W = slices.Clone(head.W)
			changed.B = slices.Clone(head.B)
			for i := range changed.W {
				changed.W[i] = 0.8*changed.W[i] + 0.2*head.W[(i+head.Dim)%len(head.W)]
			}
			for c := range changed.B {
				changed.B[c] += float32(rng.NormFloat64()) * 0.5
			}
			it := newRunner(t, f, feat)
			in := f.Subgraphs[0].Tensors[f.Subgraphs[0].Inputs[0]]
			inputs := make([][]byte, 3)
			var features [][]float32
			for i := range inputs {
				inputs[i] = make([]byte, tensorBytes(in))
				for j := range inputs[i] {
					inputs[i][j] = byte(rng.IntN(256))
				}
				if in.Type == model.Float32 {
					// Pixels in [0, 1], as the preprocessing gives them.
					v := make([]float32, len(inputs[i])/4)
					for j := range v {
						v[j] = rng.Float32()
					}
					inputs[i] = model.Float32Bytes(v)
				}
				fs, _, _ := it.run(t, inputs[i])
				features = append(features, fs)
			}
			raw, err := adapt.Rewrite(f, feat, &changed, adapt.LogitRange(&changed, features))
			if err != nil {
				t.Fatal(err)
			}
			nf, err := model.OpenBytes(name+"-adapted", raw)
			if err != nil {
				t.Fatal(err)
			}
			nfeat, err := nf.FindFeatures()
			if err != nil {
				t.Fatal(err)
			}
			nit := newRunner(t, nf, nfeat)
			newHead, err := detect.LoadHead(nf.Model, nfeat)
			if err != nil {
				t.Fatal(err)
			}
			// The stored layer is the changed one, up to weight quantization.
			worst := 0.0
			for i := range changed.W {
				worst = max(worst, math.Abs(float64(newHead.W[i]-changed.W[i])))
			}
			if worst > 0.01 {
				t.Errorf("stored weights differ from the new layer by up to %g", worst)
			}
			logits := make([]float32, feat.Classes)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for i, input := range inputs {
				fs, gotLogits, ours := nit.run(t, input)
				if !slices.Equal(fs, features[i]) {
					t.Fatal("the backbone's features changed")
				}
				newHead.Logits(logits, fs)
				tol := 1e-4
				if lt := nf.Subgraphs[0].Tensors[feat.Logits].Quant; lt != nil && len(lt.Scale) > 0 {
					tol = 1.01 * float64(lt.Scale[0])
				}
				for c, want := range logits {
					if got := gotLogits[c]; math.Abs(float64(got-want)) > tol {
						t.Fatalf("input %d logit %d: interpreter %v, new layer %v", i, c, got, want)
					}
				}
				outs, _, err := o.Run(ctx, raw, [][]byte{input})
				if err != nil {
					t.Fatal(err)
				}
				out := nf.Subgraphs[0].Tensors[nf.Subgraphs[0].Outputs[0]]
				if err := conformance.Compare(out.Type, ours, outs[0], conformance.Tolerance{QuantizedSteps: 1, FloatRelative: 1e-4, FloatAbsolute: 1e-5}); err != nil {
					t.Errorf("input %d: TFLite and our interpreter disagree on the adapted model: %v", i, err)
				}
			}
			// Nothing but the last layer changed.
			old := f.Subgraphs[0]
			sg := nf.Subgraphs[0]
			if len(sg.Tensors) != len(old.Tensors) || len(sg.Operators) != len(old.Operators) {
				t.Fatal("graph shape changed")
			}
			for i, tt := range sg.Tensors {
				if i == feat.Weights || i == feat.Bias || tt.Buffer == 0 {
					continue
				}
				if !bytes.Equal(nf.Buffers[tt.Buffer], f.Buffers[old.Tensors[i].Buffer]) {
					t.Errorf("tensor %d %q changed", i, tt.Name)
				}
			}
			if f.Metadata != nil && !slices.Equal(nf.Metadata.Labels(), f.Metadata.Labels()) {
				t.Error("labels changed")
			}
		})
	}
}

func tensorBytes(t model.Tensor) int {
	n := t.Type.Size()
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// runner runs a model in our interpreter and reads its features, logits
// and output.
type runner struct {
	it           *interp.Interpreter
	feat, logits int
}

func newRunner(t *testing.T, f *model.File, feat model.Features) *runner {
	it, err := interp.New(f.Model, interp.Options{Preserve: []int{feat.Tensor, feat.Logits}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(it.Close)
	return &runner{it, feat.Tensor, feat.Logits}
}

func (r *runner) run(t *testing.T, input []byte) (features, logits []float32, output []byte) {
	t.Helper()
	copy(r.it.Input(0).Data, input)
	if err := r.it.Invoke(); err != nil {
		t.Fatal(err)
	}
	features, err := r.it.Tensor(r.feat).Dequantize(nil)
	if err != nil {
		t.Fatal(err)
	}
	logits, err = r.it.Tensor(r.logits).Dequantize(nil)
	if err != nil {
		t.Fatal(err)
	}
	return features, logits, slices.Clone(r.it.Output(0).Data)
}
