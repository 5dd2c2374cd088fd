package kernels

import "math"

// 16-bit fixed-point transcendental functions for the integer LSTM. They
// reproduce gemmlowp's FixedPoint<int16_t, N> arithmetic bit for bit: raw
// values are int16, additions wrap the way C++'s narrowing conversions do,
// and constants are 32-bit raw values rounded down to 16 bits. Products
// and saturating shifts are activation_fixed.go's ewSRDHM16 and
// ewSatShiftLeft16.

// gemmlowp writes its constants as 32-bit raw values and rounds them to 16
// bits (a rounding right shift by 16) for int16 arithmetic; these are the
// rounded values, checked against the 32-bit ones in the tests.
const (
	lstmExpMinusEighth = 28918  // exp(-1/8), Q0.15 (1895147668)
	lstmOneThird       = 10923  // 1/3, Q0.15 (715827883)
	lstm48Over17       = 23130  // 48/17, Q2.13 (1515870810)
	lstmNeg32Over17    = -15420 // -32/17, Q2.13 (-1010580540)
	lstmOneHalf        = 16384  // 1/2, Q0.15 (1 << 30)
	lstmOneQ2          = 1 << 13
)

// lstmExpBarrel returns exp(-2^k) in Q0.15, for k = -2..4, rounded from
// gemmlowp's Q0.31 constants.
func lstmExpBarrel(k int) int16 {
	switch k {
	case -2:
		return 25520 // 1672461947
	case -1:
		return 19875 // 1302514674
	case 0:
		return 12055 // 790015084
	case 1:
		return 4435 // 290630308
	case 2:
		return 600 // 39332535
	case 3:
		return 11 // 720401
	}
	return 0 // 242
}

// lstmShift32 multiplies x by 2^exp, saturating for exp > 0 and rounding to
// nearest for exp < 0.
func lstmShift32(x int32, exp int) int32 {
	switch {
	case exp > 0:
		threshold := int32(1<<(31-exp) - 1)
		if x > threshold {
			return math.MaxInt32
		}
		if x < -threshold {
			return math.MinInt32
		}
		return x << exp
	case exp < 0:
		return RoundingDivideByPOT(x, -exp)
	}
	return x
}

// lstmRoundingHalfSum16 is (a+b)/2 rounded half away from zero.
func lstmRoundingHalfSum16(a, b int16) int16 {
	sum := int32(a) + int32(b)
	sign := int32(1)
	if sum < 0 {
		sign = -1
	}
	return int16((sum + sign) / 2)
}

// lstmExpSmall16 returns exp(a) for a in [-1/4, 0), a in Q0.15: a Taylor
// expansion around -1/8.
func lstmExpSmall16(a int16) int16 {
	x := a + 1<<12 // a + 1/8
	x2 := ewSRDHM16(x, x)
	x3 := ewSRDHM16(x2, x)
	x4 := ewSRDHM16(x2, x2)
	x4over4 := int16(RoundingDivideByPOT(int32(x4), 2))
	poly := int16(RoundingDivideByPOT(int32(ewSRDHM16(x4over4+x3, lstmOneThird)+x2), 1))
	sum := int32(lstmExpMinusEighth) + int32(ewSRDHM16(lstmExpMinusEighth, x+poly))
	return int16(Clamp32(sum, math.MinInt16, math.MaxInt16))
}

// lstmExpNeg16 returns exp(a) in Q0.15 for a <= 0 with intBits integer
// bits (1..13): exp of a's remainder modulo 1/4, times exp(-2^k) for each
// bit k of the rest.
func lstmExpNeg16(a int16, intBits int) int16 {
	frac := 15 - intBits
	quarter := int16(1) << (frac - 2)
	aModQuarter := a&(quarter-1) - quarter
	result := lstmExpSmall16(ewSatShiftLeft16(aModQuarter, intBits))
	remainder := aModQuarter - a
	for exp := -2; exp <= 4 && exp < intBits; exp++ {
		if remainder&(1<<(frac+exp)) != 0 {
			result = ewSRDHM16(result, lstmExpBarrel(exp))
		}
	}
	if intBits > 5 && int32(a) < RoundingDivideByPOT(-(1<<(36-intBits)), 16) {
		result = 0 // below -32
	}
	if a == 0 {
		result = math.MaxInt16
	}
	return result
}

// lstmNewtonRecip16 returns 2/(1+a) in Q2.13 for a in (0, 1) in Q0.15: the
// reciprocal of half the denominator after three Newton-Raphson steps, the
// shared core of gemmlowp's logistic and tanh.
func lstmNewtonRecip16(a int16) int16 {
	halfDen := lstmRoundingHalfSum16(a, math.MaxInt16)
	x := lstm48Over17 + ewSRDHM16(halfDen, lstmNeg32Over17)
	for range 3 {
		oneMinus := lstmOneQ2 - ewSRDHM16(halfDen, x)
		x += ewSatShiftLeft16(ewSRDHM16(x, oneMinus), 2)
	}
	return x
}

// lstmSigmoid16 is gemmlowp::logistic on a Q3.12 input, giving Q0.15.
func lstmSigmoid16(a int16) int16 {
	if a == 0 {
		return lstmOneHalf
	}
	abs := a
	if a < 0 {
		abs = -a
	}
	// 1/(1+exp(-|a|)) is half the Newton estimate, rescaled to Q0.15.
	pos := ewSatShiftLeft16(lstmNewtonRecip16(lstmExpNeg16(-abs, 3)), 1)
	if a > 0 {
		return pos
	}
	return math.MaxInt16 - pos
}

// lstmTanh16 is gemmlowp::tanh on an input with intBits integer bits,
// giving Q0.15.
func lstmTanh16(a int16, intBits int) int16 {
	if a == 0 {
		return 0
	}
	n := a
	if a > 0 {
		n = -a
	}
	// (1-e)/(1+e) with e = exp(-2|a|).
	t := ewSatShiftLeft16(lstmNewtonRecip16(lstmExpNeg16(n, intBits+1))-lstmOneQ2, 2)
	if a < 0 {
		return -t
	}
	return t
}

// lstmMul32 is SaturatingRoundingDoublingHighMul (the shared helper), named
// for symmetry with the 16-bit variant.
func lstmMul32(a, b int32) int32 { return SaturatingRoundingDoublingHighMul(a, b) }

// lstmInvSqrt returns 1/sqrt(x) as a multiplier and left shift, as TFLite's
// GetInvSqrtQuantizedMultiplierExp with reverse_shift -1.
func lstmInvSqrt(x int32) (mult int32, shift int) {
	if x <= 1 {
		return math.MaxInt32, 0
	}
	shift = 11
	for x >= 1<<29 {
		x /= 4
		shift++
	}
	lz := 0
	for v := uint32(x); v < 1<<31; v <<= 1 {
		lz++
	}
	pairs := (lz-1)/2 - 1
	shift -= pairs
	x <<= 2 * pairs
	const one = 1 << 28 // 1.0 in Q3.28
	in := x >> 1
	halfIn := lstmShift32(in, -1)
	halfThree := int32(1<<28 + 1<<27)
	v := int32(one)
	for range 5 {
		v3 := lstmShift32(lstmMul32(lstmMul32(v, v), v), 6)
		v = lstmShift32(lstmMul32(halfThree, v)-lstmMul32(halfIn, v3), 3)
	}
	v = lstmMul32(v, 1518500250) // sqrt(2)/2
	if shift < 0 {
		v <<= -shift
		shift = 0
	}
	return v, -shift
}
