package interp

import (
	"bytes"
	"math/rand/v2"
	"os"
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
// lone interpreter's, at every kernel level. -short and emulated runs take
// two models, the full test every conformance model.
func TestPlanSharedConcurrently(t *testing.T) {
	// packs lists models whose convolutions or fully connected layers
	// must leave packed weights in the plan.
	packs := map[string]bool{"mobilenet_v1_025_128_uint8": true, "mnist_cnn_float": true}
	paths, err := filepath.Glob(filepath.Join(conformance.Dir("."), "*", "model.tflite"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no conformance models (%v)", err)
	}
	for _, path := range paths {
		name := filepath.Base(filepath.Dir(path))
		// Under emulation (make test-arm) the two short models are
		// enough: every model at every level would take minutes there.
		if (testing.Short() || os.Getenv("OOD_AGENT_TEST_EMULATOR") != "") && !packs[name] {
			continue
		}
		t.Run(name, func(t *testing.T) {
			m, err := model.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, level := range kernels.Levels() {
				checkSharedPlan(t, m, Options{Threads: 1, Kernels: level}, packs[name])
			}
		})
	}
}

// checkSharedPlan is TestPlanSharedConcurrently for one model and level.
func checkSharedPlan(t *testing.T, m *model.Model, opts Options, mustPack bool) {
	plan, err := NewPlan(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	a := fromPlan(t, plan)
	prepared := plan.shared.Len()
	if mustPack && prepared == 0 {
		t.Fatalf("%v: nothing prepared for sharing", opts.Kernels)
	}
	b := fromPlan(t, plan)
	if got := plan.shared.Len(); got != prepared {
		t.Fatalf("%v: second interpreter prepared %d more objects", opts.Kernels, got-prepared)
	}
	lone, err := New(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer lone.Close()

	// inputs[run][interpreter][input]; Reset before each run makes
	// stateful models comparable run by run.
	const runs = 2
	rng := rand.New(rand.NewPCG(5, 6))
	inputs := make([][2][][]byte, runs)
	for i := range inputs {
		for j := range inputs[i] {
			for _, in := range a.Inputs() {
				inputs[i][j] = append(inputs[i][j], randomBytes(rng, in))
			}
		}
	}
	run := func(it *Interpreter, in [][]byte) ([][]byte, error) {
		it.Reset()
		for k, data := range in {
			copy(it.Input(k).Data, data)
		}
		if err := it.Invoke(); err != nil {
			return nil, err
		}
		var out [][]byte
		for _, o := range it.Outputs() {
			out = append(out, bytes.Clone(o.Data))
		}
		return out, nil
	}
	got := make([][2][][]byte, runs)
	var wg sync.WaitGroup
	for j, it := range []*Interpreter{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range runs {
				out, err := run(it, inputs[i][j])
				if err != nil {
					t.Error(err)
					return
				}
				got[i][j] = out
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range runs {
		for j := range 2 {
			want, err := run(lone, inputs[i][j])
			if err != nil {
				t.Fatal(err)
			}
			for k := range want {
				if !bytes.Equal(got[i][j][k], want[k]) {
					t.Errorf("%v: output %d of run %d of interpreter %d differs from a lone interpreter's", opts.Kernels, k, i, j)
				}
			}
		}
	}
}

// fromPlan is NewFromPlan for tests, closed when the test ends.
func fromPlan(t *testing.T, plan *Plan) *Interpreter {
	t.Helper()
	it, err := NewFromPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(it.Close)
	return it
}

// randomBytes returns random contents for t: bytes, booleans, or floats
// in [0, 1).
func randomBytes(rng *rand.Rand, t *kernels.Tensor) []byte {
	switch t.Type {
	case model.Bool:
		b := make([]byte, len(t.Data))
		for i := range b {
			b[i] = byte(rng.IntN(2))
		}
		return b
	case model.Float32:
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
	a := fromPlan(t, plan)
	b := fromPlan(t, plan)
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
		for i, it := range []*Interpreter{fromPlan(t, plan), fromPlan(t, plan)} {
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
