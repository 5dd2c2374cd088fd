package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

func TestQuantizeFloatHandWorked(t *testing.T) {
	in := []float32{0, 0.25, -0.25, 0.75, -0.75, 1.2, 100, -100, float32(math.NaN())}
	tests := []struct {
		name string
		typ  model.TensorType
		q    *model.Quantization
		want []int32
	}{
		// Halves round away from zero: 0.25/0.5 = 0.5 → 1, -0.5 → -1,
		// 1.5 → 2; out-of-range values clamp; NaN becomes the zero point.
		{"int8", model.Int8, ewQ(0.5, 0), []int32{0, 1, -1, 2, -2, 2, 127, -128, 0}},
		{"int8 zero point", model.Int8, ewQ(0.5, -10), []int32{-10, -9, -11, -8, -12, -8, 127, -128, -10}},
		{"uint8", model.Uint8, ewQ(0.5, 128), []int32{128, 129, 127, 130, 126, 130, 255, 0, 128}},
		{"int16", model.Int16, ewQ(0.5, 0), []int32{0, 1, -1, 2, -2, 2, 200, -200, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ewOut(tt.typ, tt.q)
			ewEval(t, newQuantize, model.OpQuantize, nil, NewContext(1), out, ewF32([]int{len(in)}, in...))
			for i, want := range tt.want {
				if got := ewGetQ(out, i); got != want {
					t.Errorf("QUANTIZE(%g) to %s = %d, want %d", in[i], tt.typ, got, want)
				}
			}
		})
	}
}

func TestQuantizePerChannel(t *testing.T) {
	in := ewF32([]int{2, 3}, 1, 1, 1, -1, -1, -1)
	q := &model.Quantization{Scale: []float32{0.5, 0.25, 1}, ZeroPoint: []int64{0, 1, -1}, QuantizedDimension: 1}
	out := ewOut(model.Int8, q)
	ewEval(t, newQuantize, model.OpQuantize, nil, NewContext(1), out, in)
	if got, want := out.I8(), []int8{2, 5, 0, -2, -3, -2}; !slices.Equal(got, want) {
		t.Errorf("per-channel QUANTIZE = %v, want %v", got, want)
	}

	deq := ewOut(model.Float32, nil)
	ewEval(t, newDequantize, model.OpDequantize, nil, NewContext(1), deq, out)
	if got := deq.F32(); !slices.Equal(got, in.F32()) {
		t.Errorf("per-channel DEQUANTIZE = %v, want %v", got, in.F32())
	}
}

// TestRequantizeMatchesFloat checks the fixed-point requantization against
// rescaling in float64 for every input value.
func TestRequantizeMatchesFloat(t *testing.T) {
	pairs := [][2]model.TensorType{
		{model.Int8, model.Uint8}, {model.Uint8, model.Int8}, {model.Int8, model.Int8},
		{model.Uint8, model.Uint8}, {model.Int16, model.Int16}, {model.Int16, model.Int8},
		{model.Int8, model.Int16},
	}
	r := rand.New(rand.NewPCG(17, 18))
	for _, p := range pairs {
		t.Run(p[0].String()+"->"+p[1].String(), func(t *testing.T) {
			for iter := 0; iter < 10; iter++ {
				qi := ewRandQuantParams(r, p[0], 0.01, 0.1)
				qo := ewRandQuantParams(r, p[1], 0.01, 0.1)
				if p[0] == model.Int16 {
					qi.Scale[0] /= 256
				}
				if p[1] == model.Int16 {
					qo.Scale[0] /= 256
				}
				lo, hi := QuantRange(p[0])
				in := ewNew(p[0], []int{int(hi - lo + 1)}, qi)
				for i := 0; i < in.NumElements(); i++ {
					ewSetQ(in, i, lo+int32(i))
				}
				out := ewOut(p[1], qo)
				ewEval(t, newQuantize, model.OpQuantize, nil, NewContext(1), out, in)
				for i := 0; i < in.NumElements(); i++ {
					want := ewQuantRef(out, ewDeq(in, i))
					if got := ewGetQ(out, i); ewAbsDiff(got, want) > 1 {
						t.Fatalf("requantize %d (%v → %v) = %d, want %d ± 1", ewGetQ(in, i), qi, qo, got, want)
					}
				}
			}
		})
	}
}

// TestRequantizeInt8ToUint8 is the common converter case: the same scale
// with zero points 128 apart is a flip of the top bit.
func TestRequantizeInt8ToUint8(t *testing.T) {
	in := ewNew(model.Int8, []int{256}, ewQ(0.03, -5))
	for i := range in.I8() {
		in.I8()[i] = int8(i - 128)
	}
	out := ewOut(model.Uint8, ewQ(0.03, 123))
	ewEval(t, newQuantize, model.OpQuantize, nil, NewContext(1), out, in)
	for i, v := range in.I8() {
		if got, want := out.U8()[i], uint8(v)^0x80; got != want {
			t.Fatalf("requantize int8 %d to uint8 = %d, want %d", v, got, want)
		}
	}
}

func TestDequantize(t *testing.T) {
	t.Run("int8", func(t *testing.T) {
		in := ewNew(model.Int8, []int{4}, ewQ(0.5, -3))
		copy(in.I8(), []int8{-3, -1, 127, -128})
		out := ewOut(model.Float32, nil)
		ewEval(t, newDequantize, model.OpDequantize, nil, NewContext(1), out, in)
		if got, want := out.F32(), []float32{0, 1, 65, -62.5}; !slices.Equal(got, want) {
			t.Errorf("DEQUANTIZE int8 = %v, want %v", got, want)
		}
	})
	t.Run("uint8", func(t *testing.T) {
		in := ewNew(model.Uint8, []int{3}, ewQ(0.25, 128))
		copy(in.U8(), []uint8{128, 0, 255})
		out := ewOut(model.Float32, nil)
		ewEval(t, newDequantize, model.OpDequantize, nil, NewContext(1), out, in)
		if got, want := out.F32(), []float32{0, -32, 31.75}; !slices.Equal(got, want) {
			t.Errorf("DEQUANTIZE uint8 = %v, want %v", got, want)
		}
	})
	t.Run("int16", func(t *testing.T) {
		in := ewNew(model.Int16, []int{3}, ewQ(1.0/1024, 0))
		copy(in.I16(), []int16{1024, -512, 32767})
		out := ewOut(model.Float32, nil)
		ewEval(t, newDequantize, model.OpDequantize, nil, NewContext(1), out, in)
		if got, want := out.F32(), []float32{1, -0.5, 32767.0 / 1024}; !slices.Equal(got, want) {
			t.Errorf("DEQUANTIZE int16 = %v, want %v", got, want)
		}
	})
	t.Run("float16", func(t *testing.T) {
		halves := []uint16{0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x3555, 0x7C00, 0xFC00, 0x0400}
		want := []float32{1, -2, 65504, 5.9604645e-08, float32(math.Copysign(0, -1)), 0.33325195, float32(math.Inf(1)), float32(math.Inf(-1)), 6.1035156e-05}
		in := ewNew(model.Float16, []int{len(halves) + 1}, nil)
		copy(view[uint16](in.Data), append(halves, 0x7E00))
		out := ewOut(model.Float32, nil)
		ewEval(t, newDequantize, model.OpDequantize, nil, NewContext(1), out, in)
		for i, w := range want {
			if got := out.F32()[i]; got != w || math.Signbit(float64(got)) != math.Signbit(float64(w)) {
				t.Errorf("DEQUANTIZE float16 %#04x = %g, want %g", halves[i], got, w)
			}
		}
		if got := out.F32()[len(halves)]; !math.IsNaN(float64(got)) {
			t.Errorf("DEQUANTIZE float16 0x7e00 = %g, want NaN", got)
		}
	})
}

// TestHalfToFloatAllValues decodes every binary16 pattern and re-encodes
// the finite ones by rounding, which must give the pattern back.
func TestHalfToFloatAllValues(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := ewHalfToFloat(uint16(h))
		exp := h >> 10 & 0x1f
		if exp == 0x1f {
			if h&0x3ff == 0 != math.IsInf(float64(f), 0) {
				t.Fatalf("ewHalfToFloat(%#04x) = %g, want ±Inf exactly for zero fraction", h, f)
			}
			continue
		}
		// Value = (-1)^s · m · 2^(e-25) with m the 11-bit significand.
		m := float64(h & 0x3ff)
		e := exp
		if exp != 0 {
			m += 1024
		} else {
			e = 1
		}
		want := math.Ldexp(m, e-25)
		if h&0x8000 != 0 {
			want = -want
		}
		if float64(f) != want {
			t.Fatalf("ewHalfToFloat(%#04x) = %g, want %g", h, f, want)
		}
	}
}

func TestCast(t *testing.T) {
	tests := []struct {
		name     string
		in       *Tensor
		outType  model.TensorType
		wantInts []int64
		wantF32  []float32
	}{
		{name: "float to int32 truncates", in: ewF32([]int{4}, 1.9, -1.9, 0.5, 3e9), outType: model.Int32, wantInts: []int64{1, -1, 0, int64(int32(-1294967296))}},
		{name: "float to bool", in: ewF32([]int{3}, 0, -0.5, 2), outType: model.Bool, wantInts: []int64{0, 1, 1}},
		{name: "int32 to float", in: ewI32([]int{3}, 1, -7, 1<<24+1), outType: model.Float32, wantF32: []float32{1, -7, 1 << 24}},
		{name: "int32 to int8 wraps", in: ewI32([]int{3}, 1, 200, -129), outType: model.Int8, wantInts: []int64{1, -56, 127}},
		{name: "int32 to uint8 wraps", in: ewI32([]int{3}, 1, 256, -1), outType: model.Uint8, wantInts: []int64{1, 0, 255}},
		{name: "int32 to int64", in: ewI32([]int{2}, -5, math.MaxInt32), outType: model.Int64, wantInts: []int64{-5, math.MaxInt32}},
		{name: "bool to float", in: func() *Tensor {
			b := ewNew(model.Bool, []int{3}, nil)
			copy(b.U8(), []uint8{1, 0, 1})
			return b
		}(), outType: model.Float32, wantF32: []float32{1, 0, 1}},
		{name: "int16 to int32", in: func() *Tensor {
			b := ewNew(model.Int16, []int{2}, nil)
			copy(b.I16(), []int16{-300, 300})
			return b
		}(), outType: model.Int32, wantInts: []int64{-300, 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ewOut(tt.outType, nil)
			ewEval(t, newCast, model.OpCast, &model.CastOptions{InDataType: tt.in.Type, OutDataType: tt.outType}, NewContext(1), out, tt.in)
			if tt.wantF32 != nil {
				if got := out.F32(); !slices.Equal(got, tt.wantF32) {
					t.Errorf("CAST to float32 = %v, want %v", got, tt.wantF32)
				}
				return
			}
			for i, want := range tt.wantInts {
				var got int64
				switch tt.outType {
				case model.Int32:
					got = int64(out.I32()[i])
				case model.Int64:
					got = out.I64()[i]
				case model.Int8:
					got = int64(out.I8()[i])
				case model.Uint8, model.Bool:
					got = int64(out.U8()[i])
				}
				if got != want {
					t.Errorf("CAST element %d to %s = %d, want %d", i, tt.outType, got, want)
				}
			}
		})
	}
}

func TestQuantizePrepareErrors(t *testing.T) {
	tests := []struct {
		name        string
		f           Factory
		in, out     *Tensor
		unsupported bool
	}{
		{name: "quantize to float", f: newQuantize, in: ewF32([]int{2}), out: ewOut(model.Float32, nil), unsupported: true},
		{name: "quantize without scale", f: newQuantize, in: ewF32([]int{2}), out: ewOut(model.Int8, nil)},
		{name: "quantize per-channel count", f: newQuantize, in: ewF32([]int{2, 3}), out: ewOut(model.Int8, &model.Quantization{Scale: []float32{1, 1}, ZeroPoint: []int64{0, 0}, QuantizedDimension: 1})},
		{name: "quantize from int32", f: newQuantize, in: ewI32([]int{2}), out: ewOut(model.Int8, ewQ(1, 0)), unsupported: true},
		{name: "dequantize to int32", f: newDequantize, in: ewNew(model.Int8, []int{2}, ewQ(1, 0)), out: ewOut(model.Int32, nil), unsupported: true},
		{name: "dequantize unquantized", f: newDequantize, in: ewNew(model.Int8, []int{2}, nil), out: ewOut(model.Float32, nil)},
		{name: "cast string", f: newCast, in: ewNew(model.String, nil, nil), out: ewOut(model.Int32, nil), unsupported: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{Inputs: []*Tensor{tt.in}, Outputs: []*Tensor{tt.out}}
			checkPrepareError(t, tt.f(), n, tt.name, tt.unsupported)
		})
	}
}

func TestQuantizeEvalDoesNotAllocate(t *testing.T) {
	ctxs := ewContexts()
	defer ewClose(ctxs)
	for _, ctx := range ctxs {
		in := ewF32([]int{64, 1000})
		k, n := ewPrepare(t, newQuantize, model.OpQuantize, nil, ctx, ewOut(model.Int8, ewQ(0.1, 3)), in)
		if allocs := testing.AllocsPerRun(20, func() { _ = k.Eval(ctx, n) }); allocs != 0 {
			t.Errorf("QUANTIZE Eval with %d threads: %v allocs, want 0", ctx.Threads, allocs)
		}
		dk, dn := ewPrepare(t, newDequantize, model.OpDequantize, nil, ctx, ewOut(model.Float32, nil), n.Outputs[0])
		if allocs := testing.AllocsPerRun(20, func() { _ = dk.Eval(ctx, dn) }); allocs != 0 {
			t.Errorf("DEQUANTIZE Eval with %d threads: %v allocs, want 0", ctx.Threads, allocs)
		}
		ck, cn := ewPrepare(t, newCast, model.OpCast, nil, ctx, ewOut(model.Int32, nil), in)
		if allocs := testing.AllocsPerRun(20, func() { _ = ck.Eval(ctx, cn) }); allocs != 0 {
			t.Errorf("CAST Eval with %d threads: %v allocs, want 0", ctx.Threads, allocs)
		}
	}
}
