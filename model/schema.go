package model

import "fmt"

// TensorType is the element type of a tensor, numbered as in the TFLite schema.
type TensorType int8

// Tensor element types.
const (
	Float32 TensorType = 0
	Float16 TensorType = 1
	Int32   TensorType = 2
	Uint8   TensorType = 3
	Int64   TensorType = 4
	String  TensorType = 5
	Bool    TensorType = 6
	Int16   TensorType = 7
	Int8    TensorType = 9
	Float64 TensorType = 10
)

var tensorTypeNames = map[TensorType]string{
	Float32: "float32", Float16: "float16", Int32: "int32", Uint8: "uint8",
	Int64: "int64", String: "string", Bool: "bool", Int16: "int16",
	Int8: "int8", Float64: "float64",
}

func (t TensorType) String() string {
	if s, ok := tensorTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", int8(t))
}

// Size returns the size of one element in bytes, or 0 for types without a
// fixed size.
func (t TensorType) Size() int {
	switch t {
	case Float32, Int32:
		return 4
	case Uint8, Int8, Bool:
		return 1
	case Int16, Float16:
		return 2
	case Int64, Float64:
		return 8
	}
	return 0
}

// ParseTensorType maps a name such as "float32" to its TensorType.
func ParseTensorType(s string) (TensorType, error) {
	for t, n := range tensorTypeNames {
		if n == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown tensor type %q", s)
}

// BuiltinOp is a TFLite builtin operator code.
type BuiltinOp int32

func (op BuiltinOp) String() string {
	if op >= 0 && int(op) < len(builtinOpNames) {
		return builtinOpNames[op]
	}
	return fmt.Sprintf("BUILTIN_%d", int32(op))
}

// Model is a decoded .tflite file: the graph as the converter wrote it.
type Model struct {
	Version       uint32
	Description   string
	OperatorCodes []OperatorCode
	Subgraphs     []Subgraph
	// Buffers holds the raw bytes of each buffer; Buffers[0] is the empty
	// sentinel. When decoded from a file the slices alias the file bytes.
	Buffers  [][]byte
	Metadata []MetadataEntry
}

// OperatorCode names the operator that Operator.OpcodeIndex refers to.
type OperatorCode struct {
	Builtin BuiltinOp
	Custom  string // set for CUSTOM ops
	Version int32
}

// MetadataEntry is a named pointer into Buffers.
type MetadataEntry struct {
	Name   string
	Buffer int
}

// Subgraph is one graph of tensors and operators in execution order.
type Subgraph struct {
	Name      string
	Tensors   []Tensor
	Inputs    []int
	Outputs   []int
	Operators []Operator
}

// Tensor describes one tensor of a subgraph.
type Tensor struct {
	Name   string
	Type   TensorType
	Shape  []int
	Buffer int // index into Model.Buffers; 0 means no constant data
	Quant  *Quantization
	// IsVariable marks state that persists across invocations (LSTM state).
	IsVariable bool
	// ShapeSignature holds -1 for dynamic dimensions, when the converter wrote it.
	ShapeSignature []int
}

// Quantization holds affine quantization parameters: real = scale*(q-zero).
// With more than one scale the tensor is quantized per channel along
// QuantizedDimension.
type Quantization struct {
	Scale              []float32
	ZeroPoint          []int64
	Min, Max           []float32
	QuantizedDimension int
}

// Operator is one node of a subgraph.
type Operator struct {
	OpcodeIndex   int
	Inputs        []int // -1 marks an omitted optional input
	Outputs       []int
	Intermediates []int
	// Options holds the typed builtin options (for example *Conv2DOptions),
	// or nil for operators that have none.
	Options any
	// CustomOptions holds the raw options of CUSTOM operators.
	CustomOptions []byte
}

// Padding is the padding scheme of convolutions and pools.
type Padding int8

// Padding schemes.
const (
	PaddingSame  Padding = 0
	PaddingValid Padding = 1
)

// Activation is a fused activation function.
type Activation int8

// Fused activation functions.
const (
	ActNone      Activation = 0
	ActRelu      Activation = 1
	ActReluN1To1 Activation = 2
	ActRelu6     Activation = 3
	ActTanh      Activation = 4
	ActSignBit   Activation = 5
)

func (a Activation) String() string {
	switch a {
	case ActNone:
		return "NONE"
	case ActRelu:
		return "RELU"
	case ActReluN1To1:
		return "RELU_N1_TO_1"
	case ActRelu6:
		return "RELU6"
	case ActTanh:
		return "TANH"
	case ActSignBit:
		return "SIGN_BIT"
	}
	return fmt.Sprintf("activation(%d)", int8(a))
}
