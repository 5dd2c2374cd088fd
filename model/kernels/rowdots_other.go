//go:build !amd64

package kernels

// No SIMD row products here: RowDotsF32 and RowDotsI8 never return these.
func rowDotsF32AVX2(dst, q, m []float32) {
	panic("kernels: no SIMD float row products on this architecture")
}

func rowDotsI8AVX2(dst []int32, q, m []int8) {
	panic("kernels: no SIMD 8-bit row products on this architecture")
}
