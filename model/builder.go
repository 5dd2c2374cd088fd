package model

import (
	"encoding/binary"
	"math"
)

// Builder assembles a single-subgraph model from Go: tensors, constant
// buffers and operators. Encode (or EncodeWithFiles) turns the result into a
// .tflite file.
type Builder struct {
	m *Model
}

// NewBuilder starts a model with the given description.
func NewBuilder(description string) *Builder {
	m := &Model{Version: 3, Description: description, Buffers: [][]byte{nil}}
	m.Subgraphs = []Subgraph{{Name: "main"}}
	return &Builder{m: m}
}

// Tensor adds a tensor without data (an activation) and returns its index.
func (b *Builder) Tensor(name string, typ TensorType, shape []int, q *Quantization) int {
	return b.add(Tensor{Name: name, Type: typ, Shape: shape, Quant: q})
}

// Const adds a constant tensor holding data (raw little-endian bytes).
func (b *Builder) Const(name string, typ TensorType, shape []int, data []byte, q *Quantization) int {
	b.m.Buffers = append(b.m.Buffers, data)
	return b.add(Tensor{Name: name, Type: typ, Shape: shape, Quant: q, Buffer: len(b.m.Buffers) - 1})
}

// ConstF32 adds a float32 constant.
func (b *Builder) ConstF32(name string, shape []int, v []float32) int {
	return b.Const(name, Float32, shape, Float32Bytes(v), nil)
}

// ConstI32 adds an int32 constant (shapes, axes, biases).
func (b *Builder) ConstI32(name string, shape []int, v []int32, q *Quantization) int {
	return b.Const(name, Int32, shape, Int32Bytes(v), q)
}

// Variable adds a variable tensor (state kept across invocations).
func (b *Builder) Variable(name string, typ TensorType, shape []int, q *Quantization) int {
	return b.add(Tensor{Name: name, Type: typ, Shape: shape, Quant: q, IsVariable: true})
}

func (b *Builder) add(t Tensor) int {
	sg := &b.m.Subgraphs[0]
	sg.Tensors = append(sg.Tensors, t)
	return len(sg.Tensors) - 1
}

// Op appends an operator; use -1 for omitted optional inputs.
func (b *Builder) Op(code BuiltinOp, opts any, inputs []int, outputs ...int) {
	idx := -1
	for i, c := range b.m.OperatorCodes {
		if c.Builtin == code {
			idx = i
		}
	}
	if idx < 0 {
		b.m.OperatorCodes = append(b.m.OperatorCodes, OperatorCode{Builtin: code, Version: 1})
		idx = len(b.m.OperatorCodes) - 1
	}
	sg := &b.m.Subgraphs[0]
	sg.Operators = append(sg.Operators, Operator{OpcodeIndex: idx, Inputs: inputs, Outputs: outputs, Options: opts})
}

// SetOpVersion sets the version recorded for an operator code (some runtime
// kernels check it, e.g. for int16 or per-channel variants).
func (b *Builder) SetOpVersion(code BuiltinOp, version int32) {
	for i := range b.m.OperatorCodes {
		if b.m.OperatorCodes[i].Builtin == code {
			b.m.OperatorCodes[i].Version = version
		}
	}
}

// Model finishes the graph with its inputs and outputs.
func (b *Builder) Model(inputs, outputs []int) *Model {
	b.m.Subgraphs[0].Inputs = inputs
	b.m.Subgraphs[0].Outputs = outputs
	return b.m
}

// Float32Bytes encodes float32 values little-endian.
func Float32Bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

// Int32Bytes encodes int32 values little-endian.
func Int32Bytes(v []int32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(x))
	}
	return out
}
