package model

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Builtin options tables. Each field carries its slot in the flatbuffer table
// (`fb:"slot"`) and, where the schema gives one, its default
// (`fb:"slot,default=1"`). One reflective decoder and encoder serve them all;
// they run at load and export time only.

// Conv2DOptions configures CONV_2D.
type Conv2DOptions struct {
	Padding    Padding    `fb:"0"`
	StrideW    int32      `fb:"1"`
	StrideH    int32      `fb:"2"`
	Activation Activation `fb:"3"`
	DilationW  int32      `fb:"4,default=1"`
	DilationH  int32      `fb:"5,default=1"`
}

// DepthwiseConv2DOptions configures DEPTHWISE_CONV_2D.
type DepthwiseConv2DOptions struct {
	Padding         Padding    `fb:"0"`
	StrideW         int32      `fb:"1"`
	StrideH         int32      `fb:"2"`
	DepthMultiplier int32      `fb:"3"`
	Activation      Activation `fb:"4"`
	DilationW       int32      `fb:"5,default=1"`
	DilationH       int32      `fb:"6,default=1"`
}

// Pool2DOptions configures AVERAGE_POOL_2D, MAX_POOL_2D and L2_POOL_2D.
type Pool2DOptions struct {
	Padding      Padding    `fb:"0"`
	StrideW      int32      `fb:"1"`
	StrideH      int32      `fb:"2"`
	FilterWidth  int32      `fb:"3"`
	FilterHeight int32      `fb:"4"`
	Activation   Activation `fb:"5"`
}

// FullyConnectedOptions configures FULLY_CONNECTED.
type FullyConnectedOptions struct {
	Activation               Activation `fb:"0"`
	WeightsFormat            int8       `fb:"1"`
	KeepNumDims              bool       `fb:"2"`
	AsymmetricQuantizeInputs bool       `fb:"3"`
}

// SoftmaxOptions configures SOFTMAX.
type SoftmaxOptions struct {
	Beta float32 `fb:"0"`
}

// ConcatenationOptions configures CONCATENATION.
type ConcatenationOptions struct {
	Axis       int32      `fb:"0"`
	Activation Activation `fb:"1"`
}

// AddOptions configures ADD.
type AddOptions struct {
	Activation    Activation `fb:"0"`
	PotScaleInt16 bool       `fb:"1,default=1"`
}

// SubOptions configures SUB.
type SubOptions struct {
	Activation    Activation `fb:"0"`
	PotScaleInt16 bool       `fb:"1,default=1"`
}

// MulOptions configures MUL.
type MulOptions struct {
	Activation Activation `fb:"0"`
}

// DivOptions configures DIV.
type DivOptions struct {
	Activation Activation `fb:"0"`
}

// ResizeBilinearOptions configures RESIZE_BILINEAR.
type ResizeBilinearOptions struct {
	AlignCorners     bool `fb:"2"`
	HalfPixelCenters bool `fb:"3"`
}

// ResizeNearestNeighborOptions configures RESIZE_NEAREST_NEIGHBOR.
type ResizeNearestNeighborOptions struct {
	AlignCorners     bool `fb:"0"`
	HalfPixelCenters bool `fb:"1"`
}

// ReshapeOptions configures RESHAPE when the shape is not an input.
type ReshapeOptions struct {
	NewShape []int32 `fb:"0"`
}

// GatherOptions configures GATHER.
type GatherOptions struct {
	Axis      int32 `fb:"0"`
	BatchDims int32 `fb:"1"`
}

// ReducerOptions configures MEAN, SUM, REDUCE_MAX, REDUCE_MIN and REDUCE_PROD.
type ReducerOptions struct {
	KeepDims bool `fb:"0"`
}

// SqueezeOptions configures SQUEEZE.
type SqueezeOptions struct {
	SqueezeDims []int32 `fb:"0"`
}

// StridedSliceOptions configures STRIDED_SLICE.
type StridedSliceOptions struct {
	BeginMask      int32 `fb:"0"`
	EndMask        int32 `fb:"1"`
	EllipsisMask   int32 `fb:"2"`
	NewAxisMask    int32 `fb:"3"`
	ShrinkAxisMask int32 `fb:"4"`
	Offset         bool  `fb:"5"`
}

// SplitOptions configures SPLIT and SPLIT_V.
type SplitOptions struct {
	NumSplits int32 `fb:"0"`
}

// CastOptions configures CAST.
type CastOptions struct {
	InDataType  TensorType `fb:"0"`
	OutDataType TensorType `fb:"1"`
}

// ArgMaxOptions configures ARG_MAX and ARG_MIN.
type ArgMaxOptions struct {
	OutputType TensorType `fb:"0"`
}

// PackOptions configures PACK.
type PackOptions struct {
	ValuesCount int32 `fb:"0"`
	Axis        int32 `fb:"1"`
}

// UnpackOptions configures UNPACK.
type UnpackOptions struct {
	Num  int32 `fb:"0"`
	Axis int32 `fb:"1"`
}

// LeakyReluOptions configures LEAKY_RELU.
type LeakyReluOptions struct {
	Alpha float32 `fb:"0"`
}

// BatchMatMulOptions configures BATCH_MATMUL.
type BatchMatMulOptions struct {
	AdjX                     bool `fb:"0"`
	AdjY                     bool `fb:"1"`
	AsymmetricQuantizeInputs bool `fb:"2"`
}

// GeluOptions configures GELU.
type GeluOptions struct {
	Approximate bool `fb:"0"`
}

// SequenceLSTMOptions configures UNIDIRECTIONAL_SEQUENCE_LSTM.
type SequenceLSTMOptions struct {
	Activation               Activation `fb:"0"`
	CellClip                 float32    `fb:"1"`
	ProjClip                 float32    `fb:"2"`
	TimeMajor                bool       `fb:"3"`
	AsymmetricQuantizeInputs bool       `fb:"4"`
	DiagonalRecurrentTensors bool       `fb:"5"`
}

// optionsKind says which options table an operator carries: its union type in
// the BuiltinOptions union and a constructor for the Go struct. Operators that
// are absent have no options the interpreter reads.
type optionsKind struct {
	union uint8
	make  func() any
}

func optionsFor(op BuiltinOp) (optionsKind, bool) {
	switch op {
	case OpConv2D:
		return optionsKind{1, func() any { return new(Conv2DOptions) }}, true
	case OpDepthwiseConv2D:
		return optionsKind{2, func() any { return new(DepthwiseConv2DOptions) }}, true
	case OpAveragePool2D, OpMaxPool2D, OpL2Pool2D:
		return optionsKind{5, func() any { return new(Pool2DOptions) }}, true
	case OpFullyConnected:
		return optionsKind{8, func() any { return new(FullyConnectedOptions) }}, true
	case OpSoftmax:
		return optionsKind{9, func() any { return new(SoftmaxOptions) }}, true
	case OpConcatenation:
		return optionsKind{10, func() any { return new(ConcatenationOptions) }}, true
	case OpAdd:
		return optionsKind{11, func() any { return new(AddOptions) }}, true
	case OpResizeBilinear:
		return optionsKind{15, func() any { return new(ResizeBilinearOptions) }}, true
	case OpReshape:
		return optionsKind{17, func() any { return new(ReshapeOptions) }}, true
	case OpMul:
		return optionsKind{21, func() any { return new(MulOptions) }}, true
	case OpGather:
		return optionsKind{23, func() any { return new(GatherOptions) }}, true
	case OpMean, OpSum, OpReduceMax, OpReduceMin, OpReduceProd:
		return optionsKind{27, func() any { return new(ReducerOptions) }}, true
	case OpSub:
		return optionsKind{28, func() any { return new(SubOptions) }}, true
	case OpDiv:
		return optionsKind{29, func() any { return new(DivOptions) }}, true
	case OpSqueeze:
		return optionsKind{30, func() any { return new(SqueezeOptions) }}, true
	case OpStridedSlice:
		return optionsKind{32, func() any { return new(StridedSliceOptions) }}, true
	case OpSplit:
		return optionsKind{35, func() any { return new(SplitOptions) }}, true
	case OpCast:
		return optionsKind{37, func() any { return new(CastOptions) }}, true
	case OpArgMax:
		return optionsKind{40, func() any { return new(ArgMaxOptions) }}, true
	case OpArgMin:
		return optionsKind{57, func() any { return new(ArgMaxOptions) }}, true
	case OpPack:
		return optionsKind{59, func() any { return new(PackOptions) }}, true
	case OpUnpack:
		return optionsKind{64, func() any { return new(UnpackOptions) }}, true
	case OpUnidirectionalSequenceLstm:
		return optionsKind{71, func() any { return new(SequenceLSTMOptions) }}, true
	case OpResizeNearestNeighbor:
		return optionsKind{74, func() any { return new(ResizeNearestNeighborOptions) }}, true
	case OpLeakyRelu:
		return optionsKind{75, func() any { return new(LeakyReluOptions) }}, true
	case OpSplitV:
		return optionsKind{79, func() any { return new(SplitOptions) }}, true
	case OpBatchMatmul:
		return optionsKind{101, func() any { return new(BatchMatMulOptions) }}, true
	case OpGelu:
		return optionsKind{116, func() any { return new(GeluOptions) }}, true
	}
	return optionsKind{}, false
}

// optionField is one decoded `fb` struct tag.
type optionField struct {
	index int // struct field index
	slot  int
	def   int64
}

func optionFields(t reflect.Type) []optionField {
	var fields []optionField
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("fb")
		if tag == "" {
			continue
		}
		parts := strings.Split(tag, ",")
		slot, err := strconv.Atoi(parts[0])
		if err != nil {
			panic(fmt.Sprintf("model: bad fb tag on %s.%s", t.Name(), t.Field(i).Name))
		}
		f := optionField{index: i, slot: slot}
		if len(parts) > 1 && strings.HasPrefix(parts[1], "default=") {
			f.def, _ = strconv.ParseInt(strings.TrimPrefix(parts[1], "default="), 10, 64)
		}
		fields = append(fields, f)
	}
	return fields
}

// decodeOptions fills the options struct for op from table t.
func (r *reader) decodeOptions(op BuiltinOp, t table) any {
	return buildOptions(op, func(fv reflect.Value, f optionField) {
		switch fv.Kind() {
		case reflect.Bool:
			fv.SetBool(r.fieldBool(t, f.slot, f.def != 0))
		case reflect.Int8:
			fv.SetInt(int64(int8(r.fieldU8(t, f.slot, uint8(f.def)))))
		case reflect.Int32:
			fv.SetInt(int64(r.fieldI32(t, f.slot, int32(f.def))))
		case reflect.Float32:
			fv.SetFloat(float64(r.fieldF32(t, f.slot, 0)))
		case reflect.Slice:
			ints := r.fieldInts(t, f.slot, "options vector")
			if ints != nil {
				s := make([]int32, len(ints))
				for i, x := range ints {
					s[i] = int32(x)
				}
				fv.Set(reflect.ValueOf(s))
			}
		}
	})
}

// defaultOptions returns op's options with every field at its schema default,
// as TFLite reads an operator whose options table is missing.
func defaultOptions(op BuiltinOp) any {
	return buildOptions(op, func(fv reflect.Value, f optionField) {
		switch fv.Kind() {
		case reflect.Bool:
			fv.SetBool(f.def != 0)
		case reflect.Int8, reflect.Int32:
			fv.SetInt(f.def)
		}
	})
}

// buildOptions makes a new options struct for op (nil if op has none) and
// calls set on each of its flatbuffer fields.
func buildOptions(op BuiltinOp, set func(fv reflect.Value, f optionField)) any {
	kind, ok := optionsFor(op)
	if !ok {
		return nil
	}
	opts := kind.make()
	v := reflect.ValueOf(opts).Elem()
	for _, f := range optionFields(v.Type()) {
		set(v.Field(f.index), f)
	}
	return opts
}
