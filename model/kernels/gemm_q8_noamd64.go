//go:build !amd64

package kernels

// The dot-product product is fused with the requantization only on
// amd64 (q8Wide.fused is false elsewhere), so this is never called.
func q8WideTileDot(a, w []byte, kp, nb int, rt *[q8MR]int32, cc []int32, scale []float32, rq *q8Requant, out []byte, stride int) {
	panic("kernels: no fused dot-product kernel on this architecture")
}

// q8SumBytes is the sum of the bytes of b, each XORed with mask first.
func q8SumBytes(b []byte, mask uint8) int32 {
	var sum int32
	for _, x := range b {
		sum += int32(x ^ mask)
	}
	return sum
}
