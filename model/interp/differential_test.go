package interp_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/internal/modeltest"
	"github.com/ood-agent/ood-agent/model/internal/oracle"
	"github.com/ood-agent/ood-agent/model/interp"
)

// A differential case builds a small model with the project's writer, with
// random weights, and random inputs for it.
type diffCase struct {
	name  string
	build func(r *rand.Rand) (*model.Model, [][]byte)
}

func qp(scale float32, zero int64) *model.Quantization {
	return &model.Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zero}}
}

// perChannel quantizes random weights symmetrically per output channel
// (dimension axis) and returns the bytes and parameters.
func perChannel(r *rand.Rand, shape []int, axis int) ([]byte, *model.Quantization) {
	n := modeltest.Numel(shape)
	ch := shape[axis]
	q := &model.Quantization{QuantizedDimension: axis}
	for c := 0; c < ch; c++ {
		q.Scale = append(q.Scale, 0.002+0.02*r.Float32())
		q.ZeroPoint = append(q.ZeroPoint, 0)
	}
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(int8(r.IntN(255) - 127))
	}
	return data, q
}

func biasI32(r *rand.Rand, n int, inScale float32, wq *model.Quantization) ([]byte, *model.Quantization) {
	q := &model.Quantization{}
	v := make([]int32, n)
	for i := range v {
		s := inScale * wq.Scale[min(i, len(wq.Scale)-1)]
		q.Scale = append(q.Scale, s)
		q.ZeroPoint = append(q.ZeroPoint, 0)
		v[i] = int32(r.IntN(2001) - 1000)
	}
	return model.Int32Bytes(v), q
}

// unary builds x -> OP -> y for float32.
func unary(op model.BuiltinOp, opts any, shape []int, lo, hi float32) diffCase {
	return diffCase{name: op.String() + "/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
		b := model.NewBuilder("diff")
		x := b.Tensor("x", model.Float32, shape, nil)
		y := b.Tensor("y", model.Float32, shape, nil)
		b.Op(op, opts, []int{x}, y)
		return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, modeltest.Numel(shape), lo, hi))}
	}}
}

// binary builds x, y -> OP -> z with broadcasting for float32.
func binaryOp(op model.BuiltinOp, opts any, a, bShape, out []int) diffCase {
	return diffCase{name: op.String() + "/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
		b := model.NewBuilder("diff")
		x := b.Tensor("x", model.Float32, a, nil)
		y := b.Tensor("y", model.Float32, bShape, nil)
		z := b.Tensor("z", model.Float32, out, nil)
		b.Op(op, opts, []int{x, y}, z)
		lo := float32(-2)
		if op == model.OpDiv {
			lo = 0.5
		}
		return b.Model([]int{x, y}, []int{z}), [][]byte{
			model.Float32Bytes(modeltest.RandF32(r, modeltest.Numel(a), -2, 2)), model.Float32Bytes(modeltest.RandF32(r, modeltest.Numel(bShape), lo, 2))}
	}}
}

// binaryInt8 builds the quantized version with distinct scales.
func binaryInt8(op model.BuiltinOp, opts any, a, bShape, out []int, outScale float32) diffCase {
	return diffCase{name: op.String() + "/int8", build: func(r *rand.Rand) (*model.Model, [][]byte) {
		b := model.NewBuilder("diff")
		x := b.Tensor("x", model.Int8, a, qp(0.02, 3))
		y := b.Tensor("y", model.Int8, bShape, qp(0.03, -5))
		z := b.Tensor("z", model.Int8, out, qp(outScale, -2))
		b.Op(op, opts, []int{x, y}, z)
		return b.Model([]int{x, y}, []int{z}), [][]byte{modeltest.RandBytes(r, modeltest.Numel(a)), modeltest.RandBytes(r, modeltest.Numel(bShape))}
	}}
}

func unaryInt8(op model.BuiltinOp, opts any, shape []int, in, out *model.Quantization) diffCase {
	return diffCase{name: op.String() + "/int8", build: func(r *rand.Rand) (*model.Model, [][]byte) {
		b := model.NewBuilder("diff")
		x := b.Tensor("x", model.Int8, shape, in)
		y := b.Tensor("y", model.Int8, shape, out)
		b.Op(op, opts, []int{x}, y)
		return b.Model([]int{x}, []int{y}), [][]byte{modeltest.RandBytes(r, modeltest.Numel(shape))}
	}}
}

func convCase(name string, typ model.TensorType, opts *model.Conv2DOptions, in, filter, out []int) diffCase {
	return diffCase{name: name, build: func(r *rand.Rand) (*model.Model, [][]byte) {
		b := model.NewBuilder("diff")
		if typ == model.Float32 {
			x := b.Tensor("x", model.Float32, in, nil)
			w := b.ConstF32("w", filter, modeltest.RandF32(r, modeltest.Numel(filter), -1, 1))
			bias := b.ConstF32("b", []int{filter[0]}, modeltest.RandF32(r, filter[0], -1, 1))
			y := b.Tensor("y", model.Float32, out, nil)
			b.Op(model.OpConv2D, opts, []int{x, w, bias}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, modeltest.Numel(in), -1, 1))}
		}
		inQ := qp(0.02, -3)
		x := b.Tensor("x", model.Int8, in, inQ)
		wData, wQ := perChannel(r, filter, 0)
		w := b.Const("w", model.Int8, filter, wData, wQ)
		bData, bQ := biasI32(r, filter[0], inQ.Scale[0], wQ)
		bias := b.Const("b", model.Int32, []int{filter[0]}, bData, bQ)
		y := b.Tensor("y", model.Int8, out, qp(0.05, 4))
		b.Op(model.OpConv2D, opts, []int{x, w, bias}, y)
		b.SetOpVersion(model.OpConv2D, 3)
		return b.Model([]int{x}, []int{y}), [][]byte{modeltest.RandBytes(r, modeltest.Numel(in))}
	}}
}

func depthwiseCase(name string, typ model.TensorType, opts *model.DepthwiseConv2DOptions, in, filter, out []int) diffCase {
	return diffCase{name: name, build: func(r *rand.Rand) (*model.Model, [][]byte) {
		b := model.NewBuilder("diff")
		ch := filter[3]
		if typ == model.Float32 {
			x := b.Tensor("x", model.Float32, in, nil)
			w := b.ConstF32("w", filter, modeltest.RandF32(r, modeltest.Numel(filter), -1, 1))
			bias := b.ConstF32("b", []int{ch}, modeltest.RandF32(r, ch, -1, 1))
			y := b.Tensor("y", model.Float32, out, nil)
			b.Op(model.OpDepthwiseConv2D, opts, []int{x, w, bias}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, modeltest.Numel(in), -1, 1))}
		}
		inQ := qp(0.02, 5)
		x := b.Tensor("x", model.Int8, in, inQ)
		wData, wQ := perChannel(r, filter, 3)
		w := b.Const("w", model.Int8, filter, wData, wQ)
		bData, bQ := biasI32(r, ch, inQ.Scale[0], wQ)
		bias := b.Const("b", model.Int32, []int{ch}, bData, bQ)
		y := b.Tensor("y", model.Int8, out, qp(0.03, -1))
		b.Op(model.OpDepthwiseConv2D, opts, []int{x, w, bias}, y)
		b.SetOpVersion(model.OpDepthwiseConv2D, 3)
		return b.Model([]int{x}, []int{y}), [][]byte{modeltest.RandBytes(r, modeltest.Numel(in))}
	}}
}

func fcCase(typ model.TensorType, act model.Activation) diffCase {
	return diffCase{name: fmt.Sprintf("FULLY_CONNECTED/%s/%s", typ, act), build: func(r *rand.Rand) (*model.Model, [][]byte) {
		b := model.NewBuilder("diff")
		opts := &model.FullyConnectedOptions{Activation: act}
		if typ == model.Float32 {
			x := b.Tensor("x", model.Float32, []int{3, 13}, nil)
			w := b.ConstF32("w", []int{7, 13}, modeltest.RandF32(r, 91, -1, 1))
			bias := b.ConstF32("b", []int{7}, modeltest.RandF32(r, 7, -1, 1))
			y := b.Tensor("y", model.Float32, []int{3, 7}, nil)
			b.Op(model.OpFullyConnected, opts, []int{x, w, bias}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 39, -1, 1))}
		}
		inQ := qp(0.02, -7)
		x := b.Tensor("x", model.Int8, []int{3, 13}, inQ)
		wQ := qp(0.01, 0)
		w := b.Const("w", model.Int8, []int{7, 13}, modeltest.RandBytes(r, 91), wQ)
		bData, bQ := biasI32(r, 7, inQ.Scale[0], wQ)
		bias := b.Const("b", model.Int32, []int{7}, bData, bQ)
		y := b.Tensor("y", model.Int8, []int{3, 7}, qp(0.04, 2))
		b.Op(model.OpFullyConnected, opts, []int{x, w, bias}, y)
		return b.Model([]int{x}, []int{y}), [][]byte{modeltest.RandBytes(r, 39)}
	}}
}

func poolCase(op model.BuiltinOp, typ model.TensorType, pad model.Padding, out []int) diffCase {
	return diffCase{name: fmt.Sprintf("%s/%s/pad%d", op, typ, pad), build: func(r *rand.Rand) (*model.Model, [][]byte) {
		b := model.NewBuilder("diff")
		in := []int{1, 7, 9, 3}
		opts := &model.Pool2DOptions{Padding: pad, StrideW: 2, StrideH: 2, FilterWidth: 3, FilterHeight: 3}
		var q *model.Quantization
		var data []byte
		if typ == model.Int8 {
			q, data = qp(0.05, -4), modeltest.RandBytes(r, modeltest.Numel(in))
		} else {
			data = model.Float32Bytes(modeltest.RandF32(r, modeltest.Numel(in), -3, 3))
		}
		x := b.Tensor("x", typ, in, q)
		y := b.Tensor("y", typ, out, q)
		b.Op(op, opts, []int{x}, y)
		return b.Model([]int{x}, []int{y}), [][]byte{data}
	}}
}

// withConst builds x (+ constant int32 operands) -> OP -> y, float32.
func withConst(name string, op model.BuiltinOp, opts any, in []int, consts [][]int32, out []int) diffCase {
	return diffCase{name: name, build: func(r *rand.Rand) (*model.Model, [][]byte) {
		b := model.NewBuilder("diff")
		x := b.Tensor("x", model.Float32, in, nil)
		inputs := []int{x}
		for i, c := range consts {
			inputs = append(inputs, b.ConstI32(fmt.Sprintf("c%d", i), []int{len(c)}, c, nil))
		}
		y := b.Tensor("y", model.Float32, out, nil)
		b.Op(op, opts, inputs, y)
		return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, modeltest.Numel(in), -2, 2))}
	}}
}

func diffCases() []diffCase {
	same1 := &model.Conv2DOptions{Padding: model.PaddingSame, StrideW: 2, StrideH: 2, Activation: model.ActRelu6, DilationW: 1, DilationH: 1}
	valid2 := &model.Conv2DOptions{Padding: model.PaddingValid, StrideW: 1, StrideH: 1, DilationW: 2, DilationH: 2}
	dw := &model.DepthwiseConv2DOptions{Padding: model.PaddingSame, StrideW: 1, StrideH: 1, DepthMultiplier: 2, Activation: model.ActRelu, DilationW: 1, DilationH: 1}
	dw2 := &model.DepthwiseConv2DOptions{Padding: model.PaddingValid, StrideW: 2, StrideH: 2, DepthMultiplier: 1, DilationW: 1, DilationH: 1}
	cases := []diffCase{
		convCase("CONV_2D/float32/same-stride2-relu6", model.Float32, same1, []int{1, 9, 11, 3}, []int{4, 3, 3, 3}, []int{1, 5, 6, 4}),
		convCase("CONV_2D/float32/valid-dilation2", model.Float32, valid2, []int{1, 9, 11, 3}, []int{5, 3, 3, 3}, []int{1, 5, 7, 5}),
		convCase("CONV_2D/int8/same-stride2-relu6", model.Int8, same1, []int{1, 9, 11, 3}, []int{4, 3, 3, 3}, []int{1, 5, 6, 4}),
		convCase("CONV_2D/int8/valid-dilation2", model.Int8, valid2, []int{1, 9, 11, 3}, []int{5, 3, 3, 3}, []int{1, 5, 7, 5}),
		depthwiseCase("DEPTHWISE_CONV_2D/float32/mult2", model.Float32, dw, []int{1, 8, 7, 4}, []int{1, 3, 3, 8}, []int{1, 8, 7, 8}),
		depthwiseCase("DEPTHWISE_CONV_2D/int8/mult2", model.Int8, dw, []int{1, 8, 7, 4}, []int{1, 3, 3, 8}, []int{1, 8, 7, 8}),
		depthwiseCase("DEPTHWISE_CONV_2D/int8/stride2", model.Int8, dw2, []int{1, 9, 9, 6}, []int{1, 3, 3, 6}, []int{1, 4, 4, 6}),
		fcCase(model.Float32, model.ActNone), fcCase(model.Float32, model.ActRelu), fcCase(model.Int8, model.ActNone), fcCase(model.Int8, model.ActRelu6),
		poolCase(model.OpAveragePool2D, model.Float32, model.PaddingSame, []int{1, 4, 5, 3}),
		poolCase(model.OpAveragePool2D, model.Int8, model.PaddingSame, []int{1, 4, 5, 3}),
		poolCase(model.OpMaxPool2D, model.Float32, model.PaddingValid, []int{1, 3, 4, 3}),
		poolCase(model.OpMaxPool2D, model.Int8, model.PaddingSame, []int{1, 4, 5, 3}),
		binaryOp(model.OpAdd, &model.AddOptions{Activation: model.ActRelu}, []int{2, 3, 4}, []int{4}, []int{2, 3, 4}),
		binaryOp(model.OpSub, &model.SubOptions{}, []int{2, 1, 4}, []int{3, 1}, []int{2, 3, 4}),
		binaryOp(model.OpMul, &model.MulOptions{}, []int{2, 3, 4}, []int{2, 3, 4}, []int{2, 3, 4}),
		binaryOp(model.OpDiv, &model.DivOptions{}, []int{2, 3, 4}, []int{1, 3, 1}, []int{2, 3, 4}),
		binaryOp(model.OpSquaredDifference, nil, []int{2, 3, 4}, []int{4}, []int{2, 3, 4}),
		binaryOp(model.OpMaximum, nil, []int{2, 3, 4}, []int{1}, []int{2, 3, 4}),
		binaryOp(model.OpMinimum, nil, []int{2, 3, 4}, []int{3, 4}, []int{2, 3, 4}),
		binaryInt8(model.OpAdd, &model.AddOptions{}, []int{2, 3, 4}, []int{4}, []int{2, 3, 4}, 0.04),
		binaryInt8(model.OpAdd, &model.AddOptions{}, []int{1, 5, 6}, []int{1, 5, 6}, []int{1, 5, 6}, 0.04),
		binaryInt8(model.OpSub, &model.SubOptions{}, []int{2, 3, 4}, []int{2, 3, 4}, []int{2, 3, 4}, 0.04),
		binaryInt8(model.OpMul, &model.MulOptions{}, []int{2, 3, 4}, []int{3, 4}, []int{2, 3, 4}, 0.01),
		unary(model.OpRsqrt, nil, []int{2, 3, 5}, 0.1, 4),
		unary(model.OpSqrt, nil, []int{2, 3, 5}, 0, 4),
		unary(model.OpExp, nil, []int{2, 3, 5}, -3, 3),
		unary(model.OpLogistic, nil, []int{2, 3, 5}, -6, 6),
		unary(model.OpTanh, nil, []int{2, 3, 5}, -4, 4),
		unary(model.OpRelu, nil, []int{2, 3, 5}, -4, 4),
		unary(model.OpRelu6, nil, []int{2, 3, 5}, -4, 8),
		unary(model.OpHardSwish, nil, []int{2, 3, 5}, -5, 5),
		unary(model.OpGelu, &model.GeluOptions{}, []int{2, 3, 5}, -4, 4),
		unary(model.OpLeakyRelu, &model.LeakyReluOptions{Alpha: 0.2}, []int{2, 3, 5}, -4, 4),
		unary(model.OpSoftmax, &model.SoftmaxOptions{Beta: 1}, []int{3, 10}, -6, 6),
		unary(model.OpSoftmax, &model.SoftmaxOptions{Beta: 0.5}, []int{2, 3, 7}, -6, 6),
		unaryInt8(model.OpSoftmax, &model.SoftmaxOptions{Beta: 1}, []int{2, 10}, qp(0.1, 0), qp(1.0/256, -128)),
		unaryInt8(model.OpLogistic, nil, []int{2, 10}, qp(0.05, 3), qp(1.0/256, -128)),
		unaryInt8(model.OpTanh, nil, []int{2, 10}, qp(0.05, 3), qp(1.0/128, 0)),
		unaryInt8(model.OpRelu, nil, []int{2, 10}, qp(0.05, 3), qp(0.03, -128)),
		withConst("RESHAPE/float32", model.OpReshape, &model.ReshapeOptions{NewShape: []int32{6, -1}}, []int{2, 3, 4}, [][]int32{{6, -1}}, []int{6, 4}),
		withConst("TRANSPOSE/float32", model.OpTranspose, nil, []int{2, 3, 4, 5}, [][]int32{{0, 2, 1, 3}}, []int{2, 4, 3, 5}),
		withConst("MEAN/float32/keep", model.OpMean, &model.ReducerOptions{KeepDims: true}, []int{1, 5, 6, 3}, [][]int32{{1, 2}}, []int{1, 1, 1, 3}),
		withConst("SUM/float32", model.OpSum, &model.ReducerOptions{}, []int{2, 5, 3}, [][]int32{{1}}, []int{2, 3}),
		withConst("REDUCE_MAX/float32", model.OpReduceMax, &model.ReducerOptions{}, []int{2, 5, 3}, [][]int32{{-1}}, []int{2, 5}),
		withConst("SLICE/float32", model.OpSlice, nil, []int{3, 5, 4}, [][]int32{{1, 0, 1}, {2, -1, 2}}, []int{2, 5, 2}),
		withConst("STRIDED_SLICE/float32", model.OpStridedSlice, &model.StridedSliceOptions{BeginMask: 1, ShrinkAxisMask: 4},
			[]int{4, 6, 5}, [][]int32{{0, 1, 2}, {3, 6, 3}, {1, 2, 1}}, []int{3, 3}),
		withConst("REDUCE_MIN/float32", model.OpReduceMin, &model.ReducerOptions{KeepDims: true}, []int{2, 5, 3}, [][]int32{{0, 2}}, []int{1, 5, 1}),
		withConst("REDUCE_PROD/float32", model.OpReduceProd, &model.ReducerOptions{}, []int{2, 4, 3}, [][]int32{{1}}, []int{2, 3}),
		withConst("RESIZE_NEAREST_NEIGHBOR/float32", model.OpResizeNearestNeighbor, &model.ResizeNearestNeighborOptions{HalfPixelCenters: true}, []int{1, 4, 5, 2}, [][]int32{{7, 9}}, []int{1, 7, 9, 2}),
		withConst("RESIZE_BILINEAR/float32", model.OpResizeBilinear, &model.ResizeBilinearOptions{HalfPixelCenters: true}, []int{1, 4, 5, 2}, [][]int32{{7, 9}}, []int{1, 7, 9, 2}),
		withConst("RESIZE_BILINEAR/float32/align", model.OpResizeBilinear, &model.ResizeBilinearOptions{AlignCorners: true}, []int{1, 4, 5, 2}, [][]int32{{7, 9}}, []int{1, 7, 9, 2}),
		{name: "SQUEEZE/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{1, 3, 1, 4}, nil)
			y := b.Tensor("y", model.Float32, []int{3, 4}, nil)
			b.Op(model.OpSqueeze, &model.SqueezeOptions{SqueezeDims: []int32{0, 2}}, []int{x}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 12, -1, 1))}
		}},
		{name: "CONCATENATION/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{2, 3, 4}, nil)
			y := b.Tensor("y", model.Float32, []int{2, 2, 4}, nil)
			z := b.Tensor("z", model.Float32, []int{2, 5, 4}, nil)
			b.Op(model.OpConcatenation, &model.ConcatenationOptions{Axis: -2}, []int{x, y}, z)
			return b.Model([]int{x, y}, []int{z}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 24, -1, 1)), model.Float32Bytes(modeltest.RandF32(r, 16, -1, 1))}
		}},
		// TFLite requires int8 concatenation inputs to share the output's
		// quantization (only uint8 rescales).
		{name: "CONCATENATION/int8", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Int8, []int{2, 3}, qp(0.04, 1))
			y := b.Tensor("y", model.Int8, []int{2, 2}, qp(0.04, 1))
			z := b.Tensor("z", model.Int8, []int{2, 5}, qp(0.04, 1))
			b.Op(model.OpConcatenation, &model.ConcatenationOptions{Axis: 1}, []int{x, y}, z)
			return b.Model([]int{x, y}, []int{z}), [][]byte{modeltest.RandBytes(r, 6), modeltest.RandBytes(r, 4)}
		}},
		{name: "PAD/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{1, 3, 4, 2}, nil)
			p := b.ConstI32("pad", []int{4, 2}, []int32{0, 0, 1, 2, 2, 1, 0, 0}, nil)
			y := b.Tensor("y", model.Float32, []int{1, 6, 7, 2}, nil)
			b.Op(model.OpPad, nil, []int{x, p}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 24, -1, 1))}
		}},
		{name: "BATCH_MATMUL/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{2, 3, 4}, nil)
			y := b.Tensor("y", model.Float32, []int{2, 5, 4}, nil)
			z := b.Tensor("z", model.Float32, []int{2, 3, 5}, nil)
			b.Op(model.OpBatchMatmul, &model.BatchMatMulOptions{AdjY: true}, []int{x, y}, z)
			return b.Model([]int{x, y}, []int{z}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 24, -1, 1)), model.Float32Bytes(modeltest.RandF32(r, 40, -1, 1))}
		}},
		{name: "SELECT_V2/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			c := b.Tensor("c", model.Bool, []int{3, 1}, nil)
			x := b.Tensor("x", model.Float32, []int{3, 4}, nil)
			y := b.Tensor("y", model.Float32, []int{1, 4}, nil)
			z := b.Tensor("z", model.Float32, []int{3, 4}, nil)
			b.Op(model.OpSelectV2, nil, []int{c, x, y}, z)
			cond := []byte{1, 0, 1}
			return b.Model([]int{c, x, y}, []int{z}), [][]byte{cond, model.Float32Bytes(modeltest.RandF32(r, 12, -1, 1)), model.Float32Bytes(modeltest.RandF32(r, 4, -1, 1))}
		}},
		{name: "PRELU/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{1, 2, 3, 4}, nil)
			a := b.ConstF32("alpha", []int{4}, modeltest.RandF32(r, 4, 0, 0.5))
			y := b.Tensor("y", model.Float32, []int{1, 2, 3, 4}, nil)
			b.Op(model.OpPrelu, nil, []int{x, a}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 24, -2, 2))}
		}},
		{name: "GATHER/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{5, 3}, nil)
			idx := b.ConstI32("idx", []int{4}, []int32{4, 0, 2, 2}, nil)
			y := b.Tensor("y", model.Float32, []int{4, 3}, nil)
			b.Op(model.OpGather, &model.GatherOptions{Axis: 0}, []int{x, idx}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 15, -1, 1))}
		}},
		{name: "SPLIT/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			axis := b.ConstI32("axis", nil, []int32{1}, nil)
			x := b.Tensor("x", model.Float32, []int{2, 6}, nil)
			y1 := b.Tensor("y1", model.Float32, []int{2, 3}, nil)
			y2 := b.Tensor("y2", model.Float32, []int{2, 3}, nil)
			b.Op(model.OpSplit, &model.SplitOptions{NumSplits: 2}, []int{axis, x}, y1, y2)
			return b.Model([]int{x}, []int{y1, y2}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 12, -1, 1))}
		}},
		{name: "PACK/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{2, 3}, nil)
			y := b.Tensor("y", model.Float32, []int{2, 3}, nil)
			z := b.Tensor("z", model.Float32, []int{2, 2, 3}, nil)
			b.Op(model.OpPack, &model.PackOptions{ValuesCount: 2, Axis: 1}, []int{x, y}, z)
			return b.Model([]int{x, y}, []int{z}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 6, -1, 1)), model.Float32Bytes(modeltest.RandF32(r, 6, -1, 1))}
		}},
		{name: "UNPACK/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{3, 2}, nil)
			var outs []int
			for i := 0; i < 2; i++ {
				outs = append(outs, b.Tensor(fmt.Sprintf("y%d", i), model.Float32, []int{3}, nil))
			}
			b.Op(model.OpUnpack, &model.UnpackOptions{Num: 2, Axis: 1}, []int{x}, outs...)
			return b.Model([]int{x}, outs), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 6, -1, 1))}
		}},
		{name: "ARG_MAX/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{4, 7}, nil)
			axis := b.ConstI32("axis", []int{1}, []int32{1}, nil)
			y := b.Tensor("y", model.Int32, []int{4}, nil)
			b.Op(model.OpArgMax, &model.ArgMaxOptions{OutputType: model.Int32}, []int{x, axis}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 28, -1, 1))}
		}},
		{name: "MEAN/int8", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Int8, []int{1, 5, 6, 3}, qp(0.05, -3))
			axes := b.ConstI32("axes", []int{2}, []int32{1, 2}, nil)
			y := b.Tensor("y", model.Int8, []int{1, 1, 1, 3}, qp(0.02, 4))
			b.Op(model.OpMean, &model.ReducerOptions{KeepDims: true}, []int{x, axes}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{modeltest.RandBytes(r, 90)}
		}},
		{name: "PAD/int8", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Int8, []int{1, 3, 4, 2}, qp(0.05, 7))
			p := b.ConstI32("pad", []int{4, 2}, []int32{0, 0, 1, 1, 2, 0, 0, 0}, nil)
			y := b.Tensor("y", model.Int8, []int{1, 5, 6, 2}, qp(0.05, 7))
			b.Op(model.OpPad, nil, []int{x, p}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{modeltest.RandBytes(r, 24)}
		}},
		{name: "SPLIT_V/float32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{2, 7}, nil)
			sizes := b.ConstI32("sizes", []int{3}, []int32{2, 4, 1}, nil)
			axis := b.ConstI32("axis", nil, []int32{1}, nil)
			y1 := b.Tensor("y1", model.Float32, []int{2, 2}, nil)
			y2 := b.Tensor("y2", model.Float32, []int{2, 4}, nil)
			y3 := b.Tensor("y3", model.Float32, []int{2, 1}, nil)
			b.Op(model.OpSplitV, &model.SplitOptions{NumSplits: 3}, []int{x, sizes, axis}, y1, y2, y3)
			return b.Model([]int{x}, []int{y1, y2, y3}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 14, -1, 1))}
		}},
		{name: "ARG_MIN/int8", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Int8, []int{4, 9}, qp(0.1, 0))
			axis := b.ConstI32("axis", []int{1}, []int32{1}, nil)
			y := b.Tensor("y", model.Int32, []int{4}, nil)
			b.Op(model.OpArgMin, &model.ArgMaxOptions{OutputType: model.Int32}, []int{x, axis}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{modeltest.RandBytes(r, 36)}
		}},
		{name: "CAST/float32-int32", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{3, 5}, nil)
			y := b.Tensor("y", model.Int32, []int{3, 5}, nil)
			b.Op(model.OpCast, &model.CastOptions{InDataType: model.Float32, OutDataType: model.Int32}, []int{x}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 15, -50, 50))}
		}},
		{name: "QUANTIZE+DEQUANTIZE/int8", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Float32, []int{3, 8}, nil)
			q := b.Tensor("q", model.Int8, []int{3, 8}, qp(0.03, -9))
			y := b.Tensor("y", model.Float32, []int{3, 8}, nil)
			b.Op(model.OpQuantize, nil, []int{x}, q)
			b.Op(model.OpDequantize, nil, []int{q}, y)
			return b.Model([]int{x}, []int{q, y}), [][]byte{model.Float32Bytes(modeltest.RandF32(r, 24, -3, 3))}
		}},
		{name: "QUANTIZE/requantize-int8", build: func(r *rand.Rand) (*model.Model, [][]byte) {
			b := model.NewBuilder("diff")
			x := b.Tensor("x", model.Int8, []int{3, 8}, qp(0.03, -9))
			y := b.Tensor("y", model.Int8, []int{3, 8}, qp(0.05, 4))
			b.Op(model.OpQuantize, nil, []int{x}, y)
			return b.Model([]int{x}, []int{y}), [][]byte{modeltest.RandBytes(r, 24)}
		}},
	}
	return cases
}

func TestDifferentialAgainstTFLite(t *testing.T) {
	o := oracle.Require(t)
	tol := conformance.Tolerance{QuantizedSteps: 1, FloatAbsolute: 1e-5, FloatRelative: 1e-4}
	for _, c := range diffCases() {
		t.Run(c.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				r := rand.New(rand.NewPCG(seed, 99))
				m, inputs := c.build(r)
				data, err := model.Encode(m)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				want, _, err := o.Run(context.Background(), data, inputs)
				if err != nil {
					t.Fatalf("TFLite runtime: %v", err)
				}
				decoded, err := model.Decode(data)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				it, err := interp.New(decoded, interp.Options{})
				if err != nil {
					t.Fatalf("interp.New: %v", err)
				}
				for i, in := range inputs {
					copy(it.Input(i).Data, in)
				}
				if err := it.Invoke(); err != nil {
					t.Fatalf("Invoke: %v", err)
				}
				for i, w := range want {
					out := it.Output(i)
					if err := conformance.Compare(out.Type, out.Data, w, tol); err != nil {
						t.Errorf("seed %d output %d: %v", seed, i, err)
					}
				}
				it.Close()
			}
		})
	}
}
