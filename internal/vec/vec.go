// Package vec holds the float32 vector arithmetic that the interpreter's
// LSTM and the feature-space scores share, so both sum in one order.
package vec

// Dot is Σ a[i]·b[i] over len(a) (b at least as long), in four running
// sums so that the loop pipelines, added up in order at the end.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}
