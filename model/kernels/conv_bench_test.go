package kernels_test

import (
	"os"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/interp"
)

// convBenchModel loads a conformance case's model and first sample input;
// a missing case fails under CI=true and skips elsewhere.
func convBenchModel(b *testing.B, name string) (*model.Model, []byte) {
	b.Helper()
	cases, err := conformance.Load(conformance.Dir("."))
	if err == nil {
		for _, c := range cases {
			if c.Name != name {
				continue
			}
			m, err := model.Load(c.ModelPath())
			if err != nil {
				b.Fatalf("load %s: %v", name, err)
			}
			input, err := c.ReadFile(c.Samples[0].Inputs[0])
			if err != nil {
				b.Fatal(err)
			}
			return m, input
		}
		err = os.ErrNotExist
	}
	if os.Getenv("CI") == "true" {
		b.Fatalf("conformance case %s: %v", name, err)
	}
	b.Skipf("conformance case %s not available (%v); set %s", name, err, conformance.EnvDir)
	return nil, nil
}

// BenchmarkMobilenetV1Uint8 runs the whole mobilenet_v1_0.25_128 uint8
// model, the product's reference camera workload.
func BenchmarkMobilenetV1Uint8(b *testing.B) {
	convBenchInvoke(b, "mobilenet_v1_025_128_uint8", 1)
}

// BenchmarkMobilenetV1Uint8Threads2 runs it on two goroutines.
func BenchmarkMobilenetV1Uint8Threads2(b *testing.B) {
	convBenchInvoke(b, "mobilenet_v1_025_128_uint8", 2)
}

// BenchmarkPersonDetectInt8 runs the int8 person detection model.
func BenchmarkPersonDetectInt8(b *testing.B) {
	convBenchInvoke(b, "person_detect_int8", 1)
}

func convBenchInvoke(b *testing.B, name string, threads int) {
	m, input := convBenchModel(b, name)
	it, err := interp.New(m, interp.Options{Threads: threads})
	if err != nil {
		b.Fatalf("interp.New: %v", err)
	}
	defer it.Close()
	copy(it.Input(0).Data, input)
	if err := it.Invoke(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := it.Invoke(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/inference")
}
