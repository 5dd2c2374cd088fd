//go:build !amd64 && !arm64 && !arm

package kernels

// Without microkernels no level above generic is offered (level_other.go),
// so the wide 8-bit path is never built and these are never called.

func q8WideTile(a, w []int16, kp, nb int, cc []int32, scale []float32, rq *q8Requant, out []byte, stride int) {
	panic("kernels: no SIMD 8-bit kernel on this architecture")
}

func q8WideSums(a, w []int16, kp, nb int, sums []int32) {
	panic("kernels: no SIMD 8-bit kernel on this architecture")
}

func q8Widen(dst []int16, src []byte, signed bool) int { return 0 }

func q8WideDot(a, w []byte, kp, nb int, sums []int32, signed bool) {
	panic("kernels: no SIMD 8-bit kernel on this architecture")
}

// q8RequantRow leaves the requantization of sums to scalar code here (the
// AVX2 product requantizes in its own kernel).
func q8RequantRow(sums, cc []int32, scale []float32, rq *q8Requant, rt int32, out []byte) int {
	return 0
}
