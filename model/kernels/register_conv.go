package kernels

import "github.com/ood-agent/ood-agent/model"

func registerConv(r map[model.BuiltinOp]Factory) {
	r[model.OpConv2D] = newConv2D
	r[model.OpDepthwiseConv2D] = newDepthwiseConv
	r[model.OpFullyConnected] = newFullyConnected
}
