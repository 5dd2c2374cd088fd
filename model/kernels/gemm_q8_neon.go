//go:build arm || arm64

package kernels

// The NEON 8-bit product on arm64 (gemm_q8_arm64.s) and 32-bit ARM
// (gemm_q8_arm.s): the same tiles and the same requantization pass, with
// the same arguments.

//go:noescape
func q8GemmSumsNEON(a, w *int16, kp, nb int, sums *int32)

// q8WideSums runs nb channel blocks of one tile, writing their int32 sums
// as [block][4 rows][16 channels].
func q8WideSums(a, w []int16, kp, nb int, sums []int32) {
	_, _ = a[q8MR*kp-1], w[nb*kp*q8WideNR-1]
	_ = sums[nb*q8MR*q8WideNR-1]
	q8GemmSumsNEON(&a[0], &w[0], kp, nb, &sums[0])
}

// The NEON product is not fused with the requantization (q8Wide.fused is
// false here), so this is never called.
func q8WideTile(a, w []int16, kp, nb int, cc []int32, scale []float32, rq *q8Requant, out []byte, stride int) {
	panic("kernels: no fused 8-bit kernel on ARM")
}

// q8Widen leaves all the widening to the scalar loop on ARM.
func q8Widen(dst []int16, src []byte, signed bool) int { return 0 }

//go:noescape
func q8RequantNEON(sums, cc *int32, scale *float32, rq *q8Requant, rt int32, out *byte, n int)

// q8RequantRow requantizes the first len(out)&^7 sums with the runtime
// rounding (sum + rt + cc[i], scale[i]) into out and returns how many.
func q8RequantRow(sums, cc []int32, scale []float32, rq *q8Requant, rt int32, out []byte) int {
	n := len(out) &^ 7
	if n == 0 {
		return 0
	}
	_, _, _ = sums[n-1], cc[n-1], scale[n-1]
	q8RequantNEON(&sums[0], &cc[0], &scale[0], rq, rt, &out[0], n)
	return n
}
