//go:build !amd64 && !arm64

package kernels

// No float microkernel here: the wide float path is never built.
func f32WideTile(a, w []float32, k, nb int, bias []float32, lohi *[2]float32, out []float32, stride int) {
	panic("kernels: no SIMD float kernel on this architecture")
}
