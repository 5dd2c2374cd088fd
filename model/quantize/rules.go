package quantize

import (
	"fmt"

	"github.com/ood-agent/ood-agent/model"
)

// kind says how an operator's output is quantized.
type kind int

const (
	// kindWeighted ops (convolutions, fully connected) take constant float
	// weights and bias that become int8 and int32; the output gets its own
	// parameters.
	kindWeighted kind = iota
	// kindSame ops move or select values without arithmetic; TFLite's int8
	// kernels require their float inputs and output to share parameters.
	kindSame
	// kindOwn ops requantize: the output gets parameters from its own range.
	kindOwn
	// kindFixed ops have an output quantization fixed by the runtime.
	kindFixed
)

// rule is how one operator is quantized.
type rule struct {
	kind kind
	// axis is the weights' per-channel dimension of a weighted op, or -1 for
	// one scale per tensor.
	axis int
	// rank is the rank the weights of a weighted op must have.
	rank int
	// needsBias marks weighted ops whose int8 kernel requires a bias.
	needsBias bool
	// fixed is the output quantization of a kindFixed op.
	fixed *model.Quantization
}

// ruleFor returns how op is quantized, or false when it is not supported.
func ruleFor(op model.BuiltinOp) (rule, bool) {
	switch op {
	case model.OpConv2D:
		return rule{kind: kindWeighted, axis: 0, rank: 4, needsBias: true}, true
	case model.OpDepthwiseConv2D:
		return rule{kind: kindWeighted, axis: 3, rank: 4, needsBias: true}, true
	case model.OpFullyConnected:
		// Per-tensor unless Options.PerChannelFullyConnected: older
		// runtimes (and the TFLite converter's default) read one scale.
		return rule{kind: kindWeighted, axis: -1, rank: 2}, true
	case model.OpAveragePool2D, model.OpMaxPool2D, model.OpReshape, model.OpSqueeze,
		model.OpTranspose, model.OpPad, model.OpConcatenation, model.OpMaximum, model.OpMinimum:
		return rule{kind: kindSame}, true
	case model.OpMean, model.OpAdd, model.OpSub, model.OpMul,
		model.OpRelu, model.OpRelu6, model.OpHardSwish:
		return rule{kind: kindOwn}, true
	case model.OpLogistic, model.OpSoftmax:
		return rule{kind: kindFixed, fixed: fixedQuant(1.0/256, -128)}, true
	case model.OpTanh:
		return rule{kind: kindFixed, fixed: fixedQuant(1.0/128, 0)}, true
	}
	return rule{}, false
}

// isWeightSlot reports whether input slot k of a weighted op holds weights or
// bias rather than an activation.
func (r rule) isWeightSlot(k int) bool { return r.kind == kindWeighted && (k == 1 || k == 2) }

// opVersion is the operator version TFLite's converter records for the
// int8 form of op (tensorflow/lite/tools/versioning/op_version.cc).
func opVersion(code model.BuiltinOp, op *model.Operator, ts []model.Tensor) int32 {
	switch code {
	case model.OpConv2D, model.OpDepthwiseConv2D:
		return 3
	case model.OpFullyConnected:
		if len(op.Inputs) == 2 {
			return 6
		}
		if o, ok := op.Options.(*model.FullyConnectedOptions); ok && o.KeepNumDims {
			return 5
		}
		return 4
	case model.OpMul:
		a, b, out := ts[op.Inputs[0]].Quant, ts[op.Inputs[1]].Quant, ts[op.Outputs[0]].Quant
		if float64(a.Scale[0])*float64(b.Scale[0])/float64(out.Scale[0]) >= 1 {
			return 3
		}
		return 2
	case model.OpSub, model.OpMaximum, model.OpMinimum:
		a, b := ts[op.Inputs[0]].Shape, ts[op.Inputs[1]].Shape
		if !equalShape(a, b) && max(len(a), len(b)) > 4 {
			return 3
		}
		return 2
	case model.OpReshape, model.OpSqueeze, model.OpHardSwish, model.OpQuantize:
		return 1
	}
	return 2
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkOp validates operator oi of the float model against its rule.
func checkOp(m *model.Model, oi int, r rule) error {
	sg := &m.Subgraphs[0]
	op := &sg.Operators[oi]
	name := m.OpName(*op)
	where := func(format string, args ...any) error {
		return fmt.Errorf("%w: op %d (%s): %s", ErrUnsupported, oi, name, fmt.Sprintf(format, args...))
	}
	if len(op.Outputs) != 1 {
		return where("%d outputs, want 1", len(op.Outputs))
	}
	if t := &sg.Tensors[op.Outputs[0]]; t.Type != model.Float32 {
		return where("output %q is %s, want float32", t.Name, t.Type)
	}
	floats := 0
	for k, ti := range op.Inputs {
		if ti < 0 {
			continue
		}
		t := &sg.Tensors[ti]
		if t.IsVariable {
			return where("variable tensor %q", t.Name)
		}
		if t.Type == model.Float32 && !r.isWeightSlot(k) {
			floats++
		}
	}
	if floats == 0 {
		return where("no float32 input")
	}
	if r.kind != kindWeighted {
		return nil
	}
	if len(op.Inputs) < 2 || op.Inputs[1] < 0 {
		return where("missing weights")
	}
	w := &sg.Tensors[op.Inputs[1]]
	if w.Type != model.Float32 || !isConst(m, w) {
		return where("weights %q must be a float32 constant", w.Name)
	}
	if len(w.Shape) != r.rank {
		return where("weights %q have shape %v, want rank %d", w.Name, w.Shape, r.rank)
	}
	if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
		b := &sg.Tensors[op.Inputs[2]]
		want := w.Shape[0]
		if r.axis == 3 {
			want = w.Shape[3]
		}
		if b.Type != model.Float32 || !isConst(m, b) || numel(b.Shape) != want {
			return where("bias %q must be a float32 constant of %d values", b.Name, want)
		}
	}
	return nil
}

func isConst(m *model.Model, t *model.Tensor) bool {
	return t.Buffer > 0 && len(m.Buffers[t.Buffer]) > 0
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
