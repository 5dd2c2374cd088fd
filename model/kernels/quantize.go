package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// quantizeKernel implements QUANTIZE: float32 to int8, uint8 or int16
// (per tensor or per channel), and requantization between int8, uint8 and
// int16 with a fixed-point multiplier as TFLite's quantize.cc does.
type quantizeKernel struct {
	inType, outType model.TensorType
	qmin, qmax      int32

	// float32 input.
	scales       []float32
	zps          []int32
	chans, inner int // per-channel layout; chans == 1 for per-tensor

	// Requantization.
	lut         [256]uint8
	mult        int32
	shift       int
	zpIn, zpOut int32

	ewBlocks
}

func newQuantize() Kernel { return &quantizeKernel{} }

func (k *quantizeKernel) Prepare(ctx *Context, n *Node) error {
	if err := ewCheckIO(n, 1, 1); err != nil {
		return err
	}
	in, out := n.Inputs[0], n.Outputs[0]
	k.inType, k.outType = in.Type, out.Type
	switch k.outType {
	case model.Int8, model.Uint8, model.Int16:
	default:
		return unsupportedf("QUANTIZE to %s", k.outType)
	}
	if err := ewCheckQuantized("output", out); err != nil {
		return err
	}
	ewSetShape(out, in.Shape)
	k.setBlocks(in.NumElements(), k.span)
	k.qmin, k.qmax = QuantRange(k.outType)
	switch k.inType {
	case model.Float32:
		return k.prepareFloat(out)
	case model.Int8, model.Uint8, model.Int16:
	default:
		return unsupportedf("QUANTIZE from %s", k.inType)
	}
	if err := ewCheckQuantized("input", in); err != nil {
		return err
	}
	if len(out.Quant.Scale) > 1 || len(in.Quant.Scale) > 1 {
		return unsupportedf("per-channel requantization")
	}
	k.zpIn, k.zpOut = in.ZeroPoint(), out.ZeroPoint()
	k.mult, k.shift = QuantizeMultiplier(in.Scale() / out.Scale())
	if k.inType != model.Int16 {
		lo, hi := QuantRange(k.inType)
		for q := lo; q <= hi; q++ {
			k.lut[uint8(q)] = uint8(k.requant(q))
		}
	}
	return nil
}

func (k *quantizeKernel) prepareFloat(out *Tensor) error {
	var err error
	if k.chans, k.inner, err = ewChannels("output", out); err != nil {
		return err
	}
	q := out.Quant
	k.scales = make([]float32, k.chans)
	k.zps = ewZeroPoints(q, k.chans)
	for c := range k.scales {
		k.scales[c] = q.Scale[c]
		if k.scales[c] <= 0 {
			return errorf("output scale %d is %g, want > 0", c, k.scales[c])
		}
	}
	return nil
}

// ewChannels returns the quantization channels of t, named what in
// errors, and the run of elements that share a channel: one channel
// covering every element for per-tensor quantization.
func ewChannels(what string, t *Tensor) (chans, inner int, err error) {
	q := t.Quant
	if len(q.Scale) <= 1 {
		return 1, t.NumElements(), nil
	}
	dim := q.QuantizedDimension
	if dim < 0 || dim >= len(t.Shape) || t.Shape[dim] != len(q.Scale) {
		return 0, 0, errorf("%s has %d scales for dimension %d of shape %v", what, len(q.Scale), dim, t.Shape)
	}
	return len(q.Scale), NumElements(t.Shape[dim+1:]), nil
}

// ewZeroPoints returns the zero points of q's chans channels; missing ones
// are zero.
func ewZeroPoints(q *model.Quantization, chans int) []int32 {
	zps := make([]int32, chans)
	for c := range zps {
		if c < len(q.ZeroPoint) {
			zps[c] = int32(q.ZeroPoint[c])
		}
	}
	return zps
}

// requant is TFLite's Requantize for one value.
func (k *quantizeKernel) requant(q int32) int32 {
	v := MultiplyByQuantizedMultiplier(q-k.zpIn, k.mult, k.shift) + k.zpOut
	return Clamp32(v, k.qmin, k.qmax)
}

func (k *quantizeKernel) Eval(ctx *Context, n *Node) error {
	k.runBlocks(ctx, n, k.inType == model.Float32)
	return nil
}

// span computes elements [s, e).
func (k *quantizeKernel) span(s, e int) {
	switch k.inType {
	case model.Float32:
		src := view[float32](k.in)[s:e]
		switch k.outType {
		case model.Int8:
			ewQuantizeFloats(k, view[int8](k.out)[s:e], src, s)
		case model.Uint8:
			ewQuantizeFloats(k, k.out[s:e], src, s)
		case model.Int16:
			ewQuantizeFloats(k, view[int16](k.out)[s:e], src, s)
		}
	case model.Int8, model.Uint8:
		switch {
		case k.outType != model.Int16:
			ewLookup(k.out[s:e], k.in[s:e], &k.lut)
		case k.inType == model.Int8:
			ewRequantize(k, view[int16](k.out)[s:e], view[int8](k.in)[s:e])
		default:
			ewRequantize(k, view[int16](k.out)[s:e], k.in[s:e])
		}
	case model.Int16:
		src := view[int16](k.in)[s:e]
		switch k.outType {
		case model.Int8:
			ewRequantize(k, view[int8](k.out)[s:e], src)
		case model.Uint8:
			ewRequantize(k, k.out[s:e], src)
		case model.Int16:
			ewRequantize(k, view[int16](k.out)[s:e], src)
		}
	}
}

// ewRequantize requantizes src into dst.
func ewRequantize[O, I ewQuantInt](k *quantizeKernel, dst []O, src []I) {
	for i, v := range src {
		dst[i] = O(k.requant(int32(v)))
	}
}

// ewLookup maps each byte of src through lut into dst.
func ewLookup[T uint8 | float32](dst []T, src []byte, lut *[256]T) {
	for i, v := range src {
		dst[i] = lut[v]
	}
}

// ewQuantizeFloats quantizes src, whose first element is flat element base
// of the tensor, rounding half away from zero like TFLite.
func ewQuantizeFloats[T ewQuantInt](k *quantizeKernel, dst []T, src []float32, base int) {
	if k.chans == 1 {
		s, zp := k.scales[0], k.zps[0]
		for i, x := range src {
			dst[i] = T(ewQuantizeValue(x, s, zp, k.qmin, k.qmax))
		}
		return
	}
	for i, x := range src {
		c := (base + i) / k.inner % k.chans
		dst[i] = T(ewQuantizeValue(x, k.scales[c], k.zps[c], k.qmin, k.qmax))
	}
}

// ewQuantizeValue is round(x/scale)+zp clamped to [qmin, qmax]; NaN maps to
// the zero point.
func ewQuantizeValue(x, scale float32, zp, qmin, qmax int32) int32 {
	return ewRoundToQuant(math.Round(float64(x/scale)), zp, qmin, qmax)
}

// dequantizeKernel implements DEQUANTIZE: int8, uint8, int16 (per tensor or
// per channel) and float16 to float32.
type dequantizeKernel struct {
	inType       model.TensorType
	size         int
	lut          [256]float32
	scales       []float64
	zps          []int32
	chans, inner int
}

func newDequantize() Kernel { return &dequantizeKernel{} }

func (k *dequantizeKernel) Prepare(ctx *Context, n *Node) error {
	if err := ewCheckIO(n, 1, 1); err != nil {
		return err
	}
	in, out := n.Inputs[0], n.Outputs[0]
	if out.Type != model.Float32 {
		return unsupportedf("DEQUANTIZE to %s", out.Type)
	}
	k.inType = in.Type
	ewSetShape(out, in.Shape)
	k.size = in.NumElements()
	switch k.inType {
	case model.Float16:
		return nil
	case model.Int8, model.Uint8, model.Int16:
	default:
		return unsupportedf("DEQUANTIZE from %s", k.inType)
	}
	if !in.Quantized() {
		return errorf("input %s: %s tensor without quantization", in.Name, in.Type)
	}
	var err error
	if k.chans, k.inner, err = ewChannels("input", in); err != nil {
		return err
	}
	q := in.Quant
	k.scales = make([]float64, k.chans)
	k.zps = ewZeroPoints(q, k.chans)
	for c := range k.scales {
		k.scales[c] = float64(q.Scale[c])
	}
	if k.chans == 1 && k.inType != model.Int16 {
		lo, hi := QuantRange(k.inType)
		for v := lo; v <= hi; v++ {
			k.lut[uint8(v)] = float32(k.scales[0] * float64(v-k.zps[0]))
		}
	}
	return nil
}

func (k *dequantizeKernel) Eval(ctx *Context, n *Node) error {
	src, dst := n.Inputs[0].Data, view[float32](n.Outputs[0].Data)[:k.size]
	switch k.inType {
	case model.Float16:
		for i, h := range view[uint16](src)[:k.size] {
			dst[i] = ewHalfToFloat(h)
		}
	case model.Int8, model.Uint8:
		if k.chans == 1 {
			ewLookup(dst, src[:k.size], &k.lut)
			return nil
		}
		if k.inType == model.Int8 {
			ewDequantizeChannels(k, dst, view[int8](src)[:k.size])
		} else {
			ewDequantizeChannels(k, dst, src[:k.size])
		}
	case model.Int16:
		ewDequantizeChannels(k, dst, view[int16](src)[:k.size])
	}
	return nil
}

func ewDequantizeChannels[T ewQuantInt](k *dequantizeKernel, dst []float32, src []T) {
	for i, v := range src {
		c := i / k.inner % k.chans
		dst[i] = float32(k.scales[c] * float64(int32(v)-k.zps[c]))
	}
}

// ewHalfToFloat decodes an IEEE 754 binary16 value.
func ewHalfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: frac·2^-24, exact in float32.
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}
