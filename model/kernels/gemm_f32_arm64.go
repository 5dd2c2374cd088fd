package kernels

//go:noescape
func f32GemmNEON(a, w *float32, k, nb int, bias, lohi, out *float32, stride int)

func f32WideTile(a, w []float32, k, nb int, bias []float32, lohi *[2]float32, out []float32, stride int) {
	f32GemmNEON(&a[0], &w[0], k, nb, &bias[0], &lohi[0], &out[0], stride)
}
