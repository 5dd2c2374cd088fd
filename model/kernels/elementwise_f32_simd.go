//go:build amd64 || arm64

package kernels

import "github.com/ood-agent/ood-agent/model"

// ewF32Run runs the SIMD loop of an ewF32Code (elementwise_f32_amd64.s,
// elementwise_f32_arm64.s).
//
//go:noescape
func ewF32Run(code int, dst, x, y *float32, n, xinc, yinc int)

// ewF32Code is op's code for ewF32Run (the order its assembly tests
// them in), or −1 when op has no SIMD loop.
func ewF32Code(op model.BuiltinOp) int {
	for i, o := range [...]model.BuiltinOp{model.OpAdd, model.OpSub, model.OpMul, model.OpDiv,
		model.OpMaximum, model.OpMinimum, model.OpSquaredDifference} {
		if o == op {
			return i
		}
	}
	return -1
}
