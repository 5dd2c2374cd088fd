package kernels

import (
	"unsafe"

	"github.com/ood-agent/ood-agent/internal/half"
)

// Row dot products: one vector against every row of a row-major matrix,
// the matrix–vector product that scorers run on each frame (a classifier's
// last layer recomputed on changed features, the cosine similarities of a
// feature vector with a bank of thousands). The matrix is used as stored:
// a bank of several megabytes is read once per frame, so packing it for
// the matrix-product tiles would double its memory for no gain.
//
// The SIMD kernels (AVX2 on amd64, NEON on arm64) are in assembly.
//
// The float sums are bit for bit the same at every level: eight running
// sums, lane j collecting the products of the indices ≡ j (mod 8), are
// added as ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)), then the tail of fewer
// than eight products in order; products and sums are separate roundings
// (no fused multiply-add). The 8-bit sums are exact integers.

// RowDotsF32 returns the float row products at level (LevelAuto: the
// level in use): dst[r] = Σ q[i]·m[r·len(q)+i] for every r < len(dst).
// m must hold len(dst)·len(q) values.
func RowDotsF32(level Level) (func(dst, q, m []float32), error) {
	level, err := ResolveLevel(level)
	if err != nil {
		return nil, err
	}
	if !level.runs(familyRowDots) {
		return rowDotsF32, nil
	}
	return rowDotsF32SIMD, nil
}

// RowDotsI8 returns the exact 8-bit row products at level (LevelAuto: the
// level in use), dst[r] = Σ q[i]·m[r·len(q)+i] for every r < len(dst), or
// nil when the level has no SIMD kernel for them: portable callers do
// better with what they know of their values (model/ood packs four 7-bit
// products into one 64-bit multiply). m must hold len(dst)·len(q) values;
// len(q) must stay below 2¹⁷ so that no sum overflows.
func RowDotsI8(level Level) (func(dst []int32, q, m []int8), error) {
	level, err := ResolveLevel(level)
	if err != nil || !level.runs(familyRowDots) {
		return nil, err
	}
	return rowDotsI8SIMD, nil
}

// RowDotsF16 returns the row products of a float vector with a matrix of
// IEEE half-precision values (their bits, m[r·len(q)+i]) at level
// (LevelAuto: the level in use), each converted exactly to float32 and
// summed in RowDotsF32's order — the results equal RowDotsF32's on the
// converted matrix, which it need not hold in memory — or nil when the
// level has no SIMD kernel for them.
func RowDotsF16(level Level) (func(dst, q []float32, m []uint16), error) {
	level, err := ResolveLevel(level)
	if err != nil || !level.runs(familyRowDots) {
		return nil, err
	}
	return rowDotsF16SIMD, nil
}

// rowDotsF32 is the generic float kernel.
func rowDotsF32(dst, q, m []float32) {
	k := len(q)
	k8 := k &^ 7
	m = m[:len(dst)*k]
	for r := range dst {
		row := m[r*k : r*k+k]
		dst[r] = rowTailF32(laneSumF32(q[:k8], row[:k8]), q[k8:], row[k8:])
	}
}

// laneSumF32 is the eight-lane sum of the products of a and b (len a
// multiple of 8), reduced in the fixed order above.
func laneSumF32(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for i := 0; i+8 <= len(a); i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		// The conversions forbid fusing the multiplies and the adds
		// (Go fuses them on arm64 otherwise).
		s0 += float32(x[0] * y[0])
		s1 += float32(x[1] * y[1])
		s2 += float32(x[2] * y[2])
		s3 += float32(x[3] * y[3])
		s4 += float32(x[4] * y[4])
		s5 += float32(x[5] * y[5])
		s6 += float32(x[6] * y[6])
		s7 += float32(x[7] * y[7])
	}
	return ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))
}

// rowTailF32 adds the products of the tail to sum in order.
func rowTailF32(sum float32, a, b []float32) float32 {
	for i, x := range a {
		sum += float32(x * b[i])
	}
	return sum
}

// rowTailI8 adds the products of a and b to sum.
func rowTailI8(sum int32, a, b []int8) int32 {
	b = b[:len(a)]
	for i, x := range a {
		sum += int32(x) * int32(b[i])
	}
	return sum
}

// rowDotsF32SIMD and rowDotsI8SIMD run the first len(q) rounded down to
// whole vector steps of every row in assembly and add the tails in Go, in
// the generic kernel's order.
func rowDotsF32SIMD(dst, q, m []float32) {
	rowDotsSIMD(dst, q, m, 8, rowDotsF32Asm, rowTailF32)
}

func rowDotsF16SIMD(dst, q []float32, m []uint16) {
	rowDotsSIMD(dst, q, m, 8, rowDotsF16Asm, rowTailF16)
}

// rowTailF16 adds the products of the tail to sum in order.
func rowTailF16(sum float32, a []float32, b []uint16) float32 {
	for i, x := range a {
		sum += float32(x * half.ToFloat32(b[i]))
	}
	return sum
}

// rowDotsI8SIMD: the assembly multiplies the values widened to int16 and
// adds the products into int32, exactly.
func rowDotsI8SIMD(dst []int32, q, m []int8) {
	rowDotsSIMD(dst, q, m, 16, rowDotsI8Asm, rowTailI8)
}

func rowDotsSIMD[S float32 | int32, Q float32 | int8, M float32 | int8 | uint16](dst []S, q []Q, m []M, lanes int,
	asm func(dst *S, q *Q, m *M, span, stride, rows int), tail func(sum S, a []Q, b []M) S) {
	k := len(q)
	kv := k - k%lanes
	m = m[:len(dst)*k]
	if len(dst) == 0 {
		return
	}
	if kv == 0 {
		clear(dst)
	} else {
		// span and stride count the matrix's bytes.
		size := int(unsafe.Sizeof(m[0]))
		asm(&dst[0], &q[0], &m[0], kv*size, k*size, len(dst))
	}
	if kv == k {
		return
	}
	for r := range dst {
		dst[r] = tail(dst[r], q[kv:], m[r*k+kv:r*k+k])
	}
}
