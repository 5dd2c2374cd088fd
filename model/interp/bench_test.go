package interp_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/internal/oracle"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/kernels"
)

// BenchmarkConformanceModels times Invoke on every conformance model with
// random inputs, single-threaded and with two threads. Each result also
// carries the real TFLite runtime's median time for the same model, measured
// in the same run (WebAssembly with SIMD and XNNPACK, one thread), and the
// ratio Go/TFLite — the README's speed table comes from here. The kernel
// level (OOD_AGENT_KERNELS, or the best the machine runs) is part of each
// result's name.
func BenchmarkConformanceModels(b *testing.B) {
	paths, _ := filepath.Glob(filepath.Join(conformance.Dir("."), "*", "model.tflite"))
	if len(paths) == 0 {
		b.Skip("no conformance models")
	}
	level, err := kernels.ResolveLevel(kernels.LevelAuto)
	if err != nil {
		b.Fatal(err)
	}
	haveOracle := oracle.Available() == nil
	for _, path := range paths {
		name := filepath.Base(filepath.Dir(path))
		m, err := model.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		var tfliteMS float64
		if haveOracle && os.Getenv("OOD_BENCH_NO_TFLITE") == "" {
			if r, err := oracle.Bench(context.Background(), path, 200); err == nil {
				tfliteMS = r.MedianMS
			}
		}
		for _, threads := range []int{1, 2} {
			b.Run(name+"/"+level.String()+"/threads="+string(rune('0'+threads)), func(b *testing.B) {
				it, err := interp.New(m, interp.Options{Threads: threads, Kernels: level})
				if err != nil {
					b.Fatal(err)
				}
				defer it.Close()
				rng := rand.New(rand.NewPCG(1, 2))
				for _, in := range it.Inputs() {
					for i := range in.Data {
						in.Data[i] = byte(rng.IntN(256))
					}
					if in.Type == model.Float32 {
						for i := range in.F32() {
							in.F32()[i] = rng.Float32()
						}
					}
					if in.Type == model.Bool {
						for i := range in.Data {
							in.Data[i] &= 1
						}
					}
				}
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
				if tfliteMS > 0 {
					goMS := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / 1e6
					b.ReportMetric(tfliteMS, "tflite-ms")
					b.ReportMetric(goMS/tfliteMS, "x-tflite")
				}
			})
		}
	}
}
