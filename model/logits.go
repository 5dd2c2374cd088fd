package model

import (
	"errors"
	"fmt"
)

// ErrNoLogits is returned when a model's output cannot be traced to logits.
var ErrNoLogits = errors.New("no logits tensor found")

// Logits describes where a classifier's pre-softmax scores live.
type Logits struct {
	// Tensor is the index of the logits tensor in the main subgraph.
	Tensor int
	// ViaSoftmax is true when the output is the softmax of Tensor; false
	// when the output carries no softmax and is taken as the logits.
	ViaSoftmax bool
	// Beta is the softmax's beta (logits are multiplied by it inside the
	// softmax); 1 when there is none.
	Beta float32
}

// FindLogits traces output 0 of the main subgraph back through QUANTIZE,
// DEQUANTIZE, RESHAPE and SQUEEZE to a SOFTMAX and returns the tensor that
// feeds it: the classifier's logits. Without a softmax the output itself is
// returned, which is right for models exported without their final
// activation; a LOGISTIC or other non-linear head is reported as an error
// because its input is not a vector of class logits.
func (m *Model) FindLogits() (Logits, error) {
	sg := &m.Subgraphs[0]
	if len(sg.Outputs) == 0 {
		return Logits{}, fmt.Errorf("%w: model has no outputs", ErrNoLogits)
	}
	producer := make(map[int]int, len(sg.Operators))
	for oi, op := range sg.Operators {
		for _, t := range op.Outputs {
			producer[t] = oi
		}
	}
	t := sg.Outputs[0]
	for steps := 0; steps <= len(sg.Operators); steps++ {
		oi, ok := producer[t]
		if !ok {
			return Logits{Tensor: sg.Outputs[0], Beta: 1}, nil
		}
		op := sg.Operators[oi]
		code := m.OperatorCodes[op.OpcodeIndex].Builtin
		switch code {
		case OpSoftmax:
			if len(op.Inputs) == 0 || op.Inputs[0] < 0 {
				return Logits{}, fmt.Errorf("%w: softmax without input", ErrNoLogits)
			}
			beta := float32(1)
			if o, ok := op.Options.(*SoftmaxOptions); ok && o.Beta != 0 {
				beta = o.Beta
			}
			return Logits{Tensor: op.Inputs[0], ViaSoftmax: true, Beta: beta}, nil
		case OpQuantize, OpDequantize, OpReshape, OpSqueeze:
			if len(op.Inputs) == 0 || op.Inputs[0] < 0 {
				return Logits{}, fmt.Errorf("%w: %s without input", ErrNoLogits, code)
			}
			t = op.Inputs[0]
		case OpLogistic, OpLogSoftmax, OpArgMax:
			return Logits{}, fmt.Errorf("%w: output comes from %s", ErrNoLogits, code)
		default:
			return Logits{Tensor: sg.Outputs[0], Beta: 1}, nil
		}
	}
	return Logits{}, fmt.Errorf("%w: cycle in graph", ErrNoLogits)
}
