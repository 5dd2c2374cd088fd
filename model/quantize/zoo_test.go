package quantize_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/dataset"
	"github.com/ood-agent/ood-agent/model/internal/oracle"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/quantize"
	"github.com/ood-agent/ood-agent/model/zoo"
)

const fashionDir = "/usr/share/datasets/fashion-mnist"

// fashion reads a Fashion-MNIST file, skipping the test when the data set
// is not installed (failing on CI, which must have it).
func fashion(t testing.TB) (train, test *dataset.Images, labels []uint8) {
	t.Helper()
	path := func(name string) string { return filepath.Join(fashionDir, name) }
	if _, err := os.Stat(path("train-images-idx3-ubyte.gz")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Fashion-MNIST required on CI: %v", err)
		}
		t.Skipf("skipping: Fashion-MNIST not installed: %v", err)
	}
	var err error
	if train, err = dataset.ReadIdxImages(path("train-images-idx3-ubyte.gz")); err != nil {
		t.Fatal(err)
	}
	if test, err = dataset.ReadIdxImages(path("t10k-images-idx3-ubyte.gz")); err != nil {
		t.Fatal(err)
	}
	if labels, err = dataset.ReadIdxLabels(path("t10k-labels-idx1-ubyte.gz")); err != nil {
		t.Fatal(err)
	}
	return train, test, labels
}

// normalized turns an image into the float input the model's metadata
// describes: (pixel − mean) / std.
func normalized(f *model.File, px []uint8) []byte {
	mean, std := float32(0), float32(255)
	if md := f.Metadata; md != nil && len(md.Inputs) > 0 && len(md.Inputs[0].Mean) == 1 && len(md.Inputs[0].Std) == 1 {
		mean, std = md.Inputs[0].Mean[0], md.Inputs[0].Std[0]
	}
	v := make([]float32, len(px))
	for i, p := range px {
		v[i] = (float32(p) - mean) / std
	}
	return model.Float32Bytes(v)
}

func zooCalibration(t testing.TB, f *model.File, train *dataset.Images, n int) [][][]byte {
	t.Helper()
	// Spread the samples over the training set rather than taking its head.
	var samples [][][]byte
	for i := 0; i < n; i++ {
		samples = append(samples, [][]byte{normalized(f, train.At(i*train.N/n))})
	}
	return samples
}

// classifier runs a model repeatedly in one interpreter.
type classifier struct {
	it *interp.Interpreter
}

func newClassifier(t testing.TB, m *model.Model) *classifier {
	t.Helper()
	it, err := interp.New(m, interp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(it.Close)
	return &classifier{it: it}
}

func (c *classifier) run(t testing.TB, in []byte) []byte {
	t.Helper()
	copy(c.it.Input(0).Data, in)
	if err := c.it.Invoke(); err != nil {
		t.Fatal(err)
	}
	return c.it.Output(0).Data
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestQuantizeZooModel quantizes the project's float Fashion-MNIST CNN with
// 200 training images and checks, on 1000 test images, that accuracy stays
// within one point of the float model's, that the real TFLite runtime
// agrees with the interpreter, and that the metadata survives.
func TestQuantizeZooModel(t *testing.T) {
	train, test, labels := fashion(t)
	o := oracle.Require(t)
	f, _, err := zoo.Open("fashion_mnist_cnn")
	if err != nil {
		t.Fatal(err)
	}
	calib := zooCalibration(t, f, train, 200)
	const n = 1000
	floatRun := newClassifier(t, f.Model)
	floatCorrect := 0
	for i := 0; i < n; i++ {
		if argmax(f64s(f32s(floatRun.run(t, normalized(f, test.At(i)))))) == int(labels[i]) {
			floatCorrect++
		}
	}

	for _, io := range []model.TensorType{model.Int8, model.Float32} {
		t.Run(io.String(), func(t *testing.T) {
			qm, err := quantize.Quantize(f.Model, calib, quantize.Options{IOType: io})
			if err != nil {
				t.Fatalf("Quantize: %v", err)
			}
			raw, err := model.EncodeWithFiles(qm, f.Metadata.Files)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			qf, err := model.OpenBytes("quantized", raw)
			if err != nil {
				t.Fatalf("OpenBytes: %v", err)
			}
			if got, want := metadataBytes(qm), metadataBytes(f.Model); !bytes.Equal(got, want) {
				t.Errorf("metadata: %d bytes differ from the float model's %d", len(got), len(want))
			}
			if labels := qf.Metadata.Labels(); len(labels) != 10 {
				t.Errorf("quantized model labels = %v, want 10", labels)
			}
			// The agent reads energy scores from the logits feeding the
			// softmax; they must still be found, now as int8.
			if l, err := qm.FindLogits(); err != nil || !l.ViaSoftmax || qm.Subgraphs[0].Tensors[l.Tensor].Type != model.Int8 {
				t.Errorf("FindLogits() = %+v, %v; want the int8 input of the softmax", l, err)
			}
			if in := qm.Input(0); in.Type != io {
				t.Errorf("input type = %s, want %s", in.Type, io)
			}
			if io == model.Int8 {
				// Calibration images span pixel values 0–255, normalized to
				// [0, 1]: the int8 input must map pixel p to p − 128.
				q := qm.Input(0).Quant
				if math.Abs(float64(q.Scale[0])*255-1) > 1e-5 || q.ZeroPoint[0] != -128 {
					t.Errorf("input quantization = scale %g zero %d, want 1/255 and -128", q.Scale[0], q.ZeroPoint[0])
				}
			}
			if len(raw) > len(f.Raw)/3 {
				t.Errorf("quantized model is %d bytes, want under a third of the float model's %d", len(raw), len(f.Raw))
			}

			qRun := newClassifier(t, qm)
			correct := 0
			for i := 0; i < n; i++ {
				in := normalized(f, test.At(i))
				var probs []float64
				if io == model.Int8 {
					probs = dequantize(qm.Output(0), qRun.run(t, quantizeInput(qm.Input(0), f32s(in))))
				} else {
					probs = f64s(f32s(qRun.run(t, in)))
				}
				if argmax(probs) == int(labels[i]) {
					correct++
				}
				if i%10 == 0 {
					input := in
					if io == model.Int8 {
						input = quantizeInput(qm.Input(0), f32s(in))
					}
					agreeWithOracle(t, o, qm, raw, [][]byte{input})
				}
			}
			fa, qa := 100*float64(floatCorrect)/n, 100*float64(correct)/n
			t.Logf("accuracy on %d test images: float %.1f%%, quantized %.1f%%", n, fa, qa)
			if qa < fa-1 {
				t.Errorf("int8 accuracy %.1f%%, want within 1 point of the float model's %.1f%%", qa, fa)
			}
		})
	}
}

func metadataBytes(m *model.Model) []byte {
	for _, e := range m.Metadata {
		if e.Name == model.MetadataName {
			return m.Buffers[e.Buffer]
		}
	}
	return nil
}

func BenchmarkQuantizeZooModel(b *testing.B) {
	train, _, _ := fashion(b)
	f, _, err := zoo.Open("fashion_mnist_cnn")
	if err != nil {
		b.Fatal(err)
	}
	calib := zooCalibration(b, f, train, 200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := quantize.Quantize(f.Model, calib, quantize.Options{IOType: model.Int8}); err != nil {
			b.Fatal(err)
		}
	}
}
