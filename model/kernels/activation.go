package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// unaryKernel implements the one-input activations and math functions:
// RSQRT, SQRT, EXP, LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU,
// HARD_SWISH, GELU, ELU, ABS and NEG.
//
// float32 is computed directly. int8 and uint8 go through a 256-entry table
// filled in Prepare, either from TFLite's integer arithmetic for the op
// (ReLU family, LEAKY_RELU, HARD_SWISH, ABS, NEG: bit-exact) or, for the
// transcendental ops, by dequantize → float32 op → quantize as TFLite's
// optimized kernels populate their tables. int16 uses TFLite's fixed-point
// reference paths.
type unaryKernel struct {
	op          model.BuiltinOp
	typ         model.TensorType
	alpha       float32 // LEAKY_RELU
	approximate bool    // GELU

	lut [256]uint8

	// simd is the ewF32UnaryRun code of a float32 op that runs on SIMD
	// (with simdArgs), or −1.
	simd     int
	simdArgs *ewUnaryArgs

	// int16 LOGISTIC/TANH table lookup input rescaling.
	inMult  int32
	inShift int
	// ReLU-family, LEAKY_RELU, ABS and NEG requantization.
	rq ewRequant

	ewBlocks
}

// ewRequant maps a quantized input onto the output scale: zpOut +
// x·multiplier, with a second multiplier for negative x (LEAKY_RELU), then
// clamps.
type ewRequant struct {
	zpIn, zpOut int32
	mPos, mNeg  int32
	sPos, sNeg  int
	lo, hi      int32
}

func (r *ewRequant) apply(q int32) int32 {
	x := q - r.zpIn
	var v int32
	if x >= 0 {
		v = MultiplyByQuantizedMultiplier(x, r.mPos, r.sPos)
	} else {
		v = MultiplyByQuantizedMultiplier(x, r.mNeg, r.sNeg)
	}
	return Clamp32(v+r.zpOut, r.lo, r.hi)
}

func newUnary(op model.BuiltinOp) Factory {
	return func() Kernel { return &unaryKernel{op: op} }
}

func (k *unaryKernel) Prepare(ctx *Context, n *Node) error {
	if err := ewCheckIO(n, 1, 1); err != nil {
		return err
	}
	in, out := n.Inputs[0], n.Outputs[0]
	if in.Type != out.Type {
		return errorf("output type %s, want %s like the input", out.Type, in.Type)
	}
	k.typ = in.Type
	switch o := n.Options.(type) {
	case *model.LeakyReluOptions:
		k.alpha = o.Alpha
	case *model.GeluOptions:
		k.approximate = o.Approximate
	}
	ewSetShape(out, in.Shape)
	k.setBlocks(in.NumElements(), k.span)
	k.simd = -1
	switch k.typ {
	case model.Float32:
		if ctx.level().runs(familyFloat) {
			k.simd, k.simdArgs = ewF32UnaryCode(k.op, k.alpha)
		}
		return nil
	case model.Int8, model.Uint8, model.Int16:
		if err := ewCheckQuantized("input", in); err != nil {
			return err
		}
		if err := ewCheckQuantized("output", out); err != nil {
			return err
		}
		if k.typ == model.Int16 {
			return k.prepareInt16(in, out)
		}
		return k.prepareLUT(in, out)
	}
	return unsupportedf("%s on %s", k.op, k.typ)
}

// floatFn returns the float32 function the op computes, for the ops that
// int8/uint8 tables derive from floats.
func (k *unaryKernel) floatFn() func(float32) float32 {
	switch k.op {
	case model.OpLogistic:
		return ewLogisticF32
	case model.OpTanh:
		return func(x float32) float32 { return float32(math.Tanh(float64(x))) }
	case model.OpGelu:
		if k.approximate {
			return ewGeluTanh
		}
		return ewGelu
	case model.OpElu:
		return ewElu
	case model.OpRsqrt:
		return ewRsqrt
	case model.OpSqrt:
		return func(x float32) float32 { return float32(math.Sqrt(float64(x))) }
	case model.OpExp:
		return func(x float32) float32 { return float32(math.Exp(float64(x))) }
	}
	return nil
}

func (k *unaryKernel) prepareLUT(in, out *Tensor) error {
	qmin, qmax := QuantRange(in.Type)
	var fn func(q int32) int32
	switch k.op {
	case model.OpRelu, model.OpRelu6, model.OpReluN1To1, model.OpLeakyRelu, model.OpAbs, model.OpNeg:
		if err := k.prepareRequant(in, out); err != nil {
			return err
		}
		switch k.op {
		case model.OpAbs:
			fn = func(q int32) int32 { return k.rq.apply(k.rq.zpIn + ewAbs32(q-k.rq.zpIn)) }
		case model.OpNeg:
			fn = func(q int32) int32 { return k.rq.apply(2*k.rq.zpIn - q) }
		default:
			fn = k.rq.apply
		}
	case model.OpHardSwish:
		hs, err := ewNewHardSwish(in, out)
		if err != nil {
			return err
		}
		fn = hs.apply
	default:
		f := k.floatFn()
		if f == nil {
			return unsupportedf("%s on %s", k.op, in.Type)
		}
		inScale, inZp := float32(in.Scale()), in.ZeroPoint()
		inv := 1 / float32(out.Scale())
		outZp := out.ZeroPoint()
		fn = func(q int32) int32 {
			x := inScale * float32(q-inZp)
			return ewRoundToQuant(math.Round(float64(f(x)*inv)), outZp, qmin, qmax)
		}
	}
	for q := qmin; q <= qmax; q++ {
		k.lut[uint8(q)] = uint8(fn(q))
	}
	return nil
}

// ewRoundToQuant adds the zero point to an already rounded value and clamps
// it to [qmin, qmax], treating NaN as zero.
func ewRoundToQuant(r float64, zp, qmin, qmax int32) int32 {
	v := r + float64(zp)
	switch {
	case v != v:
		return Clamp32(zp, qmin, qmax)
	case v <= float64(qmin):
		return qmin
	case v >= float64(qmax):
		return qmax
	}
	return int32(v)
}

func ewAbs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// prepareRequant computes the requantization of the ReLU family (as
// QuantizedReluX), LEAKY_RELU, ABS and NEG.
func (k *unaryKernel) prepareRequant(in, out *Tensor) error {
	sIn, sOut := float32(in.Scale()), float32(out.Scale())
	r := &k.rq
	r.zpIn, r.zpOut = in.ZeroPoint(), out.ZeroPoint()
	r.lo, r.hi = QuantRange(out.Type)
	r.mPos, r.sPos = QuantizeMultiplier(float64(sIn / sOut))
	r.mNeg, r.sNeg = r.mPos, r.sPos
	actLo, actHi := float32(math.Inf(-1)), float32(math.Inf(1))
	switch k.op {
	case model.OpRelu:
		actLo = 0
	case model.OpRelu6:
		actLo, actHi = 0, 6
	case model.OpReluN1To1:
		actLo, actHi = -1, 1
	case model.OpLeakyRelu:
		r.mNeg, r.sNeg = QuantizeMultiplier(float64(sIn * k.alpha / sOut))
	}
	if !math.IsInf(float64(actLo), 0) {
		r.lo = max(r.lo, r.zpOut+int32(math.Round(float64(actLo/sOut))))
	}
	if !math.IsInf(float64(actHi), 0) {
		r.hi = min(r.hi, r.zpOut+int32(math.Round(float64(actHi/sOut))))
	}
	if r.lo > r.hi {
		return errorf("%s clamp range [%d, %d] is empty on output scale %g", k.op, r.lo, r.hi, sOut)
	}
	return nil
}

func (k *unaryKernel) prepareInt16(in, out *Tensor) error {
	switch k.op {
	case model.OpRelu, model.OpRelu6, model.OpReluN1To1, model.OpLeakyRelu, model.OpAbs, model.OpNeg:
		return k.prepareRequant(in, out)
	case model.OpLogistic, model.OpTanh:
	default:
		return unsupportedf("%s on int16", k.op)
	}
	// TFLite's int16 LOGISTIC/TANH: symmetric tensors, output scale 2^-15,
	// and an input rescaled so that the sigmoid table spans [-10.7, 10.7].
	if in.ZeroPoint() != 0 || out.ZeroPoint() != 0 {
		return unsupportedf("int16 %s with non-zero zero points", k.op)
	}
	if l, ok := ewCheckedLog2(float32(out.Scale())); !ok || l != -15 {
		return unsupportedf("int16 %s output scale %g, want 2^-15", k.op, out.Scale())
	}
	l, pot := ewCheckedLog2(float32(in.Scale()))
	shift := 12 + l // 15 minus 3 integer bits
	if k.op == model.OpTanh {
		pot = pot && (shift == 0 || shift == 1)
	} else {
		pot = pot && shift == 0
	}
	if pot {
		k.inMult, k.inShift = 3<<shift, 0
		return nil
	}
	m := float64(float32(in.Scale())) * 4096 * 3
	shift = 0
	for m <= 32767.0/2 && shift <= 30 {
		shift++
		m *= 2
	}
	k.inMult, k.inShift = int32(m), shift
	return nil
}

func (k *unaryKernel) Eval(ctx *Context, n *Node) error {
	k.runBlocks(ctx, n, k.heavy())
	return nil
}

// heavy reports whether the op costs enough per element to split across
// threads.
func (k *unaryKernel) heavy() bool {
	if k.typ != model.Float32 {
		return k.typ == model.Int16
	}
	switch k.op {
	case model.OpRelu, model.OpRelu6, model.OpReluN1To1, model.OpAbs, model.OpNeg:
		return false
	}
	return true
}

// span computes elements [s, e).
func (k *unaryKernel) span(s, e int) {
	switch k.typ {
	case model.Float32:
		k.evalF32(view[float32](k.out)[s:e], view[float32](k.in)[s:e])
	case model.Int8, model.Uint8:
		ewLookup(k.out[s:e], k.in[s:e], &k.lut)
	case model.Int16:
		k.evalI16(view[int16](k.out)[s:e], view[int16](k.in)[s:e])
	}
}

// evalF32 runs whole steps of eight on the SIMD loop where the op has
// one, the rest in Go.
func (k *unaryKernel) evalF32(dst, src []float32) {
	if n8 := len(src) &^ 7; k.simd >= 0 && n8 > 0 {
		ewF32UnaryRun(k.simd, &dst[0], &src[0], n8, k.simdArgs)
		dst, src = dst[n8:], src[n8:]
	}
	switch k.op {
	case model.OpRelu:
		for i, x := range src {
			dst[i] = max(x, 0)
		}
	case model.OpRelu6:
		for i, x := range src {
			dst[i] = min(max(x, 0), 6)
		}
	case model.OpReluN1To1:
		for i, x := range src {
			dst[i] = min(max(x, -1), 1)
		}
	case model.OpLeakyRelu:
		a := k.alpha
		for i, x := range src {
			if x < 0 {
				x *= a
			}
			dst[i] = x
		}
	case model.OpAbs:
		for i, x := range src {
			dst[i] = float32(math.Abs(float64(x)))
		}
	case model.OpNeg:
		for i, x := range src {
			dst[i] = -x
		}
	case model.OpHardSwish:
		for i, x := range src {
			dst[i] = x * min(max(x+3, 0), 6) / 6
		}
	case model.OpRsqrt:
		for i, x := range src {
			dst[i] = ewRsqrt(x)
		}
	default:
		f := k.floatFn()
		switch k.op {
		case model.OpLogistic:
			f = logistic32
		case model.OpTanh:
			f = tanh32
		case model.OpExp:
			f = exp32
		}
		for i, x := range src {
			dst[i] = f(x)
		}
	}
}

func (k *unaryKernel) evalI16(dst, src []int16) {
	switch k.op {
	case model.OpLogistic:
		for i, x := range src {
			dst[i] = ewSigmoidI16(k.inMult, k.inShift, x)
		}
	case model.OpTanh:
		for i, x := range src {
			dst[i] = ewTanhI16(k.inMult, k.inShift, x)
		}
	case model.OpAbs:
		r := &k.rq
		for i, x := range src {
			dst[i] = int16(r.apply(r.zpIn + ewAbs32(int32(x)-r.zpIn)))
		}
	case model.OpNeg:
		r := &k.rq
		for i, x := range src {
			dst[i] = int16(r.apply(2*r.zpIn - int32(x)))
		}
	default:
		for i, x := range src {
			dst[i] = int16(k.rq.apply(int32(x)))
		}
	}
}

// Float functions. GELU and ELU are evaluated in float64 and rounded once;
// EXP, LOGISTIC and TANH in float32 (exp_f32.go), as vector loops can;
// the int8 and uint8 tables are filled from floatFn's float64 functions,
// as TFLite fills them.

// ewLogisticF32 rounds after every step like the float32 expression
// TFLite fills its int8/uint8 tables with.
func ewLogisticF32(x float32) float32 {
	e := float32(math.Exp(-float64(x)))
	return 1 / (1 + e)
}

func ewRsqrt(x float32) float32 {
	return float32(1 / math.Sqrt(float64(x)))
}

func ewGelu(x float32) float32 {
	v := float64(x)
	return float32(0.5 * v * math.Erfc(-v/math.Sqrt2))
}

func ewGeluTanh(x float32) float32 {
	v := float64(x)
	return float32(0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
}

func ewElu(x float32) float32 {
	if x < 0 {
		return float32(math.Expm1(float64(x)))
	}
	return x
}
