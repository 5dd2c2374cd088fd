package kernels

import "github.com/ood-agent/ood-agent/model"

func registerElementwise(r map[model.BuiltinOp]Factory) {
	for _, op := range []model.BuiltinOp{
		model.OpAdd, model.OpSub, model.OpMul, model.OpDiv,
		model.OpSquaredDifference, model.OpMaximum, model.OpMinimum, model.OpPrelu,
	} {
		r[op] = newBinary(op)
	}
	for _, op := range []model.BuiltinOp{
		model.OpRsqrt, model.OpSqrt, model.OpExp, model.OpLogistic, model.OpTanh,
		model.OpRelu, model.OpRelu6, model.OpReluN1To1, model.OpLeakyRelu,
		model.OpHardSwish, model.OpGelu, model.OpElu, model.OpAbs, model.OpNeg,
	} {
		r[op] = newUnary(op)
	}
	r[model.OpSoftmax] = newSoftmax
	r[model.OpQuantize] = newQuantize
	r[model.OpDequantize] = newDequantize
	r[model.OpCast] = newCast
	r[model.OpSelect] = newSelect(false)
	r[model.OpSelectV2] = newSelect(true)
}
