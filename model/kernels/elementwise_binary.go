package kernels

import (
	"errors"
	"math"
	"slices"

	"github.com/ood-agent/ood-agent/model"
)

// ErrDivisionByZero is returned by Eval when an integer DIV meets a zero
// divisor.
var ErrDivisionByZero = errors.New("integer division by zero")

// binaryKernel implements ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, MAXIMUM,
// MINIMUM and PRELU with broadcasting.
type binaryKernel struct {
	op  model.BuiltinOp
	typ model.TensorType
	act model.Activation
	ewRunner

	// simd is the ewF32Run code of a float32 op that runs on SIMD
	// (AVX2, NEON), or −1.
	simd int

	// Clamp range of the fused activation for float32, int32 and int64.
	fmin, fmax float32
	imin, imax int64

	q ewQuant

	// Typed views, refreshed at every Eval.
	f32 [3][]float32
	i32 [3][]int32
	i64 [3][]int64
	i16 [3][]int16
	i8  [3][]int8
	u8  [3][]uint8
}

func newBinary(op model.BuiltinOp) Factory {
	return func() Kernel { return &binaryKernel{op: op} }
}

func (k *binaryKernel) Prepare(ctx *Context, n *Node) error {
	if err := ewCheckIO(n, 2, 1); err != nil {
		return err
	}
	a, b, out := n.Inputs[0], n.Inputs[1], n.Outputs[0]
	if a.Type != b.Type {
		return errorf("input types differ: %s and %s", a.Type, b.Type)
	}
	if out.Type != a.Type {
		return errorf("output type %s, want %s like the inputs", out.Type, a.Type)
	}
	k.typ = a.Type
	if !k.supports(k.typ) {
		return unsupportedf("%s on %s", k.op, k.typ)
	}
	act, err := k.activation(n)
	if err != nil {
		return err
	}
	k.act = act
	shape, err := ewBroadcastShape(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	if k.op == model.OpPrelu && !slices.Equal(shape, a.Shape) {
		return errorf("alpha shape %v widens input shape %v", b.Shape, a.Shape)
	}
	plan, err := ewNewPlan(shape, a.Shape, b.Shape)
	if err != nil {
		return err
	}
	ewSetShape(out, shape)
	k.init(plan, k.segment)

	k.simd = -1
	if k.typ == model.Float32 && ctx.level().runs(familyFloat) {
		k.simd = ewF32Code(k.op)
	}
	k.fmin, k.fmax = ActivationRangeFloat(act)
	k.imin, k.imax = math.MinInt64, math.MaxInt64
	switch act {
	case model.ActRelu:
		k.imin = 0
	case model.ActRelu6:
		k.imin, k.imax = 0, 6
	case model.ActReluN1To1:
		k.imin, k.imax = -1, 1
	}
	if k.typ == model.Int32 {
		k.imin = max(k.imin, math.MinInt32)
		k.imax = min(k.imax, math.MaxInt32)
	}
	switch k.typ {
	case model.Int8, model.Uint8, model.Int16:
		for i, t := range []*Tensor{a, b, out} {
			if err := ewCheckQuantized([]string{"input 0", "input 1", "output"}[i], t); err != nil {
				return err
			}
		}
		return k.q.prepare(k.op, n, act)
	}
	return nil
}

// supports reports whether the kernel has an implementation for typ.
func (k *binaryKernel) supports(typ model.TensorType) bool {
	switch typ {
	case model.Float32:
		return true
	case model.Int32:
		return k.op != model.OpPrelu
	case model.Int64:
		switch k.op {
		case model.OpAdd, model.OpSub, model.OpMul, model.OpMaximum, model.OpMinimum:
			return true
		}
	case model.Int8, model.Uint8:
		return k.op != model.OpDiv
	case model.Int16:
		switch k.op {
		case model.OpAdd, model.OpSub, model.OpMul, model.OpMaximum, model.OpMinimum:
			return true
		}
	}
	return false
}

// activation reads the fused activation from the options that have one.
func (k *binaryKernel) activation(n *Node) (model.Activation, error) {
	var act model.Activation
	switch o := n.Options.(type) {
	case *model.AddOptions:
		act = o.Activation
	case *model.SubOptions:
		act = o.Activation
	case *model.MulOptions:
		act = o.Activation
	case *model.DivOptions:
		act = o.Activation
	}
	return act, CheckFusedActivation(act)
}

func (k *binaryKernel) Eval(ctx *Context, n *Node) error {
	ts := [3]*Tensor{n.Inputs[0], n.Inputs[1], n.Outputs[0]}
	switch k.typ {
	case model.Float32:
		k.f32 = ewViews[float32](ts)
	case model.Int32:
		k.i32 = ewViews[int32](ts)
	case model.Int64:
		k.i64 = ewViews[int64](ts)
	case model.Int16:
		k.i16 = ewViews[int16](ts)
	case model.Int8:
		k.i8 = ewViews[int8](ts)
	case model.Uint8:
		k.u8 = ewViews[uint8](ts)
	}
	if k.op == model.OpDiv && k.typ == model.Int32 {
		for _, v := range k.i32[1] {
			if v == 0 {
				return ErrDivisionByZero
			}
		}
	}
	k.run(ctx)
	return nil
}

// ewViews views the data of ts as E values.
func ewViews[E any](ts [3]*Tensor) (v [3][]E) {
	for i, t := range ts {
		v[i] = view[E](t.Data)
	}
	return v
}

// segment computes n outputs from o; see ewSegment.
func (k *binaryKernel) segment(o, n int, off [3]int) {
	xs, ys := k.plan.innerStride(0), k.plan.innerStride(1)
	switch k.typ {
	case model.Float32:
		if k.simd >= 0 {
			ewSIMDF32(k, k.f32[2][o:o+n], k.f32[0][off[0]:], xs, k.f32[1][off[1]:], ys)
			return
		}
		ewArithAct(k, k.f32[2][o:o+n], k.f32[0][off[0]:], xs, k.f32[1][off[1]:], ys, k.fmin, k.fmax)
	case model.Int32:
		ewArithAct(k, k.i32[2][o:o+n], k.i32[0][off[0]:], xs, k.i32[1][off[1]:], ys, int32(k.imin), int32(k.imax))
	case model.Int64:
		ewArithAct(k, k.i64[2][o:o+n], k.i64[0][off[0]:], xs, k.i64[1][off[1]:], ys, k.imin, k.imax)
	case model.Int8:
		ewQuantRow(&k.q, k.op, k.i8[2][o:o+n], k.i8[0][off[0]:], xs, k.i8[1][off[1]:], ys)
	case model.Uint8:
		ewQuantRow(&k.q, k.op, k.u8[2][o:o+n], k.u8[0][off[0]:], xs, k.u8[1][off[1]:], ys)
	case model.Int16:
		ewQuantRow(&k.q, k.op, k.i16[2][o:o+n], k.i16[0][off[0]:], xs, k.i16[1][off[1]:], ys)
	}
}

// ewNumber is the element types with native arithmetic.
// ewArithAct is ewArith followed by the clamp of a fused activation, whose
// range is [lo, hi].
func ewArithAct[T ewNumber](k *binaryKernel, dst, x []T, xs int, y []T, ys int, lo, hi T) {
	ewArith(k.op, dst, x, xs, y, ys)
	if k.act != model.ActNone {
		ewClamp(dst, lo, hi)
	}
}

// ewSIMDF32 is ewArithAct for float32 on the kernel's SIMD loop: whole
// steps of eight there, the tail and the activation's clamp in Go. A
// broadcast operand (stride 0) is written out eight times for the loop.
func ewSIMDF32(k *binaryKernel, dst, x []float32, xs int, y []float32, ys int) {
	n8 := len(dst) &^ 7
	if n8 > 0 {
		var xb, yb [8]float32
		xp, xinc, yp, yinc := &x[0], 32, &y[0], 32
		if xs == 0 {
			xb = [8]float32{x[0], x[0], x[0], x[0], x[0], x[0], x[0], x[0]}
			xp, xinc = &xb[0], 0
		}
		if ys == 0 {
			yb = [8]float32{y[0], y[0], y[0], y[0], y[0], y[0], y[0], y[0]}
			yp, yinc = &yb[0], 0
		}
		ewF32Run(k.simd, &dst[0], xp, yp, n8, xinc, yinc)
	}
	if n8 < len(dst) {
		ewArith(k.op, dst[n8:], x[n8*xs:], xs, y[n8*ys:], ys)
	}
	if k.act != model.ActNone {
		ewClamp(dst, k.fmin, k.fmax)
	}
}

type ewNumber interface {
	~float32 | ~int32 | ~int64
}

// ewArith computes dst[i] = x[i*xs] op y[i*ys] for the plain-arithmetic
// types. Each stride is 0 or 1; the loops are written out per case so that
// the compiler keeps them free of calls.
func ewArith[T ewNumber](op model.BuiltinOp, dst, x []T, xs int, y []T, ys int) {
	n := len(dst)
	switch {
	case xs == 1 && ys == 1:
		x, y = x[:n], y[:n]
		switch op {
		case model.OpAdd:
			for i := range dst {
				dst[i] = x[i] + y[i]
			}
		case model.OpSub:
			for i := range dst {
				dst[i] = x[i] - y[i]
			}
		case model.OpMul:
			for i := range dst {
				dst[i] = x[i] * y[i]
			}
		case model.OpDiv:
			for i := range dst {
				dst[i] = x[i] / y[i]
			}
		case model.OpSquaredDifference:
			for i := range dst {
				d := x[i] - y[i]
				dst[i] = d * d
			}
		case model.OpMaximum:
			for i := range dst {
				dst[i] = ewMax(x[i], y[i])
			}
		case model.OpMinimum:
			for i := range dst {
				dst[i] = ewMin(x[i], y[i])
			}
		case model.OpPrelu:
			for i := range dst {
				dst[i] = ewPrelu(x[i], y[i])
			}
		}
	case xs == 1 && ys == 0:
		x = x[:n]
		b := y[0]
		switch op {
		case model.OpAdd:
			for i := range dst {
				dst[i] = x[i] + b
			}
		case model.OpSub:
			for i := range dst {
				dst[i] = x[i] - b
			}
		case model.OpMul:
			for i := range dst {
				dst[i] = x[i] * b
			}
		case model.OpDiv:
			for i := range dst {
				dst[i] = x[i] / b
			}
		case model.OpSquaredDifference:
			for i := range dst {
				d := x[i] - b
				dst[i] = d * d
			}
		case model.OpMaximum:
			for i := range dst {
				dst[i] = ewMax(x[i], b)
			}
		case model.OpMinimum:
			for i := range dst {
				dst[i] = ewMin(x[i], b)
			}
		case model.OpPrelu:
			for i := range dst {
				dst[i] = ewPrelu(x[i], b)
			}
		}
	case xs == 0 && ys == 1:
		y = y[:n]
		a := x[0]
		switch op {
		case model.OpAdd:
			for i := range dst {
				dst[i] = a + y[i]
			}
		case model.OpSub:
			for i := range dst {
				dst[i] = a - y[i]
			}
		case model.OpMul:
			for i := range dst {
				dst[i] = a * y[i]
			}
		case model.OpDiv:
			for i := range dst {
				dst[i] = a / y[i]
			}
		case model.OpSquaredDifference:
			for i := range dst {
				d := a - y[i]
				dst[i] = d * d
			}
		case model.OpMaximum:
			for i := range dst {
				dst[i] = ewMax(a, y[i])
			}
		case model.OpMinimum:
			for i := range dst {
				dst[i] = ewMin(a, y[i])
			}
		case model.OpPrelu:
			for i := range dst {
				dst[i] = ewPrelu(a, y[i])
			}
		}
	default:
		var v T
		a, b := x[0], y[0]
		switch op {
		case model.OpAdd:
			v = a + b
		case model.OpSub:
			v = a - b
		case model.OpMul:
			v = a * b
		case model.OpDiv:
			v = a / b
		case model.OpSquaredDifference:
			v = (a - b) * (a - b)
		case model.OpMaximum:
			v = ewMax(a, b)
		case model.OpMinimum:
			v = ewMin(a, b)
		case model.OpPrelu:
			v = ewPrelu(a, b)
		}
		for i := range dst {
			dst[i] = v
		}
	}
}

// ewMax and ewMin compare as TFLite's reference does (first operand only
// when strictly greater, resp. smaller), which fixes how ties and NaNs go.
func ewMax[T ewNumber](a, b T) T {
	if a > b {
		return a
	}
	return b
}

func ewMin[T ewNumber](a, b T) T {
	if a < b {
		return a
	}
	return b
}

func ewPrelu[T ewNumber](x, alpha T) T {
	if x >= 0 {
		return x
	}
	return x * alpha
}

// ewClamp clamps every element of dst to [lo, hi].
func ewClamp[T ewNumber](dst []T, lo, hi T) {
	for i, v := range dst {
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		dst[i] = v
	}
}
