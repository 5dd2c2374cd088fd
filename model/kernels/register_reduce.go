package kernels

import "github.com/ood-agent/ood-agent/model"

func registerReduce(r map[model.BuiltinOp]Factory) {
	r[model.OpMean] = func() Kernel { return &reduceKernel{op: reduceMean} }
	r[model.OpSum] = func() Kernel { return &reduceKernel{op: reduceSum} }
	r[model.OpReduceMax] = func() Kernel { return &reduceKernel{op: reduceMax} }
	r[model.OpReduceMin] = func() Kernel { return &reduceKernel{op: reduceMin} }
	r[model.OpReduceProd] = func() Kernel { return &reduceKernel{op: reduceProd} }
	r[model.OpArgMax] = func() Kernel { return &argKernel{} }
	r[model.OpArgMin] = func() Kernel { return &argKernel{min: true} }
}
