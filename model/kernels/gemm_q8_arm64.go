package kernels

// The dot-product tiles in gemm_q8_arm64.s (the rest: gemm_q8_neon.go).

//go:noescape
func q8GemmSDotNEON(a, w *byte, kp, nb int, sums *int32)

//go:noescape
func q8GemmUDotNEON(a, w *byte, kp, nb int, sums *int32)

// q8WideDot runs nb channel blocks of one tile of byte rows with SDOT
// (int8) or UDOT (uint8), writing their sums as q8WideSums does.
func q8WideDot(a, w []byte, kp, nb int, sums []int32, signed bool) {
	if signed {
		q8GemmSDotNEON(&a[0], &w[0], kp, nb, &sums[0])
	} else {
		q8GemmUDotNEON(&a[0], &w[0], kp, nb, &sums[0])
	}
}
