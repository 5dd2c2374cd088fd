// Package modeltest holds helpers shared by the model packages' tests:
// random tensor contents and shape arithmetic.
package modeltest

import "math/rand/v2"

// RandF32 returns n floats uniform in [lo, hi).
func RandF32(r *rand.Rand, n int, lo, hi float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*r.Float32()
	}
	return v
}

// RandBytes returns n random bytes (random int8 or uint8 tensor data).
func RandBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

// Numel is the number of elements of a shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
