package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 3, 4, 5, 8, 17, 128} {
		a, b := make([]float32, n), make([]float32, n+3)
		var want float64
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			want += float64(a[i]) * float64(b[i])
		}
		if got := Dot(a, b); math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
			t.Errorf("n=%d: Dot = %v, want %v", n, got, want)
		}
	}
	if got := Dot([]float32{1, 2, 3, 4, 5}, []float32{1, 1, 1, 1, 2}); got != 20 {
		t.Errorf("Dot = %v, want 20", got)
	}
}

func BenchmarkDot(b *testing.B) {
	x, y := make([]float32, 1280), make([]float32, 1280)
	for i := range x {
		x[i], y[i] = float32(i%7), float32(i%5)
	}
	for b.Loop() {
		_ = Dot(x, y)
	}
}
