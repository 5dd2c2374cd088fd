package kernels

import (
	"math"
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/internal/half"
)

// rowShapes covers a single row, row counts around the four-row groups,
// and lengths with no SIMD part, no tail, and both.
var rowShapes = []struct{ rows, k int }{
	{1, 1}, {1, 7}, {1, 8}, {3, 9}, {4, 16}, {5, 17}, {7, 31}, {8, 33}, {9, 64}, {13, 100}, {6, 1280},
}

func TestRowDotsF32(t *testing.T) {
	r := &shpRand{s: 3}
	for _, shape := range rowShapes {
		q, m := r.floats(shape.k), r.floats(shape.rows*shape.k)
		var generic []float32
		for _, level := range Levels() {
			dots, err := RowDotsF32(level)
			if err != nil {
				t.Fatal(err)
			}
			// A longer m than needed: only len(dst) rows are read.
			dst := make([]float32, shape.rows)
			dots(dst, q, append(slices.Clone(m), 1e30))
			for i, v := range dst {
				var want float64
				for j := range shape.k {
					want += float64(q[j]) * float64(m[i*shape.k+j])
				}
				if math.Abs(float64(v)-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("%v %s: row %d = %g, want %g", shape, level, i, v, want)
				}
			}
			if generic == nil {
				generic = dst
			} else if !slices.Equal(dst, generic) {
				t.Errorf("%v: level %s differs from generic: %v vs %v", shape, level, dst, generic)
			}
		}
	}
}

// TestRowDotsF16: the half-precision products equal the float ones on the
// converted matrix, to the bit.
func TestRowDotsF16(t *testing.T) {
	r := &shpRand{s: 5}
	for _, shape := range rowShapes {
		q := r.floats(shape.k)
		m := make([]uint16, shape.rows*shape.k)
		converted := make([]float32, len(m))
		for i := range m {
			m[i] = half.FromFloat32(r.float() * 3)
			converted[i] = half.ToFloat32(m[i])
		}
		for _, level := range Levels() {
			dots, err := RowDotsF16(level)
			if err != nil {
				t.Fatal(err)
			}
			if dots == nil {
				if level.runs(familyRowDots) {
					t.Fatalf("no half-precision row products at %s", level)
				}
				continue
			}
			f32, _ := RowDotsF32(level)
			got, want := make([]float32, shape.rows), make([]float32, shape.rows)
			dots(got, q, m)
			f32(want, q, converted)
			if !slices.Equal(got, want) {
				t.Errorf("%v %s: %v, float products on the converted matrix %v", shape, level, got, want)
			}
		}
	}
}

func TestRowDotsI8(t *testing.T) {
	r := &shpRand{s: 4}
	for _, shape := range rowShapes {
		q, m := make([]int8, shape.k), make([]int8, shape.rows*shape.k)
		for i := range q {
			q[i] = int8(r.next())
		}
		for i := range m {
			m[i] = int8(r.next())
		}
		// The extremes, where a 16-bit sum would overflow.
		q[0], m[0] = -128, -128
		for _, level := range Levels() {
			dots, err := RowDotsI8(level)
			if err != nil {
				t.Fatal(err)
			}
			if dots == nil {
				if level.runs(familyRowDots) {
					t.Fatalf("no 8-bit row products at %s", level)
				}
				continue
			}
			dst := make([]int32, shape.rows)
			dots(dst, q, m)
			for i, v := range dst {
				var want int32
				for j := range shape.k {
					want += int32(q[j]) * int32(m[i*shape.k+j])
				}
				if v != want {
					t.Fatalf("%v %s: row %d = %d, want %d", shape, level, i, v, want)
				}
			}
		}
	}
}

// BenchmarkRowDots is a scorer's per-frame products on MobileNetV2: its
// last layer (1,001 classes × 1,280 features, float) and a 5,000-vector
// bank of 1,280 features, int8 or float16.
func BenchmarkRowDots(b *testing.B) {
	r := &shpRand{s: 1}
	const k = 1280
	q, head := r.floats(k), r.floats(1001*k)
	q8, bank := make([]int8, k), make([]int8, 5000*k)
	for i := range bank {
		bank[i] = int8(r.intn(127) - 63)
	}
	for _, level := range Levels() {
		f32, _ := RowDotsF32(level)
		i8, _ := RowDotsI8(level)
		b.Run("head-f32/"+level.String(), func(b *testing.B) {
			dst := make([]float32, 1001)
			for range b.N {
				f32(dst, q, head)
			}
		})
		if f16, _ := RowDotsF16(level); f16 != nil {
			bank16 := make([]uint16, 5000*k)
			for i := range bank16 {
				bank16[i] = half.FromFloat32(r.float())
			}
			b.Run("bank-f16/"+level.String(), func(b *testing.B) {
				dst := make([]float32, 5000)
				for range b.N {
					f16(dst, q, bank16)
				}
			})
		}
		if i8 == nil {
			continue
		}
		b.Run("bank-i8/"+level.String(), func(b *testing.B) {
			dst := make([]int32, 5000)
			for range b.N {
				i8(dst, q8, bank)
			}
		})
	}
}
