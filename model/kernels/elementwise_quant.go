package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// ewQuant holds the fixed-point parameters of a quantized binary operator,
// computed in Prepare the way TFLite's kernels compute them (add.cc, sub.cc,
// mul.cc, squared_difference.cc, activations.cc PRELU).
type ewQuant struct {
	off1, off2 int32 // minus the input zero points
	outOff     int32 // output zero point
	left       int   // left shift applied to both inputs (ADD, SUB, SQD)
	m1, m2, mo int32
	s1, s2, so int
	lo, hi     int32 // output clamp range

	// pot selects the int16 power-of-two path of ADD/SUB: the input with a
	// non-zero shift is rounded down to the output scale and the two are
	// added with saturation.
	pot            bool
	potRightShift  int  // shift applied to the scaled input
	potShiftFirst  bool // whether input 0 is the scaled one
	potNegateOther bool // SUB: subtract input 1

	// out is the output multiplier (mo, so) in loop-friendly form, and
	// lut1/lut2 hold scale1/scale2 of every 8-bit input value.
	out        ewMul
	lut1, lut2 *[256]int32
	// sumTab holds the 8-bit ADD/SUB result of every pair of input bytes,
	// [x<<8|y]: one load per element instead of the fixed-point rescale.
	sumTab *[1 << 16]byte

	// same marks MAXIMUM/MINIMUM whose inputs share the output's scale
	// and zero point, so raw values compare directly.
	same bool
}

// ewCheckedLog2 reports whether x is (within 1e-3 in the exponent) a power
// of two, and its rounded base-2 logarithm, in float32 as TFLite's
// CheckedLog2 computes it.
func ewCheckedLog2(x float32) (int, bool) {
	l := float32(math.Log(float64(x))) * float32(1/math.Log(2))
	r := float32(math.Round(float64(l)))
	return int(r), math.Abs(float64(l-r)) < 1e-3
}

func (q *ewQuant) prepare(op model.BuiltinOp, n *Node, act model.Activation) error {
	a, b, out := n.Inputs[0], n.Inputs[1], n.Outputs[0]
	sa, sb, so := float32(a.Scale()), float32(b.Scale()), float32(out.Scale())
	q.off1, q.off2, q.outOff = -a.ZeroPoint(), -b.ZeroPoint(), out.ZeroPoint()
	qmin, qmax := QuantRange(out.Type)
	for i, t := range []*Tensor{a, b, out} {
		if zp := t.ZeroPoint(); zp < qmin || zp > qmax {
			return errorf("tensor %d zero point %d outside %s range", i, zp, t.Type)
		}
	}
	q.lo, q.hi = qmin, qmax
	switch op {
	case model.OpAdd, model.OpSub:
		q.lo, q.hi = ActivationRangeQuantized(act, out)
		if out.Type == model.Int16 {
			usePot := true
			if o, ok := n.Options.(*model.AddOptions); ok && op == model.OpAdd {
				usePot = o.PotScaleInt16
			}
			la, pa := ewCheckedLog2(sa)
			lb, pb := ewCheckedLog2(sb)
			lo, po := ewCheckedLog2(so)
			if usePot && pa && pb && po && q.off1 == 0 && q.off2 == 0 && q.outOff == 0 {
				return q.preparePot(op, la-lo, lb-lo)
			}
		}
		q.left = 20
		if out.Type == model.Int16 {
			q.left = 15
		}
		twice := 2 * float64(max(sa, sb))
		q.m1, q.s1 = QuantizeMultiplier(float64(sa) / twice)
		q.m2, q.s2 = QuantizeMultiplier(float64(sb) / twice)
		if op == model.OpSub {
			// TFLite runs SUB through the ADD kernels with input 2's
			// multiplier negated.
			q.m2 = -q.m2
		}
		q.mo, q.so = QuantizeMultiplier(twice / (float64(int64(1)<<q.left) * float64(so)))
	case model.OpMul:
		q.lo, q.hi = ActivationRangeQuantized(act, out)
		q.mo, q.so = QuantizeMultiplier(float64(sa * sb / so))
	case model.OpSquaredDifference:
		q.left = 7
		twice := 2 * float64(max(sa, sb))
		q.m1, q.s1 = QuantizeMultiplier(float64(sa) / twice)
		q.m2, q.s2 = QuantizeMultiplier(float64(sb) / twice)
		q.mo, q.so = QuantizeMultiplier(twice * twice / (float64(int64(1)<<(2*q.left)) * float64(so)))
	case model.OpMaximum, model.OpMinimum:
		q.same = sa == so && sb == so && q.off1 == -q.outOff && q.off2 == -q.outOff
		q.m1, q.s1 = QuantizeMultiplier(float64(sa) / float64(so))
		q.m2, q.s2 = QuantizeMultiplier(float64(sb) / float64(so))
	case model.OpPrelu:
		q.m1, q.s1 = QuantizeMultiplier(float64(sa / so))
		q.m2, q.s2 = QuantizeMultiplier(float64(sa * sb / so))
	default:
		return unsupportedf("quantized %s", op)
	}
	q.out = newEwMul(q.mo, q.so)
	if out.Type != model.Int16 && (op == model.OpAdd || op == model.OpSub || op == model.OpSquaredDifference) {
		q.lut1, q.lut2 = new([256]int32), new([256]int32)
		for v := qmin; v <= qmax; v++ {
			q.lut1[uint8(v)] = q.scale1(v)
			q.lut2[uint8(v)] = q.scale2(v)
		}
		if op == model.OpAdd || op == model.OpSub {
			q.sumTab = new([1 << 16]byte)
			for v := qmin; v <= qmax; v++ {
				for w := qmin; w <= qmax; w++ {
					q.sumTab[int(uint8(v))<<8|int(uint8(w))] = byte(q.sumFast(q.lut1[uint8(v)] + q.lut2[uint8(w)]))
				}
			}
		}
	}
	return nil
}

// ewMul is a fixed-point multiplier (q, shift) with its shifts and rounding
// constants precomputed, for inner loops. apply equals
// MultiplyByQuantizedMultiplier(x, q, shift) for every x when q is not
// math.MinInt32.
type ewMul struct {
	m         int32
	leftMul   int32
	right     uint
	mask, thr int32
}

func newEwMul(m int32, shift int) ewMul {
	p := ewMul{m: m, leftMul: 1}
	if shift > 0 {
		p.leftMul = 1 << shift
	} else {
		p.right = uint(-shift)
	}
	p.mask = int32(1)<<p.right - 1
	p.thr = p.mask >> 1
	return p
}

func (p *ewMul) apply(x int32) int32 {
	ab := int64(x*p.leftMul) * int64(p.m)
	var hi int32
	if ab >= 0 {
		hi = int32((ab + 1<<30) >> 31)
	} else {
		hi = -int32((1<<30 - 1 - ab) >> 31)
	}
	thr := p.thr
	if hi < 0 {
		thr++
	}
	r := hi >> p.right
	if hi&p.mask > thr {
		r++
	}
	return r
}

// preparePot sets up the int16 power-of-two ADD/SUB path; shift1 and shift2
// are the inputs' scale exponents relative to the output's.
func (q *ewQuant) preparePot(op model.BuiltinOp, shift1, shift2 int) error {
	if shift1 != 0 && shift2 != 0 {
		return unsupportedf("int16 %s rescaling both inputs (shifts %d, %d)", op, shift1, shift2)
	}
	if shift1 > 0 || shift2 > 0 {
		return unsupportedf("int16 %s with an input scale above the output scale", op)
	}
	q.pot = true
	q.potShiftFirst = shift1 != 0
	q.potRightShift = -shift1 - shift2
	q.potNegateOther = op == model.OpSub
	return nil
}

// ewQuantInt is the quantized element types.
type ewQuantInt interface {
	~int8 | ~uint8 | ~int16
}

// ewQuantRow is the quantized counterpart of ewArith.
func ewQuantRow[T ewQuantInt](q *ewQuant, op model.BuiltinOp, dst, x []T, xs int, y []T, ys int) {
	ix, iy := 0, 0
	switch op {
	case model.OpAdd, model.OpSub:
		if q.pot {
			for i := range dst {
				dst[i] = T(q.addPot(int32(x[ix]), int32(y[iy])))
				ix += xs
				iy += ys
			}
			return
		}
		if q.sumTab != nil {
			tab := q.sumTab
			if xs == 1 && ys == 1 {
				x, y = x[:len(dst)], y[:len(dst)]
				for i := range dst {
					dst[i] = T(int8(tab[int(uint8(x[i]))<<8|int(uint8(y[i]))]))
				}
				return
			}
			for i := range dst {
				dst[i] = T(int8(tab[int(uint8(x[ix]))<<8|int(uint8(y[iy]))]))
				ix += xs
				iy += ys
			}
			return
		}
		if q.lut1 != nil {
			for i := range dst {
				dst[i] = T(q.sumFast(q.lut1[uint8(x[ix])] + q.lut2[uint8(y[iy])]))
				ix += xs
				iy += ys
			}
			return
		}
		if xs == 0 || ys == 0 {
			// Scale the broadcast operand once.
			if xs == 0 {
				sx := q.scale1(int32(x[0]))
				for i := range dst {
					dst[i] = T(q.sum(sx, q.scale2(int32(y[iy]))))
					iy += ys
				}
				return
			}
			sy := q.scale2(int32(y[0]))
			for i := range dst {
				dst[i] = T(q.sum(q.scale1(int32(x[ix])), sy))
				ix += xs
			}
			return
		}
		x, y = x[:len(dst)], y[:len(dst)]
		for i := range dst {
			dst[i] = T(q.sum(q.scale1(int32(x[i])), q.scale2(int32(y[i]))))
		}
	case model.OpMul:
		for i := range dst {
			p := (int32(x[ix]) + q.off1) * (int32(y[iy]) + q.off2)
			v := q.out.apply(p) + q.outOff
			dst[i] = T(Clamp32(v, q.lo, q.hi))
			ix += xs
			iy += ys
		}
	case model.OpSquaredDifference:
		for i := range dst {
			d := q.lut1[uint8(x[ix])] - q.lut2[uint8(y[iy])]
			v := q.out.apply(d*d) + q.outOff
			dst[i] = T(Clamp32(v, q.lo, q.hi))
			ix += xs
			iy += ys
		}
	case model.OpMaximum, model.OpMinimum:
		if q.same {
			for i := range dst {
				a, b := x[ix], y[iy]
				if (op == model.OpMaximum && a > b) || (op == model.OpMinimum && a < b) {
					dst[i] = a
				} else {
					dst[i] = b
				}
				ix += xs
				iy += ys
			}
			return
		}
		for i := range dst {
			a := MultiplyByQuantizedMultiplier(int32(x[ix])+q.off1, q.m1, q.s1) + q.outOff
			b := MultiplyByQuantizedMultiplier(int32(y[iy])+q.off2, q.m2, q.s2) + q.outOff
			v := b
			if (op == model.OpMaximum && a > b) || (op == model.OpMinimum && a < b) {
				v = a
			}
			dst[i] = T(Clamp32(v, q.lo, q.hi))
			ix += xs
			iy += ys
		}
	case model.OpPrelu:
		for i := range dst {
			v := int32(x[ix]) + q.off1
			if v >= 0 {
				v = MultiplyByQuantizedMultiplier(v, q.m1, q.s1)
			} else {
				v = MultiplyByQuantizedMultiplier(v*(int32(y[iy])+q.off2), q.m2, q.s2)
			}
			dst[i] = T(Clamp32(v+q.outOff, q.lo, q.hi))
			ix += xs
			iy += ys
		}
	}
}

// scale1 and scale2 bring an input onto the common pre-shifted scale of
// ADD, SUB and SQUARED_DIFFERENCE.
func (q *ewQuant) scale1(v int32) int32 {
	return MultiplyByQuantizedMultiplier((v+q.off1)*(1<<q.left), q.m1, q.s1)
}

func (q *ewQuant) scale2(v int32) int32 {
	return MultiplyByQuantizedMultiplier((v+q.off2)*(1<<q.left), q.m2, q.s2)
}

// sum rescales the sum of two pre-scaled inputs to the output.
func (q *ewQuant) sum(a, b int32) int32 {
	v := MultiplyByQuantizedMultiplier(a+b, q.mo, q.so) + q.outOff
	return Clamp32(v, q.lo, q.hi)
}

// sumFast is sum for an already added pair.
func (q *ewQuant) sumFast(ab int32) int32 {
	return Clamp32(q.out.apply(ab)+q.outOff, q.lo, q.hi)
}

// addPot is the int16 power-of-two ADD/SUB: one operand is already on the
// output scale, the other is rounded down to it, and the result saturates.
func (q *ewQuant) addPot(a, b int32) int32 {
	if q.potShiftFirst {
		a = RoundingDivideByPOT(a, q.potRightShift)
	} else {
		b = RoundingDivideByPOT(b, q.potRightShift)
	}
	v := a + b
	if q.potNegateOther {
		v = a - b
	}
	v = Clamp32(v, math.MinInt16, math.MaxInt16)
	return Clamp32(v, q.lo, q.hi)
}
