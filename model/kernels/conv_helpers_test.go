package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// Helpers shared by the convolution, depthwise and fully connected tests.

func convTestTensor(name string, typ model.TensorType, shape []int, q *model.Quantization, constant bool) *Tensor {
	t := &Tensor{Name: name, Type: typ, Shape: shape, Quant: q, Const: constant}
	t.Data = AlignedBytes(t.Bytes())
	return t
}

func convTestQuant(scales []float32, zps []int64, dim int) *model.Quantization {
	return &model.Quantization{Scale: scales, ZeroPoint: zps, QuantizedDimension: dim}
}

// convFillRandom fills t with random values spanning its type's range.
func convFillRandom(rng *rand.Rand, t *Tensor) {
	switch t.Type {
	case model.Float32:
		for i := range t.F32() {
			t.F32()[i] = float32(rng.NormFloat64())
		}
	case model.Int8, model.Uint8:
		for i := range t.Data {
			t.Data[i] = byte(rng.IntN(256))
		}
	case model.Int16:
		for i := range t.I16() {
			t.I16()[i] = int16(rng.IntN(65536) - 32768)
		}
	default:
		panic(fmt.Sprintf("convFillRandom: %s", t.Type))
	}
}

// convValues widens t's integer values to int64.
func convValues(t *Tensor) []int64 {
	n := t.NumElements()
	out := make([]int64, n)
	for i := range out {
		switch t.Type {
		case model.Int8:
			out[i] = int64(int8(t.Data[i]))
		case model.Uint8:
			out[i] = int64(t.Data[i])
		case model.Int16:
			out[i] = int64(int16(binary.LittleEndian.Uint16(t.Data[2*i:])))
		case model.Int32:
			out[i] = int64(int32(binary.LittleEndian.Uint32(t.Data[4*i:])))
		case model.Int64:
			out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
		default:
			panic(fmt.Sprintf("convValues: %s", t.Type))
		}
	}
	return out
}

// convRunKernel prepares and evaluates k on n with threads goroutines.
func convRunKernel(k Kernel, n *Node, threads int, fill func()) error {
	ctx := NewContext(threads)
	defer ctx.Close()
	ctx.splitSmall = true
	if err := k.Prepare(ctx, n); err != nil {
		return err
	}
	for _, o := range n.Outputs {
		o.Data = AlignedBytes(o.Bytes())
	}
	if fill != nil {
		fill()
	}
	return k.Eval(ctx, n)
}

// convQuantSetup picks the quantization of a random quantized test: types,
// scales and zero points for input, filter (n channels along dim), bias
// and output, with the output scale chosen so results spread over the
// output range without saturating everything.
type convQuantSetup struct {
	in, filter, bias, out *model.Quantization
	biasType              model.TensorType
	filterType            model.TensorType
}

func newConvQuantSetup(rng *rand.Rand, typ model.TensorType, perChannel bool, n, dim, k int) convQuantSetup {
	var s convQuantSetup
	inScale := float32(0.01 + rng.Float64()*0.05)
	inZP := int64(0)
	switch typ {
	case model.Int8:
		inZP = int64(rng.IntN(256) - 128)
		s.filterType, s.biasType = model.Int8, model.Int32
	case model.Uint8:
		inZP = int64(rng.IntN(256))
		s.filterType, s.biasType = model.Uint8, model.Int32
	case model.Int16:
		inScale /= 256
		s.filterType, s.biasType = model.Int8, model.Int64
		if rng.IntN(2) == 0 {
			s.biasType = model.Int32 // TFLite then sums in int32
		}
	}
	s.in = convTestQuant([]float32{inScale}, []int64{inZP}, 0)
	channels := 1
	if perChannel && typ != model.Uint8 {
		channels = n
	}
	fs := make([]float32, channels)
	fzp := make([]int64, channels)
	for i := range fs {
		fs[i] = float32(0.002 + rng.Float64()*0.02)
		if typ == model.Uint8 {
			fzp[i] = int64(rng.IntN(256))
		}
	}
	s.filter = convTestQuant(fs, fzp, dim)
	bs := make([]float32, channels)
	for i := range bs {
		bs[i] = inScale * fs[i]
	}
	s.bias = convTestQuant(bs, make([]int64, channels), 0)
	// A typical sum has magnitude sqrt(k)·range_in·range_filter/12.
	typical := math.Sqrt(float64(k)) * 256 * 256 / 12
	if typ == model.Int16 {
		typical = math.Sqrt(float64(k)) * 65536 * 256 / 12
	}
	outScale := float64(inScale) * float64(fs[0]) * typical / 40 * (0.5 + rng.Float64())
	outZP := int64(0)
	switch typ {
	case model.Int8:
		outZP = int64(rng.IntN(64) - 32)
	case model.Uint8:
		outZP = int64(96 + rng.IntN(64))
	case model.Int16:
		outScale /= 256
	}
	s.out = convTestQuant([]float32{float32(outScale)}, []int64{outZP}, 0)
	return s
}

// convTestOperands describes the operands of a random CONV_2D,
// DEPTHWISE_CONV_2D or FULLY_CONNECTED test node.
type convTestOperands struct {
	typ        model.TensorType
	q          *convQuantSetup // nil for float32
	in, filter []int           // shapes
	filterName string
	channels   int // output channels: the bias length
	k          int // products per sum, which sizes the bias
	noBias     bool
}

// build gives n its operands, with a random filter and bias. The bias is
// omitted with noBias, and otherwise sometimes not constant, so that it is
// read at every Eval.
func (o convTestOperands) build(rng *rand.Rand, n *Node) *Node {
	fType, bType := o.typ, o.typ
	var inQ, fQ, bQ, outQ *model.Quantization
	if o.q != nil {
		fType, bType = o.q.filterType, o.q.biasType
		inQ, fQ, bQ, outQ = o.q.in, o.q.filter, o.q.bias, o.q.out
	}
	in := convTestTensor("in", o.typ, o.in, inQ, false)
	filter := convTestTensor(o.filterName, fType, o.filter, fQ, true)
	bias := convTestTensor("bias", bType, []int{o.channels}, bQ, true)
	out := convTestTensor("out", o.typ, nil, outQ, false)
	convFillRandom(rng, filter)
	convRandomBias(rng, bias, o.k)
	if o.noBias {
		bias = nil
	} else if rng.IntN(5) == 0 {
		bias.Const = false
	}
	n.Inputs = []*Tensor{in, filter, bias}
	n.Outputs = []*Tensor{out}
	return n
}

// convRandomBias fills a bias tensor with values of the size a sum has.
func convRandomBias(rng *rand.Rand, t *Tensor, k int) {
	span := int64(k)*2000 + 1
	switch t.Type {
	case model.Int32:
		for i := range t.I32() {
			t.I32()[i] = int32(rng.Int64N(2*span) - span)
		}
	case model.Int64:
		span *= 256
		for i := range t.I64() {
			t.I64()[i] = rng.Int64N(2*span) - span
		}
	case model.Float32:
		for i := range t.F32() {
			t.F32()[i] = float32(rng.NormFloat64())
		}
	}
}

// convTestFilterOffset returns the scale mode and filter offset TFLite's
// CONV_2D and DEPTHWISE_CONV_2D use for in and filter.
func convTestFilterOffset(in, filter *Tensor) (convScaleMode, int64) {
	if in.Type == model.Uint8 {
		return convScaleLegacy, -int64(filter.ZeroPoint())
	}
	return convScalePerChannel, 0
}

// convRefQuant gathers the reference kernel's inputs from the tensors.
func convRefQuant(in, filter, bias, out *Tensor, quant convQuant, filterOff int64) *refQuant {
	q := &refQuant{
		in:        convValues(in),
		filter:    convValues(filter),
		inOff:     -int64(in.ZeroPoint()),
		filterOff: filterOff,
		quant:     quant,
		wide:      in.Type == model.Int16 && bias != nil && bias.Type == model.Int64,
	}
	if bias != nil {
		q.bias = convValues(bias)
	}
	return q
}

// convCompareInts reports the first difference between got (tensor data)
// and want.
func convCompareInts(got *Tensor, want []int64) error {
	g := convValues(got)
	if len(g) != len(want) {
		return fmt.Errorf("got %d values, want %d", len(g), len(want))
	}
	bad := 0
	first := -1
	for i := range g {
		if g[i] != want[i] {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d values differ; first at %d: got %d, want %d", bad, len(g), first, g[first], want[first])
	}
	return nil
}

// convCompareFloats reports the worst difference beyond tol·(1+|want|).
func convCompareFloats(got, want []float32, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d values, want %d", len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) {
			return fmt.Errorf("value %d: got %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

// convDequantize returns t's real values; dim is the axis of per-channel
// scales (ignored for per-tensor quantization).
func convDequantize(t *Tensor, dim int) []float32 {
	vals := convValues(t)
	out := make([]float32, len(vals))
	q := t.Quant
	stride := 1
	if len(q.Scale) > 1 {
		for _, d := range t.Shape[dim+1:] {
			stride *= d
		}
	}
	for i, v := range vals {
		c := 0
		if len(q.Scale) > 1 {
			c = (i / stride) % t.Shape[dim]
		}
		zp := int64(0)
		if c < len(q.ZeroPoint) {
			zp = q.ZeroPoint[c]
		}
		out[i] = float32(float64(q.Scale[c]) * float64(v-zp))
	}
	return out
}

// convDequantizeOperands returns the real values of n's input, filter
// (per-channel scales along filterDim) and bias, nil when omitted.
func convDequantizeOperands(n *Node, filterDim int) (in, filter, bias []float32) {
	if b := n.Input(2); b != nil {
		bias = convDequantizeBias(b, n.Inputs[0], n.Inputs[1])
	}
	return convDequantize(n.Inputs[0], -1), convDequantize(n.Inputs[1], filterDim), bias
}

// convDequantizeBias returns the real bias values, scaled by the input
// scale times each channel's filter scale.
func convDequantizeBias(bias, in, filter *Tensor) []float32 {
	vals := convValues(bias)
	out := make([]float32, len(vals))
	for c, v := range vals {
		s := filter.Quant.Scale[0]
		if len(filter.Quant.Scale) > 1 {
			s = filter.Quant.Scale[c]
		}
		out[c] = float32(float64(v) * in.Scale() * float64(s))
	}
	return out
}

// convWithinOneStep checks that out holds want (real values, before the
// activation) quantized with out's parameters, within one step.
func convWithinOneStep(out *Tensor, want []float32, act model.Activation) error {
	got := convValues(out)
	lo, hi := ActivationRangeQuantized(act, out)
	for i, w := range want {
		q := math.Round(float64(w)/out.Scale()) + float64(out.ZeroPoint())
		q = min(max(q, float64(lo)), float64(hi))
		if math.Abs(float64(got[i])-q) > 1 {
			return fmt.Errorf("value %d: got %d, want %v (real %v) within one step", i, got[i], q, w)
		}
	}
	return nil
}

// convFillInputs fills a prepared node's input with random values, and its
// bias too when the bias is not constant, so that a kernel reading it at
// Prepare instead of Eval fails the comparison.
func convFillInputs(rng *rand.Rand, n *Node) {
	convFillRandom(rng, n.Inputs[0])
	if b := n.Input(2); b != nil && !b.Const {
		convRandomBias(rng, b, 64)
	}
}

// convTestBiasF32 returns n's float bias, nil when omitted.
func convTestBiasF32(n *Node) []float32 {
	if b := n.Input(2); b != nil {
		return b.F32()
	}
	return nil
}

// convCheckEvalNoAllocs prepares k for n on threads goroutines and checks
// that Eval does not allocate.
func convCheckEvalNoAllocs(t *testing.T, k Kernel, n *Node, threads int) {
	t.Helper()
	ctx := NewContext(threads)
	defer ctx.Close()
	ctx.splitSmall = true
	if err := k.Prepare(ctx, n); err != nil {
		t.Fatal(err)
	}
	n.Outputs[0].Data = AlignedBytes(n.Outputs[0].Bytes())
	allocs := testing.AllocsPerRun(20, func() {
		if err := k.Eval(ctx, n); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Eval allocates %v times per run, want 0", allocs)
	}
}
