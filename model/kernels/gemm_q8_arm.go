package kernels

// No dot-product level on 32-bit ARM (q8Wide.dot is false), so this is
// never called.
func q8WideDot(a, w []byte, kp, nb int, sums []int32, signed bool) {
	panic("kernels: no dot-product kernel on arm")
}
