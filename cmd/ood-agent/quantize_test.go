package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/dataset"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/zoo"
)

// runQuantize executes the quantize command with args.
func runQuantize(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newModelQuantizeCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// floatZooModel writes the embedded float Fashion-MNIST model to a file.
func floatZooModel(t *testing.T) (string, *model.File) {
	t.Helper()
	f, _, err := zoo.Open("fashion_mnist_cnn")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "float.tflite")
	if err := os.WriteFile(path, f.Raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, f
}

// writePNGs writes n 40×36 grayscale gradients, a size the preprocessor
// must resize to the model's 28×28 input.
func writePNGs(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for k := 0; k < n; k++ {
		img := image.NewGray(image.Rect(0, 0, 40, 36))
		for y := 0; y < 36; y++ {
			for x := 0; x < 40; x++ {
				img.SetGray(x, y, color.Gray{Y: uint8((x*6 + y*k*3) % 256)})
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "img"+string(rune('a'+k))+".png"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestModelQuantizeWritesInt8Model(t *testing.T) {
	floatPath, f := floatZooModel(t)
	outPath := filepath.Join(t.TempDir(), "int8.tflite")
	stdout, err := runQuantize(t, floatPath,
		"--calibration-data", "noise:uniform:30", "--calibration-data", writePNGs(t, 6),
		"--samples", "24", "--out", outPath)
	if err != nil {
		t.Fatalf("quantize: %v", err)
	}
	for _, want := range []string{"24 images", "8 quantized", "CONV_2D×2", "int8[1 28 28 1]", "size"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary does not mention %q:\n%s", want, stdout)
		}
	}
	q, err := model.Open(outPath)
	if err != nil {
		t.Fatalf("open quantized model: %v", err)
	}
	if q.Input(0).Type != model.Int8 || q.Output(0).Type != model.Int8 {
		t.Errorf("io types = %s, %s, want int8", q.Input(0).Type, q.Output(0).Type)
	}
	for i, tn := range q.Subgraphs[0].Tensors {
		if tn.Type == model.Float32 {
			t.Errorf("tensor %d (%s) is float32", i, tn.Name)
		}
	}
	if q.Metadata == nil || len(q.Metadata.Labels()) != 10 || q.Metadata.Inputs[0].Std[0] != f.Metadata.Inputs[0].Std[0] {
		t.Errorf("quantized metadata = %+v, want the float model's with 10 labels", q.Metadata)
	}
	if len(q.Raw) >= len(f.Raw)/2 {
		t.Errorf("quantized model is %d bytes, float %d; want under half", len(q.Raw), len(f.Raw))
	}
	it, err := interp.New(q.Model, interp.Options{})
	if err != nil {
		t.Fatalf("interp.New(quantized): %v", err)
	}
	defer it.Close()
	if err := it.Invoke(); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
}

// TestModelQuantizeFashionMNIST calibrates on Fashion-MNIST training images
// with float input and output, and checks that the quantized model classifies
// test images as the float model does.
func TestModelQuantizeFashionMNIST(t *testing.T) {
	const dir = "/usr/share/datasets/fashion-mnist"
	train := filepath.Join(dir, "train-images-idx3-ubyte.gz")
	if _, err := os.Stat(train); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Fashion-MNIST required on CI: %v", err)
		}
		t.Skipf("skipping: Fashion-MNIST not installed: %v", err)
	}
	test, err := dataset.ReadIdxImages(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	floatPath, f := floatZooModel(t)
	outPath := filepath.Join(t.TempDir(), "q.tflite")
	if _, err := runQuantize(t, floatPath, "--calibration-data", train, "--samples", "100", "--io", "float32", "--out", outPath); err != nil {
		t.Fatalf("quantize: %v", err)
	}
	q, err := model.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if q.Input(0).Type != model.Float32 || q.Output(0).Type != model.Float32 {
		t.Fatalf("io types = %s, %s, want float32", q.Input(0).Type, q.Output(0).Type)
	}
	fi, err := interp.New(f.Model, interp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fi.Close()
	qi, err := interp.New(q.Model, interp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer qi.Close()
	const n = 300
	agree := 0
	for i := 0; i < n; i++ {
		for k, p := range test.At(i) {
			fi.Input(0).F32()[k] = float32(p) / 255
		}
		copy(qi.Input(0).Data, fi.Input(0).Data)
		if err := fi.Invoke(); err != nil {
			t.Fatal(err)
		}
		if err := qi.Invoke(); err != nil {
			t.Fatal(err)
		}
		if argmaxF32(fi.Output(0).F32()) == argmaxF32(qi.Output(0).F32()) {
			agree++
		}
	}
	if agree < n*97/100 {
		t.Errorf("quantized and float models agree on %d of %d test images, want ≥ 97%%", agree, n)
	}
}

func argmaxF32(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func TestModelQuantizeErrors(t *testing.T) {
	floatPath, _ := floatZooModel(t)
	out := filepath.Join(t.TempDir(), "q.tflite")

	b := model.NewBuilder("div")
	x := b.Tensor("x", model.Float32, []int{1, 28, 28, 1}, nil)
	y := b.Tensor("y", model.Float32, []int{1, 28, 28, 1}, nil)
	b.Op(model.OpDiv, &model.DivOptions{}, []int{x, x}, y)
	raw, err := model.Encode(b.Model([]int{x}, []int{y}))
	if err != nil {
		t.Fatal(err)
	}
	divPath := filepath.Join(t.TempDir(), "div.tflite")
	if err := os.WriteFile(divPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{floatPath, "--calibration-data", "noise:uniform:5"}, "--out"},
		{"no calibration", []string{floatPath, "--out", out}, "--calibration-data"},
		{"bad io", []string{floatPath, "--calibration-data", "noise:uniform:5", "--io", "uint8", "--out", out}, "--io"},
		{"zero samples", []string{floatPath, "--calibration-data", "noise:uniform:5", "--samples", "0", "--out", out}, "--samples"},
		{"missing data", []string{floatPath, "--calibration-data", filepath.Join(t.TempDir(), "nope"), "--out", out}, "nope"},
		{"unsupported op", []string{divPath, "--calibration-data", "noise:uniform:5", "--out", out}, "DIV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runQuantize(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("quantize %v = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed quantize wrote its output file")
	}
}
