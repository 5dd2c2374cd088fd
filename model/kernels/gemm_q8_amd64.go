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

//go:noescape
func q8GemmVNNI(a, w *byte, kp, nb int, rt *[q8MR]int32, cc *int32, scale *float32, rq *q8Requant, out *byte, stride int)

//go:noescape
func q8GemmSumsVNNI(a, w *byte, kp, nb int, sums *int32)

// q8WideDot runs nb channel blocks of one tile of byte rows with VPDPBUSD,
// writing their sums as q8WideSums does. The bytes are already in the
// unsigned × signed form (see q8Wide), so signed is not needed.
func q8WideDot(a, w []byte, kp, nb int, sums []int32, signed bool) {
	q8GemmSumsVNNI(&a[0], &w[0], kp, nb, &sums[0])
}

// q8WideTileDot is q8WideTile for VPDPBUSD: each row's sums start at its
// row term rt.
func q8WideTileDot(a, w []byte, kp, nb int, rt *[q8MR]int32, cc []int32, scale []float32, rq *q8Requant, out []byte, stride int) {
	q8GemmVNNI(&a[0], &w[0], kp, nb, rt, &cc[0], &scale[0], rq, &out[0], stride)
}

// q8RequantRow leaves the requantization of sums to scalar code here (the
// AVX2 product requantizes in its own kernel).
func q8RequantRow(sums, cc []int32, scale []float32, rq *q8Requant, rt int32, out []byte) int {
	return 0
}

//go:noescape
func q8SumBytesAVX2(p *byte, n int, mask uint8) int32

// q8SumBytes is the sum of the bytes of b, each XORed with mask first.
func q8SumBytes(b []byte, mask uint8) int32 {
	n := len(b) &^ 15
	var sum int32
	if n > 0 {
		sum = q8SumBytesAVX2(&b[0], n, mask)
	}
	for _, x := range b[n:] {
		sum += int32(x ^ mask)
	}
	return sum
}
