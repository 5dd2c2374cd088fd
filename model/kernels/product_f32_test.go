package kernels

import (
	"math"
	"slices"
	"testing"
)

func TestProductF32(t *testing.T) {
	r := &shpRand{s: 5}
	for _, shape := range []struct{ m, n, k int }{
		{1, 1, 1}, {3, 5, 7}, {4, 16, 8}, {9, 17, 33}, {13, 64, 20}, {8, 65, 3}, {21, 130, 57}, {6, 200, 40},
	} {
		a := r.floats(shape.m * shape.k)
		b := r.floats(shape.n * shape.k)
		want := make([]float64, shape.m*shape.n)
		for i := range shape.m {
			for j := range shape.n {
				var s float64
				for kk := range shape.k {
					s += float64(a[i*shape.k+kk]) * float64(b[j*shape.k+kk])
				}
				want[i*shape.n+j] = s
			}
		}
		var generic []float32
		for _, level := range Levels() {
			p, err := NewProductF32(level, b, shape.n, shape.k)
			if err != nil {
				t.Fatal(err)
			}
			// Rows split unevenly over two scratches, as two goroutines
			// would.
			out := make([]float32, shape.m*shape.n)
			cut := min(shape.m, 5)
			p.Rows(out, a, 0, cut, p.NewScratch())
			p.Rows(out, a, cut, shape.m, p.NewScratch())
			for i, v := range out {
				if d := math.Abs(float64(v) - want[i]); d > 1e-4*(1+math.Abs(want[i])) {
					t.Fatalf("%v %s: out[%d] = %g, want %g", shape, level, i, v, want[i])
				}
			}
			if generic == nil {
				generic = out
			} else if !slices.Equal(out, generic) {
				t.Errorf("%v: level %s differs from generic", shape, level)
			}
		}
	}
	if _, err := NewProductF32(LevelGeneric, make([]float32, 5), 2, 3); err == nil {
		t.Error("a b shorter than n×k was accepted")
	}
}

// BenchmarkProductF32 is one product of the size of retraining a
// MobileNet last layer: 1,001 classes × 1,280 features by 1,100 samples.
func BenchmarkProductF32(b *testing.B) {
	r := &shpRand{s: 1}
	const m, n, k = 1001, 1100, 1280
	a, w := r.floats(m*k), r.floats(n*k)
	p, err := NewProductF32(LevelAuto, w, n, k)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]float32, m*n)
	s := p.NewScratch()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.Rows(out, a, 0, m, s)
	}
	b.ReportMetric(float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
}
