package kernels

import "math"

// The float ops EXP, LOGISTIC and TANH in float32 arithmetic, in an order
// the SIMD loops (elementwise_f32_*.s) repeat step for step, so that every
// level writes the same bits: each product is rounded before it is added
// (the conversions stop Go from fusing them into FMAs on arm64). exp is
// Cephes' expf: x = n·ln 2 + r with n an integer, a degree-7 polynomial
// for e^r on |r| ≤ ln2/2, and 2^n applied as two exact power-of-two
// factors so that neither over- nor underflows before the last multiply.
// Within 2 ulp of the exact function (TestExp32Accuracy), about what the
// runtime's vectorized float kernels give.

const (
	exp32Lo = -104 // e^-104 is below the smallest subnormal
	exp32Hi = 88.8 // e^88.8 overflows
	log2e   = 1.44269504088896341
	ln2Hi   = 0.693359375 // 9 significant bits: n·ln2Hi is exact
	ln2Lo   = -2.12194440e-4
	// The polynomial's coefficients, highest power first.
	exp32C5 = 1.9875691500e-4
	exp32C4 = 1.3981999507e-3
	exp32C3 = 8.3334519073e-3
	exp32C2 = 4.1665795894e-2
	exp32C1 = 1.6666665459e-1
	exp32C0 = 5.0000001201e-1
	// TANH below |x| < tanh32Small: x + x³·P(x²).
	tanh32Small = 0.625
	tanh32P4    = -5.70498872745e-3
	tanh32P3    = 2.06390887954e-2
	tanh32P2    = -5.37397155531e-2
	tanh32P1    = 1.33314422036e-1
	tanh32P0    = -3.33332819422e-1
)

// ewUnaryArgs is the argument block of the SIMD one-input loops
// (ewF32UnaryCode): the op's two parameters, 0, 1, then exp32's and
// tanh32's constants in the order the assembly reads them, 127 as int32
// bits (the exponent bias), 2, 0.
type ewUnaryArgs [24]float32

// exp32 is e^x. NaN returns itself.
func exp32(x float32) float32 {
	if x != x {
		return x
	}
	v := min(max(x, exp32Lo), exp32Hi)
	n := float32(math.RoundToEven(float64(float32(v * log2e))))
	r := v - float32(n*ln2Hi)
	r -= float32(n * ln2Lo)
	p := float32(exp32C5*r) + exp32C4
	p = float32(p*r) + exp32C3
	p = float32(p*r) + exp32C2
	p = float32(p*r) + exp32C1
	p = float32(p*r) + exp32C0
	p = float32(p*float32(r*r)) + r
	p++
	a := int32(n) >> 1
	b := int32(n) - a
	return float32(p*math.Float32frombits(uint32(a+127)<<23)) * math.Float32frombits(uint32(b+127)<<23)
}

// logistic32 is 1/(1+e^−x).
func logistic32(x float32) float32 {
	return 1 / (1 + exp32(-x))
}

// tanh32 is tanh x: Cephes' tanhf on |x|, an odd polynomial near zero
// (where 1 − 2/(e^2|x|+1) would cancel) and that expression beyond, then
// x's sign.
func tanh32(x float32) float32 {
	ax := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	var y float32
	if ax < tanh32Small {
		z := float32(ax * ax)
		p := float32(tanh32P4*z) + tanh32P3
		p = float32(p*z) + tanh32P2
		p = float32(p*z) + tanh32P1
		p = float32(p*z) + tanh32P0
		y = float32(float32(p*z)*ax) + ax
	} else {
		y = 1 - 2/(exp32(ax+ax)+1)
	}
	return math.Float32frombits(math.Float32bits(y) | math.Float32bits(x)&(1<<31))
}
