package kernels

// Assembly in gemm_q8_amd64.s.

//go:noescape
func q8GemmAVX2(a, w *int16, kp, nb int, cc *int32, scale *float32, rq *q8Requant, out *byte, stride int)

//go:noescape
func q8GemmSumsAVX2(a, w *int16, kp, nb int, sums *int32)

//go:noescape
func q8WidenU8AVX2(dst *int16, src *byte, n int)

//go:noescape
func q8WidenI8AVX2(dst *int16, src *byte, n int)

// q8WideTile runs nb channel blocks of one tile with the runtime
// rounding, writing four bytes per row and block.
func q8WideTile(a, w []int16, kp, nb int, cc []int32, scale []float32, rq *q8Requant, out []byte, stride int) {
	q8GemmAVX2(&a[0], &w[0], kp, nb, &cc[0], &scale[0], rq, &out[0], stride)
}

// q8WideSums runs nb channel blocks of one tile, writing their int32 sums
// as [block][4 rows][4 channels].
func q8WideSums(a, w []int16, kp, nb int, sums []int32) {
	q8GemmSumsAVX2(&a[0], &w[0], kp, nb, &sums[0])
}

// q8Widen converts the first n&^15 values of src to int16 and returns how
// many it converted.
func q8Widen(dst []int16, src []byte, signed bool) int {
	n := min(len(src), len(dst)) &^ 15
	if n == 0 {
		return 0
	}
	if signed {
		q8WidenI8AVX2(&dst[0], &src[0], n)
	} else {
		q8WidenU8AVX2(&dst[0], &src[0], n)
	}
	return n
}

// No dot-product level exists on amd64 (VNNI is not implemented).
func q8WideDot(a, w []byte, kp, nb int, sums []int32, signed bool) {
	panic("kernels: no dot-product kernel on amd64")
}

// q8RequantRow leaves the requantization of sums to scalar code here (the
// AVX2 product requantizes in its own kernel).
func q8RequantRow(sums, cc []int32, scale []float32, rq *q8Requant, rt int32, out []byte) int {
	return 0
}
