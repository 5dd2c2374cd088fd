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

// ewF32UnaryRun runs the SIMD loop of an ewF32UnaryCode code on n
// elements (a multiple of 8) with the code's argument block.
//
//go:noescape
func ewF32UnaryRun(code int, dst, x *float32, n int, p *ewUnaryArgs)

// ewF32UnaryCode is op's code for ewF32UnaryRun and its argument block, or
// −1 when op has no SIMD loop (GELU and ELU, which the generic kernel
// evaluates in float64). The codes are the order the assembly tests them
// in: 0 clamp to [p0, p1] (the ReLU family), 1 LEAKY_RELU (p0 the
// slope), 2 ABS, 3 NEG, 4 HARD_SWISH (p0 = 3, p1 = 6), 5 SQRT, 6 RSQRT
// (in float64, as ewRsqrt), 7 EXP, 8 LOGISTIC, 9 TANH (exp32,
// logistic32, tanh32); 10 is softmax's exp32((x − p0)·p1)
// (ewSoftmaxExpArgs).
func ewF32UnaryCode(op model.BuiltinOp, alpha float32) (int, *ewUnaryArgs) {
	inf := float32(math.Inf(1))
	code, p0, p1 := -1, float32(0), float32(0)
	switch op {
	case model.OpRelu:
		code, p1 = 0, inf
	case model.OpRelu6:
		code, p1 = 0, 6
	case model.OpReluN1To1:
		code, p0, p1 = 0, -1, 1
	case model.OpLeakyRelu:
		code, p0 = 1, alpha
	case model.OpAbs:
		code = 2
	case model.OpNeg:
		code = 3
	case model.OpHardSwish:
		code, p0, p1 = 4, 3, 6
	case model.OpSqrt:
		code = 5
	case model.OpRsqrt:
		code = 6
	case model.OpExp:
		code = 7
	case model.OpLogistic:
		code = 8
	case model.OpTanh:
		code = 9
	default:
		return -1, nil
	}
	return code, ewNewUnaryArgs(p0, p1)
}

// ewSoftmaxExpCode is the ewF32UnaryRun code of softmax's exponentials.
const ewSoftmaxExpCode = 10

// ewSoftmaxExpArgs is the argument block of ewSoftmaxExpCode (the row
// maximum and beta are filled in per row), or nil where it has no SIMD
// loop.
func ewSoftmaxExpArgs() *ewUnaryArgs { return ewNewUnaryArgs(0, 0) }

// ewNewUnaryArgs is the argument block with parameters p0 and p1.
func ewNewUnaryArgs(p0, p1 float32) *ewUnaryArgs {
	return &ewUnaryArgs{p0, p1, 0, 1,
		exp32Lo, exp32Hi, log2e, ln2Hi, ln2Lo,
		exp32C5, exp32C4, exp32C3, exp32C2, exp32C1, exp32C0, math.Float32frombits(127),
		tanh32Small, tanh32P4, tanh32P3, tanh32P2, tanh32P1, tanh32P0, 2, 0}
}
