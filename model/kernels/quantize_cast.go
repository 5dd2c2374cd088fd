package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// castKernel implements CAST between float32, int32, int64, int16, int8,
// uint8 and bool. Floats convert to integers by truncation toward zero
// (wrapping through int64 when out of range), integers wrap, and anything
// non-zero becomes true.
type castKernel struct {
	inType, outType model.TensorType
	size            int
}

func newCast() Kernel { return &castKernel{} }

func ewCastable(t model.TensorType) bool {
	switch t {
	case model.Float32, model.Int32, model.Int64, model.Int16, model.Int8, model.Uint8, model.Bool:
		return true
	}
	return false
}

func (k *castKernel) Prepare(ctx *Context, n *Node) error {
	if err := ewCheckIO(n, 1, 1); err != nil {
		return err
	}
	in, out := n.Inputs[0], n.Outputs[0]
	if !ewCastable(in.Type) || !ewCastable(out.Type) {
		return unsupportedf("CAST from %s to %s", in.Type, out.Type)
	}
	k.inType, k.outType = in.Type, out.Type
	ewSetShape(out, in.Shape)
	k.size = in.NumElements()
	return nil
}

func (k *castKernel) Eval(ctx *Context, n *Node) error {
	src, dst := n.Inputs[0], n.Outputs[0]
	switch k.inType {
	case model.Float32:
		ewCastFrom(k, dst, src.F32()[:k.size])
	case model.Int32:
		ewCastFrom(k, dst, src.I32()[:k.size])
	case model.Int64:
		ewCastFrom(k, dst, src.I64()[:k.size])
	case model.Int16:
		ewCastFrom(k, dst, src.I16()[:k.size])
	case model.Int8:
		ewCastFrom(k, dst, src.I8()[:k.size])
	case model.Uint8, model.Bool:
		// bool is one byte holding 0 or 1.
		ewCastFrom(k, dst, src.U8()[:k.size])
	}
	return nil
}

type ewCastSource interface {
	~float32 | ~int32 | ~int64 | ~int16 | ~int8 | ~uint8
}

func ewCastFrom[I ewCastSource](k *castKernel, dst *Tensor, src []I) {
	float := k.inType == model.Float32
	switch k.outType {
	case model.Float32:
		d := dst.F32()
		for i, v := range src {
			d[i] = float32(v)
		}
	case model.Int32:
		ewCastInts(dst.I32(), src, float)
	case model.Int64:
		ewCastInts(dst.I64(), src, float)
	case model.Int16:
		ewCastInts(dst.I16(), src, float)
	case model.Int8:
		ewCastInts(dst.I8(), src, float)
	case model.Uint8:
		ewCastInts(dst.U8(), src, float)
	case model.Bool:
		d := dst.U8()
		for i, v := range src {
			if v != 0 {
				d[i] = 1
			} else {
				d[i] = 0
			}
		}
	}
}

// ewCastInts converts src to the integers of d, wrapping through int64.
func ewCastInts[O ~int32 | ~int64 | ~int16 | ~int8 | ~uint8, I ewCastSource](d []O, src []I, float bool) {
	for i, v := range src {
		d[i] = O(ewToInt64(v, float))
	}
}

// ewToInt64 converts v to int64; floats truncate toward zero and saturate
// outside the int64 range, with NaN becoming 0.
func ewToInt64[I ewCastSource](v I, float bool) int64 {
	if !float {
		return int64(v)
	}
	f := float64(v)
	switch {
	case f != f:
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}
