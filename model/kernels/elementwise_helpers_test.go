package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// Test helpers of the elementwise group; every name carries the ew prefix
// so that they cannot clash with other groups' tests in this package.

// ewQ returns per-tensor quantization parameters.
func ewQ(scale float32, zp int64) *model.Quantization {
	return &model.Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}}
}

// ewNew returns a tensor with zeroed data of the given type and shape.
func ewNew(typ model.TensorType, shape []int, q *model.Quantization) *Tensor {
	t := &Tensor{Name: "t", Type: typ, Shape: append([]int(nil), shape...), Quant: q}
	t.Data = AlignedBytes(t.Bytes())
	return t
}

func ewF32(shape []int, vals ...float32) *Tensor {
	t := ewNew(model.Float32, shape, nil)
	copy(t.F32(), vals)
	return t
}

func ewI32(shape []int, vals ...int32) *Tensor {
	t := ewNew(model.Int32, shape, nil)
	copy(t.I32(), vals)
	return t
}

// ewOut returns an output tensor whose shape Prepare fills in.
func ewOut(typ model.TensorType, q *model.Quantization) *Tensor {
	return &Tensor{Name: "out", Type: typ, Quant: q}
}

// ewPrepare builds the node, prepares the kernel and allocates the
// output's data, as the interpreter does.
func ewPrepare(t testing.TB, f Factory, op model.BuiltinOp, opts any, ctx *Context, out *Tensor, ins ...*Tensor) (Kernel, *Node) {
	t.Helper()
	n := &Node{Op: op, Version: 1, Options: opts, Inputs: ins, Outputs: []*Tensor{out}}
	k := f()
	if err := k.Prepare(ctx, n); err != nil {
		t.Fatalf("%s Prepare: %v", op, err)
	}
	out.Data = AlignedBytes(out.Bytes())
	return k, n
}

// ewEval prepares and evaluates once, failing the test on any error.
func ewEval(t testing.TB, f Factory, op model.BuiltinOp, opts any, ctx *Context, out *Tensor, ins ...*Tensor) {
	t.Helper()
	k, n := ewPrepare(t, f, op, opts, ctx, out, ins...)
	if err := k.Eval(ctx, n); err != nil {
		t.Fatalf("%s Eval: %v", op, err)
	}
}

// ewContexts returns a single-threaded and a two-thread context; the caller
// closes them with ewClose.
func ewContexts() []*Context { return []*Context{NewContext(1), NewContext(2)} }

func ewClose(cs []*Context) {
	for _, c := range cs {
		c.Close()
	}
}

// ewRandShape returns a random shape of rank in [0, maxRank] with
// dimensions in [1, maxDim].
func ewRandShape(r *rand.Rand, maxRank, maxDim int) []int {
	s := make([]int, r.IntN(maxRank+1))
	for i := range s {
		s[i] = 1 + r.IntN(maxDim)
	}
	return s
}

// ewBroadcastable derives a shape that broadcasts to s: a random suffix of
// s with some dimensions replaced by 1.
func ewBroadcastable(r *rand.Rand, s []int) []int {
	k := r.IntN(len(s) + 1)
	b := append([]int(nil), s[len(s)-k:]...)
	for i := range b {
		if r.IntN(3) == 0 {
			b[i] = 1
		}
	}
	return b
}

// ewIndex maps a flat output index to the flat index of an input of shape
// in broadcast to out, the slow obvious way.
func ewIndex(out, in []int, flat int) int {
	coords := make([]int, len(out))
	for d := len(out) - 1; d >= 0; d-- {
		coords[d] = flat % out[d]
		flat /= out[d]
	}
	idx := 0
	for d := range in {
		c := coords[len(out)-len(in)+d]
		if in[d] == 1 {
			c = 0
		}
		idx = idx*in[d] + c
	}
	return idx
}

// ewRandFloats fills a float32 tensor with values in [lo, hi).
func ewRandFloats(r *rand.Rand, t *Tensor, lo, hi float32) {
	for i := range t.F32() {
		t.F32()[i] = lo + (hi-lo)*r.Float32()
	}
}

// ewRandQuant fills a quantized tensor with random raw values.
func ewRandQuant(r *rand.Rand, t *Tensor) {
	lo, hi := QuantRange(t.Type)
	for i := 0; i < t.NumElements(); i++ {
		ewSetQ(t, i, lo+int32(r.IntN(int(hi-lo)+1)))
	}
}

// ewGetQ and ewSetQ read and write raw quantized values of any type.
func ewGetQ(t *Tensor, i int) int32 {
	switch t.Type {
	case model.Int8:
		return int32(t.I8()[i])
	case model.Uint8:
		return int32(t.U8()[i])
	case model.Int16:
		return int32(t.I16()[i])
	case model.Int32:
		return t.I32()[i]
	}
	panic("ewGetQ: type " + t.Type.String())
}

func ewSetQ(t *Tensor, i int, v int32) {
	switch t.Type {
	case model.Int8:
		t.I8()[i] = int8(v)
	case model.Uint8:
		t.U8()[i] = uint8(v)
	case model.Int16:
		t.I16()[i] = int16(v)
	case model.Int32:
		t.I32()[i] = v
	default:
		panic("ewSetQ: type " + t.Type.String())
	}
}

// ewDeq dequantizes element i of a per-tensor quantized tensor.
func ewDeq(t *Tensor, i int) float64 {
	return t.Scale() * float64(ewGetQ(t, i)-t.ZeroPoint())
}

// ewQuantRef quantizes a real value onto t's scale with rounding to nearest
// and clamping, the ideal a quantized kernel approximates.
func ewQuantRef(t *Tensor, v float64) int32 {
	lo, hi := QuantRange(t.Type)
	q := math.Round(v/t.Scale()) + float64(t.ZeroPoint())
	return int32(math.Max(float64(lo), math.Min(float64(hi), q)))
}

// ewRandQuantParams picks a scale in [lo, hi) and a zero point that keeps
// some room on both sides of the type's range.
func ewRandQuantParams(r *rand.Rand, typ model.TensorType, lo, hi float64) *model.Quantization {
	s := lo + (hi-lo)*r.Float64()
	var zp int64
	switch typ {
	case model.Int8:
		zp = int64(r.IntN(129)) - 64
	case model.Uint8:
		zp = int64(r.IntN(129)) + 64
	}
	return ewQ(float32(s), zp)
}

func ewAbsDiff(a, b int32) int32 {
	if a > b {
		return a - b
	}
	return b - a
}
