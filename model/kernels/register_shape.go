package kernels

import "github.com/ood-agent/ood-agent/model"

func registerShape(r map[model.BuiltinOp]Factory) {
	r[model.OpReshape] = func() Kernel { return &reshapeKernel{} }
	r[model.OpSqueeze] = func() Kernel { return squeezeKernel{} }
	r[model.OpExpandDims] = func() Kernel { return expandDimsKernel{} }
	r[model.OpShape] = func() Kernel { return shapeKernel{} }
	r[model.OpTranspose] = func() Kernel { return &transposeKernel{} }
	r[model.OpConcatenation] = func() Kernel { return &concatKernel{} }
	r[model.OpPack] = func() Kernel { return &packKernel{} }
	r[model.OpUnpack] = func() Kernel { return &unpackKernel{} }
	r[model.OpSplit] = func() Kernel { return &splitEvenKernel{} }
	r[model.OpSplitV] = func() Kernel { return &splitVKernel{} }
	r[model.OpPad] = func() Kernel { return &padKernel{} }
	r[model.OpPadv2] = func() Kernel { return &padKernel{v2: true} }
	r[model.OpSlice] = func() Kernel { return &sliceKernel{} }
	r[model.OpStridedSlice] = func() Kernel { return &stridedSliceKernel{} }
	r[model.OpTile] = func() Kernel { return &tileKernel{} }
	r[model.OpGather] = func() Kernel { return &gatherKernel{} }
	r[model.OpAveragePool2D] = func() Kernel { return &poolKernel{} }
	r[model.OpMaxPool2D] = func() Kernel { return &poolKernel{max: true} }
	r[model.OpResizeBilinear] = func() Kernel { return &resizeKernel{bilinear: true} }
	r[model.OpResizeNearestNeighbor] = func() Kernel { return &resizeKernel{} }
	r[model.OpBatchMatmul] = func() Kernel { return &batchMatMulKernel{} }
}
