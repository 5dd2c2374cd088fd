package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// Shared geometry and quantization set-up of CONV_2D, DEPTHWISE_CONV_2D and
// FULLY_CONNECTED.

// convOperands returns the input, filter, optional bias and output of a
// CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED node; filterName is what
// errors call the filter ("weights" for fully connected).
func convOperands(n *Node, filterName string) (in, filter, bias, out *Tensor, err error) {
	if len(n.Inputs) < 2 || len(n.Outputs) != 1 {
		return nil, nil, nil, nil, errorf("want 2 or 3 inputs and 1 output, got %d and %d", len(n.Inputs), len(n.Outputs))
	}
	in, filter, bias, out = n.Inputs[0], n.Inputs[1], n.Input(2), n.Outputs[0]
	if in == nil || filter == nil {
		return nil, nil, nil, nil, errorf("input and %s are required", filterName)
	}
	return in, filter, bias, out, nil
}

// convCheckWeights checks what the three ops require of their weights and
// fused activation: the filter is packed at Prepare, so it must be
// constant, and constant operands must hold their data.
func convCheckWeights(filterName string, filter, bias *Tensor, act model.Activation) error {
	if !filter.Const {
		return unsupportedf("non-constant %s", filterName)
	}
	if err := convCheckConst(filterName, filter); err != nil {
		return err
	}
	if err := convCheckConst("bias", bias); err != nil {
		return err
	}
	return CheckFusedActivation(act)
}

// convKind is the arithmetic a convolution-like op runs for its types.
type convKind int

const (
	convKindF32 convKind = iota // float32 throughout
	convKindQ8                  // int8 or uint8 throughout
	convKindI16                 // int16 input and output, int8 filter
)

// convKindOf returns the arithmetic for the operand types, or an error
// wrapping ErrUnsupported for a combination no kernel runs.
func convKindOf(in, filter, out *Tensor, filterName string) (convKind, error) {
	if out.Type != in.Type {
		return 0, unsupportedf("input %s with output %s", in.Type, out.Type)
	}
	switch {
	case in.Type == model.Float32 && filter.Type == model.Float32:
		return convKindF32, nil
	case in.Type == model.Int8 && filter.Type == model.Int8,
		in.Type == model.Uint8 && filter.Type == model.Uint8:
		return convKindQ8, nil
	case in.Type == model.Int16 && filter.Type == model.Int8:
		return convKindI16, nil
	}
	return 0, unsupportedf("input %s with %s %s", in.Type, filterName, filter.Type)
}

// convOp is what CONV_2D and DEPTHWISE_CONV_2D read from their node.
type convOp struct {
	in, filter, bias, out *Tensor
	kind                  convKind
	act                   model.Activation
}

// setup reads a convolution node's options and operands and works out
// the geometry: filters [outC][h][w][inC], or [1][h][w][outC] when
// depthwise.
func (g *convGeometry) setup(n *Node, depthwise bool) (convOp, error) {
	var (
		op                                     convOp
		padding                                model.Padding
		strideH, strideW, dilationH, dilationW int32
	)
	ok := false
	switch o := n.Options.(type) {
	case *model.Conv2DOptions:
		if ok = o != nil && !depthwise; ok {
			padding, strideH, strideW, dilationH, dilationW, op.act = o.Padding, o.StrideH, o.StrideW, o.DilationH, o.DilationW, o.Activation
		}
	case *model.DepthwiseConv2DOptions:
		if ok = o != nil && depthwise; ok {
			padding, strideH, strideW, dilationH, dilationW, op.act = o.Padding, o.StrideH, o.StrideW, o.DilationH, o.DilationW, o.Activation
		}
	}
	if !ok {
		if depthwise {
			return op, errorf("missing DepthwiseConv2DOptions")
		}
		return op, errorf("missing Conv2DOptions")
	}
	var err error
	op.in, op.filter, op.bias, op.out, err = g.operands(n, op.act, depthwise)
	if err != nil {
		return op, err
	}
	shape := op.filter.Shape
	if depthwise {
		g.filterH, g.filterW, g.outC = shape[1], shape[2], shape[3]
	} else {
		g.outC, g.filterH, g.filterW = shape[0], shape[1], shape[2]
		if shape[3] != g.inC {
			return op, unsupportedf("filter depth %d differs from input depth %d (grouped convolution)", shape[3], g.inC)
		}
	}
	if g.outC <= 0 || g.inC <= 0 || g.filterH <= 0 || g.filterW <= 0 {
		return op, errorf("empty filter %v or input %v", shape, op.in.Shape)
	}
	op.kind, err = g.output(padding, strideH, strideW, dilationH, dilationW, op.in, op.filter, op.out)
	return op, err
}

// operands is the common start of CONV_2D's and DEPTHWISE_CONV_2D's
// Prepare: it checks the operands (an NHWC input, a constant rank-4 filter,
// [1 h w c] when depthwise) and the fused activation, and fills g's batch
// and input dimensions.
func (g *convGeometry) operands(n *Node, act model.Activation, depthwise bool) (in, filter, bias, out *Tensor, err error) {
	in, filter, bias, out, err = convOperands(n, "filter")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(in.Shape) != 4 {
		return nil, nil, nil, nil, errorf("input: want rank 4, got %v", in.Shape)
	}
	switch {
	case len(filter.Shape) != 4 && !depthwise:
		return nil, nil, nil, nil, errorf("filter: want rank 4, got %v", filter.Shape)
	case (len(filter.Shape) != 4 || filter.Shape[0] != 1) && depthwise:
		return nil, nil, nil, nil, errorf("filter: want shape [1 h w c], got %v", filter.Shape)
	}
	if err := convCheckWeights("filter", filter, bias, act); err != nil {
		return nil, nil, nil, nil, err
	}
	g.batches, g.inH, g.inW, g.inC = in.Shape[0], in.Shape[1], in.Shape[2], in.Shape[3]
	return in, filter, bias, out, nil
}

// output is the common end of CONV_2D's and DEPTHWISE_CONV_2D's shape
// checks, once g's filter and channel dimensions are set: it works out the
// output size, shapes out and returns the arithmetic to run.
func (g *convGeometry) output(p model.Padding, strideH, strideW, dilationH, dilationW int32, in, filter, out *Tensor) (convKind, error) {
	if err := convSpatial(g, p, strideH, strideW, dilationH, dilationW); err != nil {
		return 0, err
	}
	out.Shape = []int{g.batches, g.outH, g.outW, g.outC}
	return convKindOf(in, filter, out, "filter")
}

// gemmPreparer is an op that runs as a matrix product on the shared GEMM
// runners (CONV_2D and FULLY_CONNECTED), with one preparation per
// arithmetic.
type gemmPreparer interface {
	prepareF32(ctx *Context, n *Node, parts int, filter, bias *Tensor, act model.Activation) error
	prepareQ8(ctx *Context, n *Node, parts int, in, filter, bias, out *Tensor, act model.Activation) error
	prepareI16(parts int, in, filter, bias, out *Tensor, act model.Activation) error
}

// prepareGEMM runs p's preparation for kind, split into parts workers.
func prepareGEMM(p gemmPreparer, kind convKind, ctx *Context, n *Node, parts int, in, filter, bias, out *Tensor, act model.Activation) error {
	switch kind {
	case convKindF32:
		return p.prepareF32(ctx, n, parts, filter, bias, act)
	case convKindQ8:
		return p.prepareQ8(ctx, n, parts, in, filter, bias, out, act)
	}
	return p.prepareI16(parts, in, filter, bias, out, act)
}

// convGeometry is the spatial arrangement of a 2-D convolution over NHWC
// tensors.
type convGeometry struct {
	batches          int
	inH, inW, inC    int
	outH, outW, outC int
	filterH, filterW int
	strideH, strideW int
	dilationH        int
	dilationW        int
	padTop, padLeft  int
	padBottom        int
	padRight         int
}

// convOutputSize returns the output length and the leading padding of one
// spatial dimension, as TFLite computes them: SAME pads so that the output
// is ceil(in/stride), putting the odd padding element at the end.
func convOutputSize(p model.Padding, in, filter, stride, dilation int) (out, padBefore, padAfter int, err error) {
	eff := (filter-1)*dilation + 1
	switch p {
	case model.PaddingSame:
		out = (in + stride - 1) / stride
	case model.PaddingValid:
		out = (in + stride - eff) / stride
	default:
		return 0, 0, 0, unsupportedf("padding %d", p)
	}
	if out <= 0 {
		return 0, 0, 0, errorf("filter extent %d does not fit input extent %d", eff, in)
	}
	total := max((out-1)*stride+eff-in, 0)
	return out, total / 2, total - total/2, nil
}

// convSpatial fills the spatial part of g from the options and the
// input and filter extents.
func convSpatial(g *convGeometry, p model.Padding, strideH, strideW, dilationH, dilationW int32) error {
	if strideH < 1 || strideW < 1 {
		return errorf("stride %dx%d: want at least 1", strideH, strideW)
	}
	if dilationH < 1 || dilationW < 1 {
		return errorf("dilation %dx%d: want at least 1", dilationH, dilationW)
	}
	g.strideH, g.strideW = int(strideH), int(strideW)
	g.dilationH, g.dilationW = int(dilationH), int(dilationW)
	var err error
	g.outH, g.padTop, g.padBottom, err = convOutputSize(p, g.inH, g.filterH, g.strideH, g.dilationH)
	if err != nil {
		return errorf("height: %w", err)
	}
	g.outW, g.padLeft, g.padRight, err = convOutputSize(p, g.inW, g.filterW, g.strideW, g.dilationW)
	if err != nil {
		return errorf("width: %w", err)
	}
	return nil
}

// convRounding selects how 8-bit kernels rescale their int32 sums. The
// integer sums are exact and identical either way; only the final rounding
// differs, by at most one step per value, but the differences compound over
// deep networks, so a model matches a given runtime only with its rounding.
type convRounding int

const (
	// convRoundRuntime multiplies by the float32 scale
	// s_in·s_filter/s_out and rounds half to even, as TFLite's default
	// runtime does through XNNPACK. Outputs of the conformance models
	// match the real runtime bit for bit this way.
	convRoundRuntime convRounding = iota
	// convRoundReference uses a Q31 multiplier with TFLite's
	// MultiplyByQuantizedMultiplier (a rounding doubling high multiply,
	// then a rounding right shift), as TFLite's reference kernels and
	// TFLite Micro do.
	convRoundReference
)

// convRequant holds the fixed-point rescaling of one output channel: the
// Q31 multiplier with its shift split into a left shift applied before the
// doubling high multiply and a rounding right shift after it.
type convRequant struct {
	mult        int32
	left, right uint32
	shift       int32 // combined, for the 64-bit variant
}

func newConvRequant(real float64) convRequant {
	q, shift := QuantizeMultiplier(real)
	r := convRequant{mult: q, shift: int32(shift)}
	if shift > 0 {
		r.left = uint32(shift)
	} else {
		r.right = uint32(-shift)
	}
	return r
}

// apply computes MultiplyByQuantizedMultiplier(x, mult, shift) exactly:
// gemmlowp's rounding doubling high multiply (its nudge rounds ties up)
// followed by a right shift rounding half away from zero. The multiplier
// is never negative, so the saturating case of the high multiply cannot
// occur.
func (r convRequant) apply(x int32) int32 {
	ab := int64(x<<r.left) * int64(r.mult)
	nudge := int64(1 << 30)
	if ab < 0 {
		nudge = 1 - 1<<30
	}
	hm := int32((ab + nudge) / (1 << 31))
	mask := int32(1)<<r.right - 1
	threshold := mask >> 1
	if hm < 0 {
		threshold++
	}
	out := hm >> r.right
	if hm&mask > threshold {
		out++
	}
	return out
}

// convMagic is 1.5·2^52: adding it to a float64 of magnitude below 2^51
// rounds to an integer, half to even, left in the low mantissa bits. Every
// float32 product of an int32 sum and a scale below 2^20 is that small.
const (
	convMagic     = 6755399441055744.0
	convMagicBits = 0x4338000000000000
)

// convQuant is the output quantization of a convolution-like op.
type convQuant struct {
	rounding convRounding
	fixed    []convRequant // per channel, for convRoundReference and int16
	scale    []float32     // per channel, for convRoundRuntime
	outZP    int32
	lo, hi   int32
}

// round rescales the sum acc of channel c, adds the output zero point and
// clamps to the activation range.
func (q *convQuant) round(acc int32, c int) int32 {
	if q.rounding == convRoundRuntime {
		return q.roundRuntime(acc, q.scale[c])
	}
	return q.roundReference(acc, c)
}

// roundRuntime is round for convRoundRuntime with the channel's scale. It
// has no branches: ReLU outputs clamp about half the time, unpredictably.
func (q *convQuant) roundRuntime(acc int32, scale float32) int32 {
	v := convRoundBits(acc, scale) + int64(q.outZP) - convMagicBits
	return int32(min(max(v, int64(q.lo)), int64(q.hi)))
}

// convRoundBits returns acc·scale rounded to float32 and then to an
// integer, half to even, plus convMagicBits.
func convRoundBits(acc int32, scale float32) int64 {
	// The explicit conversion keeps the product rounded to float32 where
	// the compiler could otherwise fuse it with the addition.
	f := float32(float32(acc) * scale)
	return int64(math.Float64bits(float64(f) + convMagic))
}

// roundReference is round for convRoundReference.
func (q *convQuant) roundReference(acc int32, c int) int32 {
	v := q.fixed[c].apply(acc) + q.outZP
	return min(max(v, q.lo), q.hi)
}

// convScaleMode selects how the real multiplier of the reference rounding
// is formed, which decides bit-exactness: TFLite multiplies input and
// filter scales in float32 for its per-tensor (legacy) paths and in
// float64 for per-channel paths.
type convScaleMode int

const (
	convScalePerChannel convScaleMode = iota // float64 product, one per channel
	convScaleLegacy                          // float32 product, one for all channels
)

// newConvQuant computes the per-channel requantization for n output
// channels. Filter scales may be per tensor or per channel along dim.
func newConvQuant(in, filter, out *Tensor, n, dim int, mode convScaleMode, rounding convRounding, act model.Activation) (convQuant, error) {
	if !in.Quantized() || !filter.Quantized() || !out.Quantized() {
		return convQuant{}, errorf("quantized op needs scales on input, filter and output")
	}
	fs := filter.Quant.Scale
	if len(fs) != 1 && len(fs) != n {
		return convQuant{}, errorf("filter has %d scales, want 1 or %d", len(fs), n)
	}
	if len(fs) > 1 && filter.Quant.QuantizedDimension != dim {
		return convQuant{}, errorf("filter quantized along dimension %d, want %d", filter.Quant.QuantizedDimension, dim)
	}
	inScale, outScale := float32(in.Scale()), float32(out.Scale())
	if !(outScale > 0) || math.IsInf(float64(outScale), 0) {
		return convQuant{}, errorf("output scale %v: want a positive finite value", outScale)
	}
	q := convQuant{
		rounding: rounding,
		fixed:    make([]convRequant, n),
		scale:    make([]float32, n),
		outZP:    out.ZeroPoint(),
	}
	for c := range q.fixed {
		s := fs[0]
		if len(fs) > 1 {
			s = fs[c]
		}
		var real float64
		if mode == convScaleLegacy && len(fs) == 1 {
			// Rounded to float32 as TFLite's GetQuantizedConvolutionMultipler does.
			real = float64(float32(inScale*s)) / float64(outScale)
		} else {
			real = float64(inScale) * float64(s) / float64(outScale)
		}
		if real < 0 || math.IsNaN(real) || math.IsInf(real, 0) {
			return convQuant{}, errorf("channel %d: invalid effective scale %v", c, real)
		}
		q.fixed[c] = newConvRequant(real)
		// XNNPACK's requantization scale, in float32 arithmetic.
		q.scale[c] = float32(float32(inScale*s) / outScale)
		if rounding == convRoundRuntime && !(q.scale[c] < 1<<20) {
			return convQuant{}, unsupportedf("channel %d: scale ratio %v too large", c, q.scale[c])
		}
	}
	q.lo, q.hi = ActivationRangeQuantized(act, out)
	return q, nil
}

// convQ8Params is what an 8-bit CONV_2D or DEPTHWISE_CONV_2D derives
// alike from its operands.
type convQ8Params struct {
	quant        convQuant
	bias         []int32 // nil without bias
	unsigned     bool
	filterOffset int32 // added to every filter value (convFilterOffset)
}

// newConvQ8Params checks the operands of an 8-bit CONV_2D or
// DEPTHWISE_CONV_2D with n output channels, per-channel filter scales
// along dim, and works out its requantization. uint8 runs TFLite's legacy
// per-tensor kernels, where the filter zero point enters the sums; int8
// its per-channel kernels, which assume symmetric filters.
func newConvQ8Params(in, filter, bias, out *Tensor, n, dim int, rounding convRounding, act model.Activation) (convQ8Params, error) {
	unsigned := in.Type == model.Uint8
	mode := convScalePerChannel
	if unsigned {
		if len(filter.Quant.Scale) > 1 {
			return convQ8Params{}, unsupportedf("per-channel uint8 filter")
		}
		mode = convScaleLegacy
	}
	quant, err := newConvQuant(in, filter, out, n, dim, mode, rounding, act)
	if err != nil {
		return convQ8Params{}, err
	}
	biasVals, err := convBiasI32(bias, n)
	if err != nil {
		return convQ8Params{}, err
	}
	return convQ8Params{quant: quant, bias: biasVals, unsigned: unsigned, filterOffset: convFilterOffset(filter, unsigned)}, nil
}

// convQuantI16 checks the zero points and bias of an int16x8 CONV_2D or
// DEPTHWISE_CONV_2D with n output channels and returns its output
// quantization; per-channel filter scales lie along dim.
func convQuantI16(in, filter, bias, out *Tensor, n, dim int, act model.Activation) (convQuant, error) {
	if in.ZeroPoint() != 0 || out.ZeroPoint() != 0 {
		return convQuant{}, unsupportedf("int16 zero points %d and %d (want 0)", in.ZeroPoint(), out.ZeroPoint())
	}
	quant, err := newConvQuant(in, filter, out, n, dim, convScalePerChannel, convRoundReference, act)
	if err != nil {
		return convQuant{}, err
	}
	if err := convCheckBiasI64(bias, n); err != nil {
		return convQuant{}, err
	}
	return quant, nil
}

// convFilterOffset is the filter zero-point correction TFLite applies: the
// legacy uint8 kernels and fully connected subtract the filter zero point,
// the per-channel int8/int16 convolutions assume symmetric filters and
// ignore it.
func convFilterOffset(filter *Tensor, useZeroPoint bool) int32 {
	if !useZeroPoint {
		return 0
	}
	return -filter.ZeroPoint()
}

// convCheckConst checks that a constant operand holds the bytes its shape
// needs.
func convCheckConst(name string, t *Tensor) error {
	if t == nil || !t.Const {
		return nil
	}
	if len(t.Data) < t.Bytes() {
		return errorf("%s %v: %d bytes of data, want %d", name, t.Shape, len(t.Data), t.Bytes())
	}
	return nil
}

// convBiasI32 returns the int32 bias values, or nil when bias is omitted.
func convBiasI32(bias *Tensor, n int) ([]int32, error) {
	if bias == nil {
		return nil, nil
	}
	if bias.Type != model.Int32 {
		return nil, errorf("bias: want int32, got %s", bias.Type)
	}
	if bias.NumElements() != n {
		return nil, errorf("bias has %d elements, want %d", bias.NumElements(), n)
	}
	return bias.I32(), nil
}

// convCheckBiasI64 checks an int16x8 bias: TFLite accepts int64 and int32
// there, and the type selects the arithmetic (see convRound16).
func convCheckBiasI64(bias *Tensor, n int) error {
	if bias == nil {
		return nil
	}
	if bias.Type != model.Int64 && bias.Type != model.Int32 {
		return errorf("bias: want int64 or int32, got %s", bias.Type)
	}
	if bias.NumElements() != n {
		return errorf("bias has %d elements, want %d", bias.NumElements(), n)
	}
	return nil
}

// convLoadBiasI64 writes a checked int16x8 bias, widened to int64, to dst;
// an omitted bias leaves dst zero.
func convLoadBiasI64(dst []int64, bias *Tensor) {
	switch {
	case bias == nil:
	case bias.Type == model.Int64:
		copy(dst, bias.I64())
	default:
		for i, v := range bias.I32()[:len(dst)] {
			dst[i] = int64(v)
		}
	}
}

// convRound16 rescales an int16x8 sum (bias included) of channel c the way
// TFLite does for the bias type: with an int64 bias it keeps the int64 sum
// and uses the 64-bit MultiplyByQuantizedMultiplier; with an int32 bias, or
// none, its kernels are instantiated with an int32 accumulator, so the sum
// wraps to 32 bits and takes the 32-bit rescale.
func convRound16(q *convQuant, acc int64, c int, wide bool) int16 {
	r := q.fixed[c]
	var v int32
	if wide {
		v = MultiplyByQuantizedMultiplier64(acc, r.mult, int(r.shift))
	} else {
		v = r.apply(int32(acc))
	}
	return int16(min(max(v+q.outZP, q.lo), q.hi))
}

// convBiasF32 returns the float bias values, or nil when bias is omitted.
func convBiasF32(bias *Tensor, n int) ([]float32, error) {
	if bias == nil {
		return nil, nil
	}
	if bias.Type != model.Float32 {
		return nil, errorf("bias: want float32, got %s", bias.Type)
	}
	if bias.NumElements() != n {
		return nil, errorf("bias has %d elements, want %d", bias.NumElements(), n)
	}
	return bias.F32(), nil
}

// convParallelMin is the work (multiply-adds) below which a convolution
// runs on one goroutine. Handing parts to spinning workers costs about
// 0.15 µs and parked ones 7 µs (BenchmarkParallelFor); 2^16 multiply-adds
// take 5–10 µs, about where a second thread starts to pay
// (mobilenet_v1_025_128 and the 7×7 depthwise layers of MobileNetV2 gained
// 4% from 2^18).
const convParallelMin = 1 << 16

// convWorkers is the number of independent work parts for ctx and an op of
// work multiply-adds: each part gets its own scratch, indexed by the part
// number ParallelFor passes.
func convWorkers(ctx *Context, work int) int {
	if ctx == nil || ctx.Threads < 1 || (work < convParallelMin && !ctx.splitSmall) {
		return 1
	}
	return ctx.Threads
}
