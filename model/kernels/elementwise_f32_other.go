//go:build !amd64 && !arm64

package kernels

import "github.com/ood-agent/ood-agent/model"

// No SIMD float elementwise loops on this architecture.
func ewF32Code(model.BuiltinOp) int { return -1 }

func ewF32Run(code int, dst, x, y *float32, n, xinc, yinc int) {
	panic("kernels: no SIMD float elementwise loops on this architecture")
}

func ewF32UnaryCode(model.BuiltinOp, float32) (int, *ewUnaryArgs) { return -1, nil }

const ewSoftmaxExpCode = -1

func ewSoftmaxExpArgs() *ewUnaryArgs { return nil }

func ewF32UnaryRun(code int, dst, x *float32, n int, p *ewUnaryArgs) {
	panic("kernels: no SIMD float elementwise loops on this architecture")
}
