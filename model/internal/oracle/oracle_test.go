package oracle

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// helloWorld returns the float sine model, one of its inputs and the output
// the runtime is expected to produce for it.
func helloWorld(t testing.TB) (model, input, want []byte) {
	t.Helper()
	dir := filepath.Join(conformanceDir(t), "hello_world_float")
	c := loadCase(t, dir)
	s := c.Samples[0]
	files := readFiles(t, dir, []string{c.Model, s.Inputs[0], s.Expected[0]})
	return files[0], files[1], files[2]
}

func TestRunRejects(t *testing.T) {
	model, input, want := helloWorld(t)
	o := Require(t)
	tests := []struct {
		name    string
		model   []byte
		inputs  [][]byte
		wantErr string
	}{
		{name: "garbage model", model: []byte("not a flatbuffer at all"), inputs: [][]byte{input}, wantErr: "create interpreter"},
		{name: "empty model", model: nil, inputs: nil, wantErr: "create interpreter"},
		{name: "truncated model", model: model[:len(model)/2], inputs: [][]byte{input}, wantErr: "create interpreter"},
		{name: "missing input", model: model, inputs: nil, wantErr: "model has 1 inputs, request gives 0"},
		{name: "extra input", model: model, inputs: [][]byte{input, input}, wantErr: "model has 1 inputs, request gives 2"},
		{name: "short input", model: model, inputs: [][]byte{input[:2]}, wantErr: "wants 4 bytes, got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := o.Run(testContext(t), tt.model, tt.inputs)
			if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Run(%s) error = %v, want %v containing %q", tt.name, err, ErrRejected, tt.wantErr)
			}
		})
	}
	// A rejected request must leave the server able to serve the next one.
	got, _, err := o.Run(testContext(t), model, [][]byte{input})
	if err != nil {
		t.Fatalf("Run() after rejections error: %v", err)
	}
	if len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Errorf("Run() after rejections = %x, want [%x]", got, want)
	}
}

func TestRunAbandoned(t *testing.T) {
	model, input, want := helloWorld(t)
	o := Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := o.Run(ctx, model, [][]byte{input}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run(canceled) error = %v, want %v", err, context.Canceled)
	}
	// The abandoned request's late answer must not be taken for this one's.
	for i := range 3 {
		got, _, err := o.Run(testContext(t), model, [][]byte{input})
		if err != nil {
			t.Fatalf("Run() #%d after cancel error: %v", i, err)
		}
		if len(got) != 1 || !bytes.Equal(got[0], want) {
			t.Errorf("Run() #%d after cancel = %x, want [%x]", i, got, want)
		}
	}
}

func TestInspect(t *testing.T) {
	root := conformanceDir(t)
	o := Require(t)
	for _, name := range []string{"conformer_float", "mobilenet_v1_025_128_uint8"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(root, name)
			c := loadCase(t, dir)
			model := readFiles(t, dir, []string{c.Model})[0]
			info, err := o.Inspect(testContext(t), model)
			if err != nil {
				t.Fatalf("Inspect(%s) error: %v", name, err)
			}
			if got := describe(info.Inputs); !equalTensors(got, c.Inputs) {
				t.Errorf("Inspect(%s).Inputs = %+v, want %+v", name, got, c.Inputs)
			}
			if got := describe(info.Outputs); !equalTensors(got, c.Outputs) {
				t.Errorf("Inspect(%s).Outputs = %+v, want %+v", name, got, c.Outputs)
			}
			for _, s := range c.Samples {
				for i, in := range readFiles(t, dir, s.Inputs) {
					if got := info.Inputs[i].Bytes; got != len(in) {
						t.Errorf("Inspect(%s).Inputs[%d].Bytes = %d, want %d (size of %s)", name, i, got, len(in), s.Inputs[i])
					}
				}
			}
		})
	}
}

func TestClosed(t *testing.T) {
	model, input, _ := helloWorld(t)
	o := Require(t)
	if err := o.Close(); err != nil {
		t.Fatalf("Close() error: %v", err)
	}
	if _, _, err := o.Run(testContext(t), model, [][]byte{input}); !errors.Is(err, ErrClosed) {
		t.Errorf("Run() after Close error = %v, want %v", err, ErrClosed)
	}
	if _, err := o.Inspect(testContext(t), model); !errors.Is(err, ErrClosed) {
		t.Errorf("Inspect() after Close error = %v, want %v", err, ErrClosed)
	}
	if _, err := os.Stat(o.tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%s) after Close error = %v, want %v", o.tmp, err, os.ErrNotExist)
	}
}

func TestStartVariant(t *testing.T) {
	model, input, want := helloWorld(t)
	if err := Available(); err != nil {
		Require(t) // skips or fails as the environment demands
	}
	for _, v := range []Variant{VariantSIMD, VariantPlain} {
		t.Run(string(v), func(t *testing.T) {
			o, err := StartVariant(testContext(t), v)
			if err != nil {
				t.Fatalf("StartVariant(%s) error: %v", v, err)
			}
			defer o.Close()
			if o.Variant() != v {
				t.Errorf("StartVariant(%s).Variant() = %s, want %s", v, o.Variant(), v)
			}
			if o.Version() != "0.0.1-alpha.10" {
				t.Errorf("StartVariant(%s).Version() = %q, want %q", v, o.Version(), "0.0.1-alpha.10")
			}
			got, _, err := o.Run(testContext(t), model, [][]byte{input})
			if err != nil {
				t.Fatalf("Run() error: %v", err)
			}
			if len(got) != 1 || !bytes.Equal(got[0], want) {
				t.Errorf("Run() = %x, want [%x]", got, want)
			}
		})
	}
	if _, err := StartVariant(testContext(t), "avx512"); err == nil || !strings.Contains(err.Error(), "unknown variant") {
		t.Errorf("StartVariant(avx512) error = %v, want unknown variant", err)
	}
}

func TestBench(t *testing.T) {
	dir := filepath.Join(conformanceDir(t), "hello_world_float")
	if err := Available(); err != nil {
		Require(t)
	}
	const iterations = 20
	res, err := Bench(testContext(t), filepath.Join(dir, "model.tflite"), iterations)
	if err != nil {
		t.Fatalf("Bench() error: %v", err)
	}
	if res.Iterations != iterations || res.Threads != 1 || res.MedianMS <= 0 || res.P90MS < res.MedianMS || res.MinMS > res.MedianMS {
		t.Errorf("Bench() = %+v, want %d single-threaded iterations with min <= median <= p90", res, iterations)
	}
	if res.Variant != VariantSIMD && res.Variant != VariantPlain {
		t.Errorf("Bench().Variant = %q, want %q or %q", res.Variant, VariantSIMD, VariantPlain)
	}
	if _, err := Bench(testContext(t), filepath.Join(dir, "case.json"), 1); !errors.Is(err, ErrRejected) {
		t.Errorf("Bench(case.json) error = %v, want %v", err, ErrRejected)
	}
	if _, err := Bench(testContext(t), filepath.Join(dir, "model.tflite"), 0); err == nil {
		t.Errorf("Bench(iterations=0) error = nil, want an error")
	}
}

func TestAvailableMissing(t *testing.T) {
	t.Setenv(oracleDirEnv, t.TempDir())
	if err := Available(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Available() with empty %s = %v, want %v", oracleDirEnv, err, ErrUnavailable)
	}
	if _, err := Start(testContext(t)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Start() with empty %s = %v, want %v", oracleDirEnv, err, ErrUnavailable)
	}
}

func TestDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv(oracleDirEnv, tmp)
	if got, err := Dir(); err != nil || got != tmp {
		t.Errorf("Dir() with %s=%s = %q, %v, want %q", oracleDirEnv, tmp, got, err, tmp)
	}
	t.Setenv(oracleDirEnv, "")
	got, err := Dir()
	if err != nil {
		t.Fatalf("Dir() error: %v", err)
	}
	if _, err := os.Stat(filepath.Join(got, "oracle.mjs")); err != nil {
		t.Errorf("Dir() = %q, which lacks oracle.mjs: %v", got, err)
	}
}

func equalTensors(a, b []caseTensor) bool {
	return slices.EqualFunc(a, b, func(x, y caseTensor) bool {
		return x.Name == y.Name && x.DType == y.DType && slices.Equal(x.Shape, y.Shape)
	})
}

func BenchmarkRun(b *testing.B) {
	model, input, _ := helloWorld(b)
	o := Require(b)
	ctx := testContext(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := o.Run(ctx, model, [][]byte{input}); err != nil {
			b.Fatal(err)
		}
	}
}
