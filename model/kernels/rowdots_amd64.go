package kernels

import "unsafe"

// The assembly (rowdots_amd64.s) covers the first span bytes of every row;
// rowDotsAVX2 adds the tails in Go, in the generic kernel's order.

//go:noescape
func rowDotsF32Asm(dst, q, m *float32, span, stride, rows int)

//go:noescape
func rowDotsI8Asm(dst *int32, q, m *int8, span, stride, rows int)

func rowDotsF32AVX2(dst, q, m []float32) {
	rowDotsAVX2(dst, q, m, 8, rowDotsF32Asm, rowTailF32)
}

// rowDotsI8AVX2 widens the values to int16 and sums pairs of products
// into int32 (VPMADDWD), exactly.
func rowDotsI8AVX2(dst []int32, q, m []int8) {
	rowDotsAVX2(dst, q, m, 16, rowDotsI8Asm, rowTailI8)
}

func rowDotsAVX2[S float32 | int32, E float32 | int8](dst []S, q, m []E, lanes int,
	asm func(dst *S, q, m *E, span, stride, rows int), tail func(sum S, a, b []E) S) {
	k := len(q)
	kv := k - k%lanes
	m = m[:len(dst)*k]
	if len(dst) == 0 {
		return
	}
	if kv == 0 {
		clear(dst)
	} else {
		size := int(unsafe.Sizeof(q[0]))
		asm(&dst[0], &q[0], &m[0], kv*size, k*size, len(dst))
	}
	if kv == k {
		return
	}
	for r := range dst {
		dst[r] = tail(dst[r], q[kv:], m[r*k+kv:r*k+k])
	}
}
