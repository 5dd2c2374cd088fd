//go:build amd64 || arm64

package kernels

// The row products' assembly (rowdots_amd64.s, rowdots_arm64.s) covers the
// first span bytes of every row.

//go:noescape
func rowDotsF32Asm(dst, q, m *float32, span, stride, rows int)

//go:noescape
func rowDotsI8Asm(dst *int32, q, m *int8, span, stride, rows int)

//go:noescape
func rowDotsF16Asm(dst, q *float32, m *uint16, span, stride, rows int)
