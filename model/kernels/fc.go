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
	level    Level
	k, n, m  int
	eval     func(ctx *Context, n *Node) error
}

func newFullyConnected() Kernel { return &fullyConnected{} }

func (f *fullyConnected) Prepare(ctx *Context, n *Node) error {
	f.rounding = ctx.rounding()
	f.level = ctx.level()
	opts, _ := n.Options.(*model.FullyConnectedOptions)
	if opts == nil {
		opts = &model.FullyConnectedOptions{}
	}
	in, weights, bias, out, err := convOperands(n, "weights")
	if err != nil {
		return err
	}
	if opts.WeightsFormat != 0 {
		return unsupportedf("weights format %d", opts.WeightsFormat)
	}
	if len(weights.Shape) != 2 {
		return errorf("weights: want rank 2, got %v", weights.Shape)
	}
	if err := convCheckWeights("weights", weights, bias, opts.Activation); err != nil {
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
	kind, err := convKindOf(in, weights, out, "weights")
	if err != nil {
		return err
	}
	return prepareGEMM(f, kind, ctx, n, convWorkers(ctx, f.m*f.k*f.n), in, weights, bias, out, opts.Activation)
}

func (f *fullyConnected) Eval(ctx *Context, n *Node) error { return f.eval(ctx, n) }

// The products run on CONV_2D's runners (conv.go) with rows read straight
// from the input.

func (f *fullyConnected) prepareQ8(ctx *Context, n *Node, parts int, in, weights, bias, out *Tensor, act model.Activation) error {
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
	gemm := shared(ctx, n, "q8gemm", func() *q8Gemm {
		return newQ8Gemm(w, f.n, f.k, -in.ZeroPoint(), quant, f.m == 1, f.level)
	}).forRun()
	f.eval = newConvQ8State(ctx, parts, f.m, gemm, newRowPacker[byte](f.k), !unsigned, bias, biasVals).eval
	return nil
}

func (f *fullyConnected) prepareF32(ctx *Context, n *Node, parts int, weights, bias *Tensor, act model.Activation) error {
	if _, err := convBiasF32(bias, f.n); err != nil {
		return err
	}
	gemm := shared(ctx, n, "f32gemm", func() *f32Gemm { return newF32GemmAt(f.level, weights.F32(), f.m, f.n, f.k, act) }).forRun()
	f.eval = newConvF32State(parts, f.m, gemm, newRowPacker[float32](f.k)).eval
	return nil
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
	gemm := newI16Gemm(weights.I8(), f.n, f.k, quant, bias != nil && bias.Type == model.Int64)
	f.eval = newConvI16State(parts, f.m, gemm, newRowPacker[int16](f.k), bias).eval
	return nil
}
