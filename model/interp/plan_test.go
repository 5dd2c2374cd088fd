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
				plan := NewPlan(m, opts)
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
