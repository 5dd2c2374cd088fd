package kernels

import (
	"math"
)

// Fixed-point activation arithmetic ported from TFLite's reference kernels:
// quantized HARD_SWISH (reference/hard_swish.h) and the int16 LOGISTIC and
// TANH table interpolation (reference/integer_ops/logistic.h, tanh.h).

// ewHardSwish holds TFLite's HardSwishParams.
type ewHardSwish struct {
	inZp, outZp   int32
	qmin, qmax    int32
	outMult16     int16
	outExp        int
	reluishMult16 int16
	reluishExp    int
}

// ewDownScaleMultiplier rounds a Q31 multiplier to Q15.
func ewDownScaleMultiplier(m int32) int16 {
	const rounding = 1 << 15
	if m >= math.MaxInt32-rounding {
		return math.MaxInt16
	}
	return int16((m + rounding) >> 16)
}

func ewNewHardSwish(in, out *Tensor) (*ewHardSwish, error) {
	h := &ewHardSwish{inZp: in.ZeroPoint(), outZp: out.ZeroPoint()}
	h.qmin, h.qmax = QuantRange(out.Type)
	hires := (1.0 / 128.0) * float32(in.Scale())
	const reluishScale = float32(3.0 / 32768.0)
	m, e := QuantizeMultiplier(float64(hires / float32(out.Scale())))
	h.outMult16, h.outExp = ewDownScaleMultiplier(m), e
	if e > 0 {
		return nil, unsupportedf("HARD_SWISH output multiplier exponent %d > 0 (input scale %g, output scale %g)", e, in.Scale(), out.Scale())
	}
	m, e = QuantizeMultiplier(float64(hires / reluishScale))
	h.reluishMult16, h.reluishExp = ewDownScaleMultiplier(m), e
	return h, nil
}

// apply computes HARD_SWISH of one quantized value in 16-bit fixed point.
func (h *ewHardSwish) apply(q int32) int32 {
	in := int16(q - h.inZp)
	hires := in * (1 << 7)
	preshift := ewSRDHM16(hires, h.outMult16)
	reluish := hires
	if h.reluishExp > 0 {
		reluish = ewSatShiftLeft16(reluish, h.reluishExp-1)
	}
	reluish = ewSRDHM16(reluish, h.reluishMult16)
	if h.reluishExp > 0 {
		reluish = ewSatShiftLeft16(reluish, 1)
	}
	if h.reluishExp < 0 {
		reluish = int16(RoundingDivideByPOT(int32(reluish), -h.reluishExp))
	}
	// [-1, 1] → [0, 1].
	reluish = int16((int32(reluish) + (1 << 15)) >> 1)
	pre := ewSDHM16(reluish, preshift)
	v := int16(RoundingDivideByPOT(int32(pre), -h.outExp))
	v += int16(h.outZp)
	return Clamp32(int32(v), h.qmin, h.qmax)
}

// ewSRDHM16 is gemmlowp's 16-bit saturating rounding doubling high multiply.
func ewSRDHM16(a, b int16) int16 { return srdhm(a, b) }

// ewSDHM16 is the truncating variant (like ARM's SQDMULH), which TFLite uses
// in HARD_SWISH to cancel the bias of the rounding one.
func ewSDHM16(a, b int16) int16 {
	if a == b && a == math.MinInt16 {
		return math.MaxInt16
	}
	return int16((int32(a) * int32(b)) / (1 << 15))
}

// ewSatShiftLeft16 multiplies v by 2^amount (amount ≥ 0), saturating. It
// compares against a threshold rather than widening, which keeps the LSTM's
// fixed-point loops fast.
func ewSatShiftLeft16(v int16, amount int) int16 {
	threshold := int16(0) // from 2^15 on, every non-zero v saturates
	if amount < 15 {
		threshold = int16(1)<<(15-amount) - 1
	}
	if v > threshold {
		return math.MaxInt16
	}
	if v < -threshold {
		return math.MinInt16
	}
	return v << amount
}

// ewSigmoidTable is TFLite's sigmoid(i/24) in unsigned 0.16 fixed point
// (common.h sigmoid_table_uint16); its entries are tuned rather than plain
// rounded samples, so they are reproduced as data.
var ewSigmoidTable = [256]uint32{
	32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
	43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
	51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
	57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
	61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
	63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
	64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
	64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
	65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
	65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
	65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
	65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
	65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
	65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
	65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
	65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
}

// ewTableInput rescales an int16 input so that 3·4096 units are 1.0.
func ewTableInput(mult int32, shift int, x int16) int32 {
	round := int32(0)
	if shift > 0 {
		round = 1 << (shift - 1)
	}
	return (int32(x)*mult + round) >> shift
}

// ewSigmoidLerp interpolates ewSigmoidTable at a, whose low frac bits are
// the fraction between entries, scaled by 2^frac; past the table's end it
// returns sat.
func ewSigmoidLerp(a uint32, frac uint, sat uint32) uint32 {
	uh := a >> frac
	if uh >= 255 {
		return sat
	}
	ua, ub := ewSigmoidTable[uh], ewSigmoidTable[uh+1]
	return ua<<frac + (a&(1<<frac-1))*(ub-ua)
}

// ewSigmoidI16 is the int16 logistic: Q3.12-ish input, Q0.15 output.
func ewSigmoidI16(mult int32, shift int, x int16) int16 {
	v := ewTableInput(mult, shift, x)
	a := uint32(ewAbs32(v))
	r := ewSigmoidLerp(a, 9, 0x7FFF<<10)
	if v >= 0 {
		r += 1 << 9
	} else {
		r = (1 << (16 + 9)) - r + (1 << 9) - 1
	}
	return int16(r >> 10)
}

// ewTanhI16 is the int16 tanh via tanh(x) = 2·sigmoid(2x) - 1.
func ewTanhI16(mult int32, shift int, x int16) int16 {
	v := ewTableInput(mult, shift, x)
	a := uint32(ewAbs32(v))
	r := int32(ewSigmoidLerp(a, 8, 0xFFFF<<8))
	if v >= 0 {
		r = r - (1 << (14 + 9)) + (1 << (9 - 2))
	} else {
		r = -r + (1 << (14 + 9)) + (1 << (9 - 2)) - 1
	}
	return int16(r >> (9 - 1))
}
