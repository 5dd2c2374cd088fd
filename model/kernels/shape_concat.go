package kernels

import (
	"math"
	"slices"

	"github.com/ood-agent/ood-agent/model"
)

// CONCATENATION, PACK, UNPACK, SPLIT and SPLIT_V: all view their tensors as
// [outer, axis, inner] and move blocks of axis·inner elements.

// concatRequant rescales one quantized input to the output's quantization
// the way TFLite's ConcatenationWithScaling does, in float32.
type concatRequant struct {
	scale, bias float32
	zp          int32
	lo, hi      int32
}

type concatKernel struct {
	outer   int
	blocks  []int            // bytes each input contributes per outer index
	requant []*concatRequant // nil where the input is copied unchanged
	act     bool
	lo, hi  float32
}

func (k *concatKernel) Prepare(ctx *Context, n *Node) error {
	if len(n.Inputs) == 0 {
		return errorf("want at least one input")
	}
	if err := shapeInputs(n, 1, len(n.Inputs)); err != nil {
		return err
	}
	out := n.Outputs[0]
	first := n.Inputs[0]
	if err := shapeMovable(first); err != nil {
		return err
	}
	o, _ := n.Options.(*model.ConcatenationOptions)
	if o == nil {
		o = &model.ConcatenationOptions{}
	}
	rank := len(first.Shape)
	axis, err := shapeNormAxis(int(o.Axis), rank)
	if err != nil {
		return err
	}
	shape := append([]int(nil), first.Shape...)
	shape[axis] = 0
	for i, in := range n.Inputs {
		if in.Type != out.Type {
			return errorf("input %d: want type %s like the output, got %s", i, out.Type, in.Type)
		}
		if len(in.Shape) != rank {
			return errorf("input %d: rank %d, want %d", i, len(in.Shape), rank)
		}
		for d := range in.Shape {
			if d != axis && in.Shape[d] != first.Shape[d] {
				return errorf("input %d: shape %v does not match %v outside axis %d", i, in.Shape, first.Shape, axis)
			}
		}
		shape[axis] += in.Shape[axis]
	}
	out.Shape = shape

	if err := CheckFusedActivation(o.Activation); err != nil {
		return err
	}
	quantized := out.Type == model.Int8 || out.Type == model.Uint8 || out.Type == model.Int16
	switch {
	case o.Activation == model.ActNone:
	case out.Type == model.Float32:
		k.act = true
		k.lo, k.hi = ActivationRangeFloat(o.Activation)
	default:
		return unsupportedf("fused activation %s on %s concatenation", o.Activation, out.Type)
	}

	es := out.Type.Size()
	k.outer = shapeProd(shape, 0, axis)
	inner := shapeProd(shape, axis+1, rank)
	k.blocks = make([]int, len(n.Inputs))
	k.requant = make([]*concatRequant, len(n.Inputs))
	for i, in := range n.Inputs {
		k.blocks[i] = in.Shape[axis] * inner * es
		if !quantized || !in.Quantized() || !out.Quantized() || shapeSameQuant(in, out) {
			continue
		}
		scale := float32(in.Scale()) * (1 / float32(out.Scale()))
		lo, hi := QuantRange(out.Type)
		k.requant[i] = &concatRequant{
			scale: scale,
			bias:  -float32(in.ZeroPoint()) * scale,
			zp:    out.ZeroPoint(),
			lo:    lo,
			hi:    hi,
		}
	}
	return nil
}

func (k *concatKernel) Eval(ctx *Context, n *Node) error {
	out := n.Outputs[0]
	dst := out.Data
	o := 0
	for j := 0; j < k.outer; j++ {
		for i, in := range n.Inputs {
			b := k.blocks[i]
			src := in.Data[j*b : (j+1)*b]
			if rq := k.requant[i]; rq != nil {
				rq.run(out.Type, dst[o:o+b], src)
			} else {
				copy(dst[o:o+b], src)
			}
			o += b
		}
	}
	if k.act {
		v := out.F32()
		for i, x := range v {
			v[i] = ClampF32(x, k.lo, k.hi)
		}
	}
	return nil
}

func (rq *concatRequant) one(x int32) int32 {
	// The conversion keeps the product from fusing into an FMA, so the
	// rounding matches TFLite's float32 arithmetic.
	f := float32(float32(x)*rq.scale) + rq.bias
	return Clamp32(int32(math.Round(float64(f)))+rq.zp, rq.lo, rq.hi)
}

func (rq *concatRequant) run(t model.TensorType, dst, src []byte) {
	switch t {
	case model.Int8:
		concatRequantRun(rq, shapeView[int8](dst), shapeView[int8](src))
	case model.Uint8:
		concatRequantRun(rq, dst, src)
	case model.Int16:
		concatRequantRun(rq, shapeView[int16](dst), shapeView[int16](src))
	}
}

func concatRequantRun[T ~int8 | ~uint8 | ~int16](rq *concatRequant, dst, src []T) {
	for i, x := range src {
		dst[i] = T(rq.one(int32(x)))
	}
}

type packKernel struct {
	outer, block int // block: bytes of one input per outer index
}

func (k *packKernel) Prepare(ctx *Context, n *Node) error {
	if len(n.Inputs) == 0 {
		return errorf("want at least one input")
	}
	if err := shapeInputs(n, 1, len(n.Inputs)); err != nil {
		return err
	}
	out, first := n.Outputs[0], n.Inputs[0]
	if err := shapeMovable(first); err != nil {
		return err
	}
	o, _ := n.Options.(*model.PackOptions)
	if o == nil {
		o = &model.PackOptions{}
	}
	if o.ValuesCount != 0 && int(o.ValuesCount) != len(n.Inputs) {
		return errorf("values_count %d, got %d inputs", o.ValuesCount, len(n.Inputs))
	}
	rank := len(first.Shape)
	axis := int(o.Axis)
	if axis < 0 {
		axis += rank + 1
	}
	if axis < 0 || axis > rank {
		return errorf("axis %d out of range for rank %d", o.Axis, rank+1)
	}
	for i, in := range n.Inputs {
		if in.Type != out.Type {
			return errorf("input %d: want type %s like the output, got %s", i, out.Type, in.Type)
		}
		if !slices.Equal(in.Shape, first.Shape) {
			return errorf("input %d: shape %v differs from %v", i, in.Shape, first.Shape)
		}
	}
	shape := make([]int, 0, rank+1)
	shape = append(shape, first.Shape[:axis]...)
	shape = append(shape, len(n.Inputs))
	shape = append(shape, first.Shape[axis:]...)
	out.Shape = shape
	k.outer = shapeProd(first.Shape, 0, axis)
	k.block = shapeProd(first.Shape, axis, rank) * first.Type.Size()
	return nil
}

func (k *packKernel) Eval(ctx *Context, n *Node) error {
	dst := n.Outputs[0].Data
	o := 0
	for j := 0; j < k.outer; j++ {
		for _, in := range n.Inputs {
			copy(dst[o:o+k.block], in.Data[j*k.block:(j+1)*k.block])
			o += k.block
		}
	}
	return nil
}

// splitKernel serves UNPACK, SPLIT and SPLIT_V: each output takes a block
// of the input per outer index.
type splitKernel struct {
	input  int // index of the data input
	outer  int
	blocks []int // bytes per outer index for each output
	total  int   // sum of blocks
}

// prepareBlocks sets output shapes for sizes along axis and the block table.
func (k *splitKernel) prepareBlocks(n *Node, in *Tensor, axis int, sizes []int, keepAxis bool) error {
	if len(n.Outputs) != len(sizes) {
		return errorf("want %d outputs, got %d", len(sizes), len(n.Outputs))
	}
	rank := len(in.Shape)
	inner := shapeProd(in.Shape, axis+1, rank) * in.Type.Size()
	k.outer = shapeProd(in.Shape, 0, axis)
	k.blocks = make([]int, len(sizes))
	k.total = 0
	for i, s := range sizes {
		out := n.Outputs[i]
		if out == nil {
			return errorf("output %d is missing", i)
		}
		if err := shapeSameType(in, out); err != nil {
			return err
		}
		shape := append([]int(nil), in.Shape...)
		if keepAxis {
			shape[axis] = s
		} else {
			shape = append(shape[:axis], shape[axis+1:]...)
		}
		out.Shape = shape
		k.blocks[i] = s * inner
		k.total += s * inner
	}
	return nil
}

func (k *splitKernel) Eval(ctx *Context, n *Node) error {
	src := n.Inputs[k.input].Data
	for j := 0; j < k.outer; j++ {
		o := j * k.total
		for i, out := range n.Outputs {
			b := k.blocks[i]
			copy(out.Data[j*b:(j+1)*b], src[o:o+b])
			o += b
		}
	}
	return nil
}

type unpackKernel struct{ splitKernel }

func (k *unpackKernel) Prepare(ctx *Context, n *Node) error {
	if err := shapeInputs(n, 1, 1); err != nil {
		return err
	}
	in := n.Inputs[0]
	if err := shapeMovable(in); err != nil {
		return err
	}
	o, _ := n.Options.(*model.UnpackOptions)
	if o == nil {
		o = &model.UnpackOptions{}
	}
	axis, err := shapeNormAxis(int(o.Axis), len(in.Shape))
	if err != nil {
		return err
	}
	num := in.Shape[axis]
	if o.Num != 0 && int(o.Num) != num {
		return errorf("num %d, but axis %d has size %d", o.Num, axis, num)
	}
	sizes := make([]int, num)
	for i := range sizes {
		sizes[i] = 1
	}
	return k.prepareBlocks(n, in, axis, sizes, false)
}

type splitEvenKernel struct{ splitKernel }

func (k *splitEvenKernel) Prepare(ctx *Context, n *Node) error {
	if err := shapeInputs(n, 2, 2); err != nil {
		return err
	}
	axisT, in := n.Inputs[0], n.Inputs[1]
	k.input = 1
	if err := shapeMovable(in); err != nil {
		return err
	}
	axis, err := shapeConstAxis(axisT, len(in.Shape))
	if err != nil {
		return err
	}
	num := len(n.Outputs)
	if o, ok := n.Options.(*model.SplitOptions); ok && o != nil && o.NumSplits != 0 {
		num = int(o.NumSplits)
	}
	if num <= 0 || in.Shape[axis]%num != 0 {
		return errorf("cannot split dimension %d of size %d into %d", axis, in.Shape[axis], num)
	}
	sizes := make([]int, num)
	for i := range sizes {
		sizes[i] = in.Shape[axis] / num
	}
	return k.prepareBlocks(n, in, axis, sizes, true)
}

type splitVKernel struct{ splitKernel }

func (k *splitVKernel) Prepare(ctx *Context, n *Node) error {
	if err := shapeInputs(n, 3, 3); err != nil {
		return err
	}
	in, sizesT, axisT := n.Inputs[0], n.Inputs[1], n.Inputs[2]
	if err := shapeMovable(in); err != nil {
		return err
	}
	axis, err := shapeConstAxis(axisT, len(in.Shape))
	if err != nil {
		return err
	}
	sizes, err := shapeConstInts(sizesT, "size_splits")
	if err != nil {
		return err
	}
	unknown, sum := -1, 0
	for i, s := range sizes {
		switch {
		case s == -1 && unknown < 0:
			unknown = i
		case s < 0:
			return errorf("size_splits %v: bad size %d", sizes, s)
		default:
			sum += s
		}
	}
	dim := in.Shape[axis]
	if unknown >= 0 {
		if sum > dim {
			return errorf("size_splits %v exceed dimension %d", sizes, dim)
		}
		sizes[unknown] = dim - sum
		sum = dim
	}
	if sum != dim {
		return errorf("size_splits %v sum to %d, dimension %d has %d", sizes, sum, axis, dim)
	}
	return k.prepareBlocks(n, in, axis, sizes, true)
}
