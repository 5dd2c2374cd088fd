package model

import (
	"errors"
	"fmt"
)

// ErrNoFeatures is returned when a classifier's penultimate features cannot
// be found.
var ErrNoFeatures = errors.New("no penultimate features found")

// Features describes where a classifier's penultimate features live and the
// last layer that maps them to the logits.
type Features struct {
	// Tensor is the index of the feature tensor: the input of the head.
	Tensor int
	// Dim is the number of features.
	Dim int
	// Head is the operator index of the last layer, a FULLY_CONNECTED or a
	// 1×1 CONV_2D on a 1×1 input.
	Head int
	// HeadOp is that operator's code.
	HeadOp BuiltinOp
	// Weights is the tensor index of the head's weights, [Classes, Dim] or
	// [Classes, 1, 1, Dim].
	Weights int
	// Bias is the tensor index of the head's bias, or −1 without one.
	Bias int
	// Classes is the number of logits the head produces.
	Classes int
	// Activation is the head's fused activation (normally NONE).
	Activation Activation
	// Logits is the logits tensor (as FindLogits reports it).
	Logits int
}

// FindFeatures finds the penultimate features of a classifier: starting at
// the logits (FindLogits) it walks back through RESHAPE, SQUEEZE, QUANTIZE
// and DEQUANTIZE to the last FULLY_CONNECTED or 1×1 CONV_2D, whose input is
// the feature vector. The head's weights must be constant so the last layer
// can be recomputed outside the interpreter (ReAct, ASH, adaptation).
func (m *Model) FindFeatures() (Features, error) {
	lg, err := m.FindLogits()
	if err != nil {
		return Features{}, fmt.Errorf("%w: %w", ErrNoFeatures, err)
	}
	sg := &m.Subgraphs[0]
	producer := make(map[int]int, len(sg.Operators))
	for oi, op := range sg.Operators {
		for _, t := range op.Outputs {
			producer[t] = oi
		}
	}
	t := lg.Tensor
	for steps := 0; steps <= len(sg.Operators); steps++ {
		oi, ok := producer[t]
		if !ok {
			return Features{}, fmt.Errorf("%w: tensor %d is not produced by a layer", ErrNoFeatures, t)
		}
		op := sg.Operators[oi]
		code := m.OperatorCodes[op.OpcodeIndex].Builtin
		switch code {
		case OpReshape, OpSqueeze, OpQuantize, OpDequantize:
			if len(op.Inputs) == 0 || op.Inputs[0] < 0 {
				return Features{}, fmt.Errorf("%w: %s without input", ErrNoFeatures, code)
			}
			t = op.Inputs[0]
		case OpFullyConnected, OpConv2D:
			return m.head(oi, code, lg.Tensor)
		default:
			return Features{}, fmt.Errorf("%w: logits come from %s, not a FULLY_CONNECTED or 1×1 CONV_2D", ErrNoFeatures, code)
		}
	}
	return Features{}, fmt.Errorf("%w: cycle in graph", ErrNoFeatures)
}

// head checks the last layer at operator oi and describes it.
func (m *Model) head(oi int, code BuiltinOp, logits int) (Features, error) {
	sg := &m.Subgraphs[0]
	op := sg.Operators[oi]
	if len(op.Inputs) < 2 || op.Inputs[0] < 0 || op.Inputs[1] < 0 {
		return Features{}, fmt.Errorf("%w: %s without input or weights", ErrNoFeatures, code)
	}
	in, w := &sg.Tensors[op.Inputs[0]], &sg.Tensors[op.Inputs[1]]
	if w.Buffer <= 0 || w.Buffer >= len(m.Buffers) || len(m.Buffers[w.Buffer]) == 0 {
		return Features{}, fmt.Errorf("%w: %s weights %q are not constant", ErrNoFeatures, code, w.Name)
	}
	f := Features{Tensor: op.Inputs[0], Head: oi, HeadOp: code, Weights: op.Inputs[1], Bias: -1, Logits: logits}
	if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
		f.Bias = op.Inputs[2]
	}
	inputs := 1
	for _, d := range in.Shape {
		inputs *= d
	}
	switch code {
	case OpFullyConnected:
		if len(w.Shape) != 2 {
			return Features{}, fmt.Errorf("%w: FULLY_CONNECTED weights have shape %v", ErrNoFeatures, w.Shape)
		}
		if o, ok := op.Options.(*FullyConnectedOptions); ok {
			f.Activation = o.Activation
		}
	case OpConv2D:
		if len(w.Shape) != 4 || w.Shape[1] != 1 || w.Shape[2] != 1 {
			return Features{}, fmt.Errorf("%w: CONV_2D head has a %v kernel, want 1×1", ErrNoFeatures, w.Shape)
		}
		if o, ok := op.Options.(*Conv2DOptions); ok {
			f.Activation = o.Activation
		}
	}
	f.Classes, f.Dim = w.Shape[0], w.Shape[len(w.Shape)-1]
	if inputs != f.Dim {
		return Features{}, fmt.Errorf("%w: %s input %q has shape %v, want %d values", ErrNoFeatures, code, in.Name, in.Shape, f.Dim)
	}
	switch f.Activation {
	case ActNone, ActRelu, ActRelu6, ActReluN1To1:
	default:
		return Features{}, fmt.Errorf("%w: head activation %s", ErrNoFeatures, f.Activation)
	}
	return f, nil
}
