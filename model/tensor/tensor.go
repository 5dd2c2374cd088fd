package tensor

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/ood-agent/ood-agent/model"
)

// Tensor is a tensor at run time: its description plus the memory that holds
// its values. Data is little-endian, row-major (NHWC for images) and aligned
// for its element type.
type Tensor struct {
	Name  string
	Type  model.TensorType
	Shape []int
	Data  []byte
	Quant *model.Quantization
	// Const marks tensors whose data comes from the model file; kernels must
	// never write to them (the file may be memory-mapped read-only).
	Const bool
	// Variable marks state that persists across invocations.
	Variable bool
}

// NumElements is the product of the shape's dimensions.
func (t *Tensor) NumElements() int { return NumElements(t.Shape) }

// NumElements is the product of dims (1 for a scalar).
func NumElements(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// Bytes is the size the tensor's data needs.
func (t *Tensor) Bytes() int { return t.NumElements() * t.Type.Size() }

// Dim returns dimension i, counting from the end when i is negative.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Scale is the (first) quantization scale, or 0 when the tensor is not quantized.
func (t *Tensor) Scale() float64 {
	if t.Quant == nil || len(t.Quant.Scale) == 0 {
		return 0
	}
	return float64(t.Quant.Scale[0])
}

// ZeroPoint is the (first) quantization zero point.
func (t *Tensor) ZeroPoint() int32 {
	if t.Quant == nil || len(t.Quant.ZeroPoint) == 0 {
		return 0
	}
	return int32(t.Quant.ZeroPoint[0])
}

// Quantized reports whether the tensor has quantization scales.
func (t *Tensor) Quantized() bool { return t.Quant != nil && len(t.Quant.Scale) > 0 }

// View reinterprets b as a slice of T without copying; b must be aligned for T.
func View[T any](b []byte) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if len(b) < size {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/size)
}

// F32 views the data as float32 values.
func (t *Tensor) F32() []float32 { return View[float32](t.Data) }

// I32 views the data as int32 values.
func (t *Tensor) I32() []int32 { return View[int32](t.Data) }

// I64 views the data as int64 values.
func (t *Tensor) I64() []int64 { return View[int64](t.Data) }

// I16 views the data as int16 values.
func (t *Tensor) I16() []int16 { return View[int16](t.Data) }

// I8 views the data as int8 values.
func (t *Tensor) I8() []int8 { return View[int8](t.Data) }

// U8 views the data as uint8 values.
func (t *Tensor) U8() []uint8 { return t.Data }

// Bool views the data as bool values (one byte each).
func (t *Tensor) Bool() []bool { return View[bool](t.Data) }

// Ints reads an int32 or int64 tensor (shape operands and axes) as ints.
func (t *Tensor) Ints() ([]int, error) {
	switch t.Type {
	case model.Int32:
		v := t.I32()
		out := make([]int, len(v))
		for i, x := range v {
			out[i] = int(x)
		}
		return out, nil
	case model.Int64:
		v := t.I64()
		out := make([]int, len(v))
		for i, x := range v {
			out[i] = int(x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q: want int32 or int64 values, got %s", t.Name, t.Type)
}

func (t *Tensor) String() string {
	return fmt.Sprintf("%q %s%v", t.Name, t.Type, t.Shape)
}

// AlignedBytes returns n zeroed bytes whose start is 64-byte aligned, so that
// any element type can be viewed in place.
func AlignedBytes(n int) []byte {
	const align = 64
	words := make([]uint64, (n+align)/8+1)
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (align - 1))
	return b[off : off+n : off+n]
}

// Aligned reports whether b's start is aligned for elements of size bytes.
func Aligned(b []byte, size int) bool {
	if len(b) == 0 || size <= 1 {
		return true
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(size) == 0
}

// Dequantize writes the tensor's values as real numbers into dst (reused
// when its capacity suffices) and returns it: quantized values become
// scale·(q − zero point), per channel when there are several scales; float
// values are copied. With a large enough dst it does not allocate.
func (t *Tensor) Dequantize(dst []float32) ([]float32, error) {
	n := t.NumElements()
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	if t.Type == model.Float32 {
		copy(dst, t.F32())
		return dst, nil
	}
	qa := newQuantAt(t)
	switch t.Type {
	case model.Int8:
		for i, q := range t.I8()[:n] {
			dst[i] = qa.real(i, int64(q))
		}
	case model.Uint8:
		for i, q := range t.U8()[:n] {
			dst[i] = qa.real(i, int64(q))
		}
	case model.Int16:
		for i, q := range t.I16()[:n] {
			dst[i] = qa.real(i, int64(q))
		}
	case model.Int32:
		for i, q := range t.I32()[:n] {
			dst[i] = qa.real(i, int64(q))
		}
	case model.Bool:
		for i, q := range t.U8()[:n] {
			dst[i] = float32(q)
		}
	default:
		return nil, fmt.Errorf("tensor %q: cannot dequantize %s", t.Name, t.Type)
	}
	return dst, nil
}

// quantAt finds the scale and zero point of element i; an unquantized
// integer tensor has scale 1 and zero point 0.
type quantAt struct {
	q               *model.Quantization
	inner, channels int
}

func newQuantAt(t *Tensor) quantAt {
	qa := quantAt{q: t.Quant, inner: 1, channels: 1}
	if q := t.Quant; q != nil && len(q.Scale) > 1 && q.QuantizedDimension < len(t.Shape) {
		qa.inner = NumElements(t.Shape[q.QuantizedDimension+1:])
		qa.channels = t.Shape[q.QuantizedDimension]
	}
	return qa
}

func (qa quantAt) real(i int, v int64) float32 {
	q := qa.q
	if q == nil || len(q.Scale) == 0 {
		return float32(v)
	}
	ch := 0
	if qa.channels > 1 {
		ch = (i / qa.inner) % qa.channels
	}
	scale := q.Scale[min(ch, len(q.Scale)-1)]
	var zero int64
	if len(q.ZeroPoint) > 0 {
		zero = q.ZeroPoint[min(ch, len(q.ZeroPoint)-1)]
	}
	return scale * float32(v-zero)
}

// QuantRange is the representable range of a quantized type.
func QuantRange(t model.TensorType) (lo, hi int32) {
	switch t {
	case model.Int8:
		return math.MinInt8, math.MaxInt8
	case model.Uint8:
		return 0, math.MaxUint8
	case model.Int16:
		return math.MinInt16, math.MaxInt16
	case model.Int32:
		return math.MinInt32, math.MaxInt32
	}
	return 0, 0
}
