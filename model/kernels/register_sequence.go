package kernels

import "github.com/ood-agent/ood-agent/model"

func registerSequence(r map[model.BuiltinOp]Factory) {
	r[model.OpUnidirectionalSequenceLstm] = func() Kernel { return new(lstmKernel) }
}
