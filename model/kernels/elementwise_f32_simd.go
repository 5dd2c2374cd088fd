//go:build amd64 || arm64

package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// ewF32Run runs the SIMD loop of an ewF32Code (elementwise_f32_amd64.s,
// elementwise_f32_arm64.s).
//
//go:noescape
func ewF32Run(code int, dst, x, y *float32, n, xinc, yinc int)

// ewF32Code is op's code for ewF32Run (the order its assembly tests
// them in), or −1 when op has no SIMD loop.
func ewF32Code(op model.BuiltinOp) int {
	for i, o := range [...]model.BuiltinOp{model.OpAdd, model.OpSub, model.OpMul, model.OpDiv,
		model.OpMaximum, model.OpMinimum, model.OpSquaredDifference, model.OpPrelu} {
		if o == op {
			return i
		}
	}
	return -1
}

// ewF32UnaryRun runs the SIMD loop of an ewF32Unary code on n elements (a
// multiple of 8) with the code's parameters p (ewF32UnaryCode).
//
//go:noescape
func ewF32UnaryRun(code int, dst, x *float32, n int, p *[4]float32)

// ewF32UnaryCode is op's code for ewF32UnaryRun and its parameters, or −1
// when op has no SIMD loop: the transcendental functions, which the
// generic kernel evaluates in float64, stay scalar. The codes are the
// order the assembly tests them in: 0 clamp to [p0, p1] (the ReLU
// family), 1 LEAKY_RELU (p0 the slope), 2 ABS, 3 NEG, 4 HARD_SWISH
// (p0 = 3, p1 = 6), 5 SQRT, 6 RSQRT (in float64, as ewRsqrt). p3 is 1,
// which RSQRT divides.
func ewF32UnaryCode(op model.BuiltinOp, alpha float32) (int, [4]float32) {
	inf := float32(math.Inf(1))
	switch op {
	case model.OpRelu:
		return 0, [4]float32{0, inf, 0, 1}
	case model.OpRelu6:
		return 0, [4]float32{0, 6, 0, 1}
	case model.OpReluN1To1:
		return 0, [4]float32{-1, 1, 0, 1}
	case model.OpLeakyRelu:
		return 1, [4]float32{alpha, 0, 0, 1}
	case model.OpAbs:
		return 2, [4]float32{0, 0, 0, 1}
	case model.OpNeg:
		return 3, [4]float32{0, 0, 0, 1}
	case model.OpHardSwish:
		return 4, [4]float32{3, 6, 0, 1}
	case model.OpSqrt:
		return 5, [4]float32{0, 0, 0, 1}
	case model.OpRsqrt:
		return 6, [4]float32{0, 0, 0, 1}
	}
	return -1, [4]float32{}
}
