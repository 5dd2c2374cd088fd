package kernels

import (
	"github.com/ood-agent/ood-agent/model/tensor"
	"math"
	"unsafe"

	"github.com/ood-agent/ood-agent/model"
)

// Fixed-point helpers, ported once and exactly from TFLite's reference
// arithmetic: quantized outputs depend on every rounding step here.

// QuantizeMultiplier expresses a real multiplier m as a Q31 fixed-point value
// and a power-of-two exponent: m ≈ q·2^(shift-31). shift > 0 is a left shift.
func QuantizeMultiplier(m float64) (q int32, shift int) {
	if m == 0 {
		return 0, 0
	}
	frac, exp := math.Frexp(m)
	qf := int64(math.Round(frac * (1 << 31)))
	if qf == 1<<31 {
		qf /= 2
		exp++
	}
	if exp < -31 {
		return 0, 0
	}
	if exp > 30 {
		return math.MaxInt32, 30
	}
	return int32(qf), exp
}

// SaturatingRoundingDoublingHighMul returns the high 32 bits of 2·a·b,
// rounded half away from zero, saturating the single overflow case.
func SaturatingRoundingDoublingHighMul(a, b int32) int32 { return srdhm(a, b) }

// srdhm is gemmlowp's saturating rounding doubling high multiply on 16 or
// 32 bits: the high half of 2·a·b, rounded half away from zero,
// saturating the single overflow case.
func srdhm[T int16 | int32](a, b T) T {
	bits := 8*unsafe.Sizeof(a) - 1 // 15 or 31: the product is Q(2·bits), the result Q(bits)
	lowest := T(-1) << bits
	if a == b && a == lowest {
		return ^lowest
	}
	ab := int64(a) * int64(b)
	nudge := int64(1) << (bits - 1)
	if ab < 0 {
		nudge = 1 - nudge
	}
	return T((ab + nudge) / (1 << bits))
}

// RoundingDivideByPOT divides by 2^exponent rounding half away from zero.
func RoundingDivideByPOT(x int32, exponent int) int32 {
	mask := int32(1)<<exponent - 1
	remainder := x & mask
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	r := x >> exponent
	if remainder > threshold {
		r++
	}
	return r
}

// MultiplyByQuantizedMultiplier computes x·q·2^(shift-31) with TFLite's
// double rounding.
func MultiplyByQuantizedMultiplier(x, q int32, shift int) int32 {
	left, right := 0, 0
	if shift > 0 {
		left = shift
	} else {
		right = -shift
	}
	return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x*(1<<left), q), right)
}

// MultiplyByQuantizedMultiplier64 is the int64-accumulator variant used by
// the 16x8 kernels: the multiplier is reduced to 16 bits and the product
// rounded once.
func MultiplyByQuantizedMultiplier64(x int64, q int32, shift int) int32 {
	reduced := int64(0x7FFF)
	if q < 0x7FFF0000 {
		reduced = (int64(q) + (1 << 15)) >> 16
	}
	total := int64(15 - shift)
	round := int64(1) << (total - 1)
	return int32((x*reduced + round) >> total)
}

// MultiplyByQuantizedMultiplierSmallerThanOne is the variant for multipliers
// below one (shift <= 0) used by the older kernels (uint8 pooling, softmax).
func MultiplyByQuantizedMultiplierSmallerThanOne(x, q int32, shift int) int32 {
	return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, q), -shift)
}

// MultiplyByQuantizedMultiplierGreaterThanOne is the variant for multipliers
// above one (shift >= 0).
func MultiplyByQuantizedMultiplierGreaterThanOne(x, q int32, shift int) int32 {
	return SaturatingRoundingDoublingHighMul(x*(1<<shift), q)
}

// QuantRange is the representable range of a quantized type.
func QuantRange(t model.TensorType) (lo, hi int32) { return tensor.QuantRange(t) }

// ActivationRangeFloat returns the clamp range of a fused activation.
func ActivationRangeFloat(a model.Activation) (lo, hi float32) {
	switch a {
	case model.ActRelu:
		return 0, math.MaxFloat32
	case model.ActRelu6:
		return 0, 6
	case model.ActReluN1To1:
		return -1, 1
	}
	return -math.MaxFloat32, math.MaxFloat32
}

// ActivationRangeQuantized returns the clamp range of a fused activation on
// an output quantized with t's scale and zero point, as TFLite computes it.
func ActivationRangeQuantized(a model.Activation, t *Tensor) (lo, hi int32) {
	qmin, qmax := QuantRange(t.Type)
	scale, zp := t.Scale(), t.ZeroPoint()
	quantize := func(f float64) int32 {
		v := float64(zp) + math.Round(f/scale)
		if v < float64(math.MinInt32) {
			return math.MinInt32
		}
		if v > float64(math.MaxInt32) {
			return math.MaxInt32
		}
		return int32(v)
	}
	lo, hi = qmin, qmax
	switch a {
	case model.ActRelu:
		lo = max(qmin, quantize(0))
	case model.ActRelu6:
		lo = max(qmin, quantize(0))
		hi = min(qmax, quantize(6))
	case model.ActReluN1To1:
		lo = max(qmin, quantize(-1))
		hi = min(qmax, quantize(1))
	}
	return lo, hi
}

// ClampF32 clamps x to [lo, hi]; a NaN x stays NaN.
func ClampF32(x, lo, hi float32) float32 { return clamp(x, lo, hi) }

// Clamp32 clamps x to [lo, hi].
func Clamp32(x, lo, hi int32) int32 { return clamp(x, lo, hi) }

// clamp compares x with lo and then hi and returns x when it is neither
// below nor above (so a NaN x is returned as it is).
func clamp[T int32 | float32](x, lo, hi T) T {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

// CheckFusedActivation rejects fused activations the kernels do not apply.
func CheckFusedActivation(a model.Activation) error {
	switch a {
	case model.ActNone, model.ActRelu, model.ActRelu6, model.ActReluN1To1:
		return nil
	}
	return unsupportedf("fused activation %s", a)
}
