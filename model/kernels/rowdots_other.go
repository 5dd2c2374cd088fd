//go:build !amd64 && !arm64

package kernels

// No SIMD row products here: the only level is generic, and RowDotsF32 and
// RowDotsI8 never choose these.
func rowDotsF32Asm(dst, q, m *float32, span, stride, rows int) {
	panic("kernels: no SIMD row products on this architecture")
}

func rowDotsI8Asm(dst *int32, q, m *int8, span, stride, rows int) {
	panic("kernels: no SIMD row products on this architecture")
}

func rowDotsF16Asm(dst, q *float32, m *uint16, span, stride, rows int) {
	panic("kernels: no SIMD row products on this architecture")
}
