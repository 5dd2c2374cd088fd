package kernels

import (
	"github.com/ood-agent/ood-agent/model"
)

// fullyConnected implements FULLY_CONNECTED: inputs (input [..., k] read as
// rows of k values, weights [n][k], optional bias [n]), one output [rows][n],
// or the input's shape with its last dimension replaced by n when
// keep_num_dims is set. It runs on the same packed matrix products as
// CONV_2D, with rows taken straight from the input.
type fullyConnected struct {
	// rounding selects the 8-bit requantization; int16 always uses the
	// reference arithmetic, which TFLite's runtime also runs for it.
	rounding convRounding
	k, n, m  int
	eval     func(ctx *Context, n *Node) error
}

func newFullyConnected() Kernel { return &fullyConnected{} }

func (f *fullyConnected) Prepare(ctx *Context, n *Node) error {
	f.rounding = ctx.rounding()
	opts, _ := n.Options.(*model.FullyConnectedOptions)
	if opts == nil {
		opts = &model.FullyConnectedOptions{}
	}
	if len(n.Inputs) < 2 || len(n.Outputs) != 1 {
		return errorf("want 2 or 3 inputs and 1 output, got %d and %d", len(n.Inputs), len(n.Outputs))
	}
	in, weights, bias, out := n.Inputs[0], n.Inputs[1], n.Input(2), n.Outputs[0]
	if in == nil || weights == nil {
		return errorf("input and weights are required")
	}
	if opts.WeightsFormat != 0 {
		return unsupportedf("weights format %d", opts.WeightsFormat)
	}
	if len(weights.Shape) != 2 {
		return errorf("weights: want rank 2, got %v", weights.Shape)
	}
	if !weights.Const {
		return unsupportedf("non-constant weights")
	}
	if err := convCheckConst("weights", weights); err != nil {
		return err
	}
	if err := convCheckConst("bias", bias); err != nil {
		return err
	}
	if err := CheckFusedActivation(opts.Activation); err != nil {
		return err
	}
	f.n, f.k = weights.Shape[0], weights.Shape[1]
	if f.k <= 0 || f.n <= 0 {
		return errorf("empty weights %v", weights.Shape)
	}
	size := in.NumElements()
	if len(in.Shape) == 0 || size%f.k != 0 {
		return errorf("input %v does not split into rows of %d", in.Shape, f.k)
	}
	f.m = size / f.k
	if opts.KeepNumDims {
		if in.Shape[len(in.Shape)-1] != f.k {
			return errorf("keep_num_dims: input %v must end in %d", in.Shape, f.k)
		}
		out.Shape = append(append([]int(nil), in.Shape[:len(in.Shape)-1]...), f.n)
	} else {
		out.Shape = []int{f.m, f.n}
	}
	if out.Type != in.Type {
		return unsupportedf("input %s with output %s", in.Type, out.Type)
	}
	parts := convWorkers(ctx)
	switch {
	case in.Type == model.Float32 && weights.Type == model.Float32:
		return f.prepareF32(parts, weights, bias, opts.Activation)
	case in.Type == model.Int8 && weights.Type == model.Int8,
		in.Type == model.Uint8 && weights.Type == model.Uint8:
		return f.prepareQ8(parts, in, weights, bias, out, opts.Activation)
	case in.Type == model.Int16 && weights.Type == model.Int8:
		return f.prepareI16(parts, in, weights, bias, out, opts.Activation)
	}
	return unsupportedf("input %s with weights %s", in.Type, weights.Type)
}

func (f *fullyConnected) Eval(ctx *Context, n *Node) error { return f.eval(ctx, n) }

type fcQ8State struct {
	gemm    *q8Gemm
	blocks  []*q8Block // per part
	signed  bool
	bias    *Tensor
	in, out []byte
	run     func(lo, hi int)
}

func (f *fullyConnected) prepareQ8(parts int, in, weights, bias, out *Tensor, act model.Activation) error {
	unsigned := in.Type == model.Uint8
	mode := convScaleLegacy
	if len(weights.Quant.Scale) > 1 {
		if unsigned {
			return unsupportedf("per-channel uint8 weights")
		}
		mode = convScalePerChannel
	}
	quant, err := newConvQuant(in, weights, out, f.n, 0, mode, f.rounding, act)
	if err != nil {
		return err
	}
	biasVals, err := convBiasI32(bias, f.n)
	if err != nil {
		return err
	}
	w := q8Weights{data: weights.Data, unsigned: unsigned, offset: convFilterOffset(weights, mode == convScaleLegacy)}
	s := &fcQ8State{gemm: newQ8Gemm(w, f.n, f.k, -in.ZeroPoint(), quant, f.m == 1)}
	if bias != nil && bias.Const {
		s.gemm.setBias(biasVals)
	} else {
		s.bias = bias
	}
	s.signed = !unsigned
	s.blocks = make([]*q8Block, parts)
	for i := range s.blocks {
		s.blocks[i] = s.gemm.newBlock()
	}
	if unsigned {
		s.run = convRun(parts, f.m, func(p, lo, hi int) { fcQ8Rows[uint8](f, s, p, lo, hi) })
	} else {
		s.run = convRun(parts, f.m, func(p, lo, hi int) { fcQ8Rows[int8](f, s, p, lo, hi) })
	}
	f.eval = func(ctx *Context, n *Node) error {
		if s.bias != nil {
			s.gemm.setBias(s.bias.I32())
		}
		s.in, s.out = n.Inputs[0].Data, n.Outputs[0].Data
		ctx.ParallelFor(len(s.blocks), s.run)
		return nil
	}
	return nil
}

func fcQ8Rows[T int8 | uint8](f *fullyConnected, s *fcQ8State, p, lo, hi int) {
	k, n := f.k, f.n
	blk := s.blocks[p]
	if hi-lo == 1 && s.gemm.gemv != nil {
		q8OneRow[T](s.gemm, s.in[lo*k:lo*k+k], blk.panels, s.out[lo*n:lo*n+n])
		return
	}
	q8Rows[T](s.gemm, blk, s, lo, hi, s.out, n)
}

// pack implements q8RowSource: rows come straight from the input.
func (s *fcQ8State) pack(panel []byte, m0, rows int, sums *[q8MR]int32) {
	k := s.gemm.k
	if s.signed {
		q8PackRows[int8](panel, s.in[m0*k:], k, rows, sums, s.gemm.rowCoef != 0)
	} else {
		q8PackRows[uint8](panel, s.in[m0*k:], k, rows, sums, s.gemm.rowCoef != 0)
	}
}

type fcF32State struct {
	gemm    *f32Gemm
	panels  [][]float32
	in, out []float32
	bias    []float32
	run     func(lo, hi int)
}

func (f *fullyConnected) prepareF32(parts int, weights, bias *Tensor, act model.Activation) error {
	if _, err := convBiasF32(bias, f.n); err != nil {
		return err
	}
	s := &fcF32State{gemm: newF32Gemm(weights.F32(), f.n, f.k, act)}
	s.panels = make([][]float32, parts)
	for i := range s.panels {
		s.panels[i] = s.gemm.newPanel()
	}
	k, n := f.k, f.n
	s.run = convRun(parts, f.m, func(p, lo, hi int) {
		if hi-lo == 1 {
			s.gemm.row1(s.in[lo*k:lo*k+k], s.out[lo*n:lo*n+n], s.bias)
			return
		}
		panel := s.panels[p]
		for m0 := lo; m0 < hi; m0 += q8MR {
			rows := min(q8MR, hi-m0)
			gemmPackRows(panel, s.in[m0*k:], k, rows)
			s.gemm.tile4(panel, rows, s.out[m0*n:], n, s.bias)
		}
	})
	f.eval = func(ctx *Context, n *Node) error {
		s.in, s.out = n.Inputs[0].F32(), n.Outputs[0].F32()
		s.bias = s.gemm.zeroBias
		if b := n.Input(2); b != nil {
			s.bias = b.F32()
		}
		ctx.ParallelFor(len(s.panels), s.run)
		return nil
	}
	return nil
}

type fcI16State struct {
	gemm    *i16Gemm
	bias    *Tensor // reloaded at Eval when not constant
	panels  [][]int16
	in, out []int16
	run     func(lo, hi int)
}

func (f *fullyConnected) prepareI16(parts int, in, weights, bias, out *Tensor, act model.Activation) error {
	if in.ZeroPoint() != 0 || out.ZeroPoint() != 0 || weights.ZeroPoint() != 0 {
		return unsupportedf("int16x8 zero points %d, %d and %d (want 0)", in.ZeroPoint(), weights.ZeroPoint(), out.ZeroPoint())
	}
	mode := convScaleLegacy
	if len(weights.Quant.Scale) > 1 {
		mode = convScalePerChannel
	}
	quant, err := newConvQuant(in, weights, out, f.n, 0, mode, convRoundReference, act)
	if err != nil {
		return err
	}
	if err := convCheckBiasI64(bias, f.n); err != nil {
		return err
	}
	s := &fcI16State{gemm: newI16Gemm(weights.I8(), f.n, f.k, quant, bias != nil && bias.Type == model.Int64)}
	if bias != nil && bias.Const {
		convLoadBiasI64(s.gemm.bias, bias)
	} else {
		s.bias = bias
	}
	s.panels = make([][]int16, parts)
	for i := range s.panels {
		s.panels[i] = s.gemm.newPanel()
	}
	k, n := f.k, f.n
	s.run = convRun(parts, f.m, func(p, lo, hi int) {
		if hi-lo == 1 {
			s.gemm.row1(s.in[lo*k:lo*k+k], s.out[lo*n:lo*n+n])
			return
		}
		panel := s.panels[p]
		for m0 := lo; m0 < hi; m0 += q8MR {
			rows := min(q8MR, hi-m0)
			gemmPackRows(panel, s.in[m0*k:], k, rows)
			s.gemm.tile4(panel, rows, s.out[m0*n:], n)
		}
	})
	f.eval = func(ctx *Context, n *Node) error {
		if s.bias != nil {
			convLoadBiasI64(s.gemm.bias, s.bias)
		}
		s.in, s.out = n.Inputs[0].I16(), n.Outputs[0].I16()
		ctx.ParallelFor(len(s.panels), s.run)
		return nil
	}
	return nil
}
