package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// Test helpers of the shape/reduce group, prefixed "shp" to stay clear of
// other groups' helpers in this package.

// shpT builds a tensor holding vals, a slice of the Go type matching typ
// (bool tensors take []bool).
func shpT(typ model.TensorType, shape []int, vals any) *Tensor {
	t := &Tensor{Name: fmt.Sprintf("%s%v", typ, shape), Type: typ, Shape: append([]int{}, shape...)}
	t.Data = AlignedBytes(t.Bytes())
	switch v := vals.(type) {
	case nil:
	case []float32:
		copy(t.F32(), v)
	case []int32:
		copy(t.I32(), v)
	case []int64:
		copy(t.I64(), v)
	case []int16:
		copy(t.I16(), v)
	case []int8:
		copy(t.I8(), v)
	case []uint8:
		copy(t.U8(), v)
	case []bool:
		copy(t.Bool(), v)
	default:
		panic(fmt.Sprintf("shpT: unsupported values %T", vals))
	}
	return t
}

// shpConst marks t constant.
func shpConst(t *Tensor) *Tensor { t.Const = true; return t }

// shpI32 is a constant int32 operand.
func shpI32(v ...int32) *Tensor { return shpConst(shpT(model.Int32, []int{len(v)}, v)) }

// shpPads is a constant int32 paddings operand of shape [len(v)/2, 2].
func shpPads(v ...int32) *Tensor { return shpConst(shpT(model.Int32, []int{len(v) / 2, 2}, v)) }

// shpQ attaches per-tensor quantization.
func shpQ(t *Tensor, scale float32, zp int64) *Tensor {
	t.Quant = &model.Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}}
	return t
}

// shpOut is an output tensor of typ whose shape Prepare sets.
func shpOut(typ model.TensorType, shape ...int) *Tensor {
	return &Tensor{Name: "out", Type: typ, Shape: shape}
}

// shpRun prepares and evaluates k on a node with threads goroutines,
// allocating the outputs between Prepare and Eval as the interpreter does.
func shpRun(k Kernel, op model.BuiltinOp, opts any, ins []*Tensor, outs []*Tensor, threads int) error {
	ctx := NewContext(threads)
	defer ctx.Close()
	n := &Node{Op: op, Options: opts, Inputs: ins, Outputs: outs}
	if err := k.Prepare(ctx, n); err != nil {
		return err
	}
	for _, o := range outs {
		o.Data = AlignedBytes(o.Bytes())
	}
	return k.Eval(ctx, n)
}

// shpKernel makes the registered kernel for op.
func shpKernel(t testing.TB, op model.BuiltinOp) Kernel {
	t.Helper()
	f, ok := Registry()[op]
	if !ok {
		t.Fatalf("no kernel registered for %s", op)
	}
	return f()
}

// shpRand is a small deterministic generator (xorshift) so tests need no
// seeding policy.
type shpRand struct{ s uint64 }

func (r *shpRand) next() uint64 {
	r.s ^= r.s << 13
	r.s ^= r.s >> 7
	r.s ^= r.s << 17
	return r.s
}

func (r *shpRand) intn(n int) int { return int(r.next() % uint64(n)) }

func (r *shpRand) float() float32 { return float32(r.next()%20001)/10000 - 1 }

func (r *shpRand) floats(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.float()
	}
	return v
}

func (r *shpRand) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.next())
	}
	return b
}

func (r *shpRand) shape(rank, maxDim int) []int {
	s := make([]int, rank)
	for i := range s {
		s[i] = 1 + r.intn(maxDim)
	}
	return s
}

// shpIndex is the row-major flat index of idx in shape.
func shpIndex(shape, idx []int) int {
	f := 0
	for i, d := range shape {
		f = f*d + idx[i]
	}
	return f
}

// shpEach calls fn for every index of shape in row-major order.
func shpEach(shape []int, fn func(idx []int)) {
	n := NumElements(shape)
	idx := make([]int, len(shape))
	for i := 0; i < n; i++ {
		fn(idx)
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
	}
}

// shpElem returns element i of t's data as raw little-endian bits.
func shpElem(t *Tensor, i int) uint64 {
	es := t.Type.Size()
	var b [8]byte
	copy(b[:], t.Data[i*es:(i+1)*es])
	return binary.LittleEndian.Uint64(b[:])
}

// shpCloseF32 compares float slices within abs+rel*|want|.
func shpCloseF32(t *testing.T, what string, got, want []float32, abs, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > abs+rel*math.Abs(float64(want[i])) || math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// shpQuantize maps a real value to the quantized grid of t's type.
func shpQuantize(typ model.TensorType, x float64, scale float32, zp int64) int32 {
	lo, hi := QuantRange(typ)
	return Clamp32(int32(math.Round(x/float64(scale)))+int32(zp), lo, hi)
}

// shpQuantVals reads a quantized tensor's raw values as int32.
func shpQuantVals(t *Tensor) []int32 {
	n := t.NumElements()
	v := make([]int32, n)
	for i := range v {
		v[i] = ewGetQ(t, i)
	}
	return v
}

// shpDequant reads a quantized tensor as real values.
func shpDequant(t *Tensor) []float32 {
	raw := shpQuantVals(t)
	out := make([]float32, len(raw))
	for i, q := range raw {
		out[i] = float32(t.Scale() * float64(q-t.ZeroPoint()))
	}
	return out
}

// shpRandQuant fills a quantized tensor of typ with random raw values.
func shpRandQuant(r *shpRand, typ model.TensorType, shape []int, scale float32, zp int64) *Tensor {
	t := shpQ(shpT(typ, shape, nil), scale, zp)
	lo, hi := QuantRange(typ)
	for i := 0; i < t.NumElements(); i++ {
		ewSetQ(t, i, lo+int32(r.intn(int(hi-lo)+1)))
	}
	return t
}

// shpWithinSteps checks quantized outputs against the float result
// quantized to the output grid.
func shpWithinSteps(t *testing.T, what string, out *Tensor, want []float32, steps int32) {
	t.Helper()
	got := shpQuantVals(out)
	for i, w := range want {
		q := shpQuantize(out.Type, float64(w), float32(out.Scale()), int64(out.ZeroPoint()))
		if d := got[i] - q; d > steps || d < -steps {
			t.Fatalf("%s: [%d] = %d, want %d (±%d) from real %v", what, i, got[i], q, steps, w)
		}
	}
}
