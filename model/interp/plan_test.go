package interp

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/kernels"
)

// TestPlanSharedConcurrently builds two interpreters from one plan, checks
// that the second reuses the first's prepared weights, runs both at once
// on different inputs (run it with -race) and compares every output with a
// lone interpreter's.
func TestPlanSharedConcurrently(t *testing.T) {
	for _, name := range []string{"mobilenet_v1_025_128_uint8", "mnist_cnn_float"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(conformance.Dir("."), name, "model.tflite")
			m, err := model.Load(path)
			if err != nil {
				t.Skipf("conformance model: %v", err)
			}
			for _, level := range kernels.Levels() {
				opts := Options{Threads: 1, Kernels: level}
				plan, err := NewPlan(m, opts)
				if err != nil {
					t.Fatal(err)
				}
				a, err := NewFromPlan(plan)
				if err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				prepared := plan.shared.Len()
				if prepared == 0 {
					t.Fatalf("%v: nothing prepared for sharing", level)
				}
				b, err := NewFromPlan(plan)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				if got := plan.shared.Len(); got != prepared {
					t.Fatalf("%v: second interpreter prepared %d more objects", level, got-prepared)
				}
				lone, err := New(m, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer lone.Close()

				const runs = 3
				rng := rand.New(rand.NewPCG(5, 6))
				inputs := make([][2][]byte, runs)
				for i := range inputs {
					for j := range inputs[i] {
						inputs[i][j] = randomBytes(rng, a.Input(0))
					}
				}
				got := make([][2][]byte, runs)
				var wg sync.WaitGroup
				for j, it := range []*Interpreter{a, b} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range runs {
							copy(it.Input(0).Data, inputs[i][j])
							if err := it.Invoke(); err != nil {
								t.Error(err)
								return
							}
							got[i][j] = bytes.Clone(it.Output(0).Data)
						}
					}()
				}
				wg.Wait()
				for i := range runs {
					for j := range 2 {
						copy(lone.Input(0).Data, inputs[i][j])
						if err := lone.Invoke(); err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got[i][j], lone.Output(0).Data) {
							t.Errorf("%v: run %d of interpreter %d differs from a lone interpreter", level, i, j)
						}
					}
				}
			}
		})
	}
}

// randomBytes returns random contents for t: bytes, or floats in [0, 1).
func randomBytes(rng *rand.Rand, t *kernels.Tensor) []byte {
	if t.Type == model.Float32 {
		v := make([]float32, len(t.Data)/4)
		for i := range v {
			v[i] = rng.Float32()
		}
		return model.Float32Bytes(v)
	}
	b := make([]byte, len(t.Data))
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// TestPlanSharesConstants checks that interpreters of one plan read the
// same constant memory (no per-interpreter copy of the weights) and have
// arenas of their own.
func TestPlanSharesConstants(t *testing.T) {
	m, err := model.Load(filepath.Join(conformance.Dir("."), "mobilenet_v1_025_128_uint8", "model.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(m, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewFromPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewFromPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	consts := 0
	for i := range a.NumTensors() {
		ta, tb := a.Tensor(i), b.Tensor(i)
		if len(ta.Data) == 0 {
			continue
		}
		same := &ta.Data[0] == &tb.Data[0]
		if ta.Const {
			consts++
			if !same {
				t.Errorf("constant %d (%s): each interpreter has its own copy", i, ta.Name)
			}
		} else if same {
			t.Errorf("tensor %d (%s): two interpreters write the same memory", i, ta.Name)
		}
	}
	if consts == 0 {
		t.Fatal("no constant tensors found")
	}
	if a.ArenaBytes() != b.ArenaBytes() || a.ArenaBytes() == 0 {
		t.Errorf("arenas of %d and %d bytes, want the plan's size twice", a.ArenaBytes(), b.ArenaBytes())
	}
}

// TestPlanInvokeAllocatesNothing checks that interpreters sharing a plan
// still run without heap allocation, on one thread and on two.
func TestPlanInvokeAllocatesNothing(t *testing.T) {
	m, err := model.Load(filepath.Join(conformance.Dir("."), "mobilenet_v1_025_128_uint8", "model.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		plan, err := NewPlan(m, Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		its := make([]*Interpreter, 2)
		for i := range its {
			if its[i], err = NewFromPlan(plan); err != nil {
				t.Fatal(err)
			}
			defer its[i].Close()
		}
		for i, it := range its {
			if allocs := testing.AllocsPerRun(5, func() {
				if err := it.Invoke(); err != nil {
					t.Fatal(err)
				}
			}); allocs != 0 {
				t.Errorf("threads=%d: interpreter %d of the plan allocates %v times per Invoke", threads, i, allocs)
			}
		}
	}
}

// BenchmarkSecondInterpreter measures what one more interpreter of a
// plan costs against a fresh one, for the 224×224 MobileNetV2: memory
// allocated (B/op) and time to build, next to the size of the weights and
// of one arena.
func BenchmarkSecondInterpreter(b *testing.B) {
	path := filepath.Join(conformance.Dir("."), "mobilenet_v2_224_uint8", "model.tflite")
	m, err := model.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	var fileBytes float64
	for _, buf := range m.Buffers {
		fileBytes += float64(len(buf))
	}
	opts := Options{Threads: 1}
	plan, err := NewPlan(m, opts)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		build func() (*Interpreter, error)
	}{
		{"from-plan", func() (*Interpreter, error) { return NewFromPlan(plan) }},
		{"new", func() (*Interpreter, error) { return New(m, opts) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				it, err := tc.build()
				if err != nil {
					b.Fatal(err)
				}
				it.Close()
			}
			// After the loop: b.Loop's first call resets reported metrics.
			b.ReportMetric(fileBytes/1e6, "weights-MB")
			b.ReportMetric(float64(plan.arenaSize)/1e6, "arena-MB")
		})
	}
}
