package kernels

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

func TestEwBroadcastShape(t *testing.T) {
	tests := []struct {
		a, b    []int
		want    []int
		wantErr bool
	}{
		{a: []int{2, 3}, b: []int{2, 3}, want: []int{2, 3}},
		{a: []int{2, 3}, b: []int{3}, want: []int{2, 3}},
		{a: []int{2, 3}, b: []int{}, want: []int{2, 3}},
		{a: []int{}, b: []int{}, want: []int{}},
		{a: []int{4, 1, 3}, b: []int{2, 1}, want: []int{4, 2, 3}},
		{a: []int{1, 3350, 80}, b: []int{1, 3350, 1}, want: []int{1, 3350, 80}},
		{a: []int{10, 4, 335, 335}, b: []int{10, 1, 1, 335}, want: []int{10, 4, 335, 335}},
		{a: []int{1}, b: []int{5, 1, 1, 1, 1, 7}, want: []int{5, 1, 1, 1, 1, 7}},
		{a: []int{2, 3}, b: []int{4}, wantErr: true},
		{a: []int{2, 3}, b: []int{3, 3}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.a, tt.b), func(t *testing.T) {
			got, err := ewBroadcastShape(tt.a, tt.b)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ewBroadcastShape(%v, %v) = %v, want error", tt.a, tt.b, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ewBroadcastShape(%v, %v) error: %v", tt.a, tt.b, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ewBroadcastShape(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

// TestEwPlanVisitsEveryElement checks the collapsed plan against the slow
// per-element index mapping for random broadcasts of up to three inputs.
func TestEwPlanVisitsEveryElement(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 300; iter++ {
		out := ewRandShape(r, 6, 5)
		if iter%7 == 0 {
			// Long rows, and whole outputs spanning several blocks.
			out = append(ewRandShape(r, 2, 3), ewBlock+3)
		}
		ins := [][]int{ewBroadcastable(r, out), ewBroadcastable(r, out), ewBroadcastable(r, out)}
		ins[r.IntN(3)] = out
		nIn := 2 + r.IntN(2)
		ins = ins[:nIn]
		bs, err := ewBroadcastShape(ins...)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ewNewPlan(bs, ins...)
		if err != nil {
			t.Fatalf("ewNewPlan(%v, %v): %v", bs, ins, err)
		}
		seen := make([]int, NumElements(bs))
		p.visit(0, p.units(), func(o, n int, off [3]int) {
			for i := 0; i < n; i++ {
				seen[o+i]++
				for k := 0; k < nIn; k++ {
					want := ewIndex(bs, ins[k], o+i)
					got := off[k] + i*p.innerStride(k)
					if got != want {
						t.Fatalf("shapes %v → %v: element %d of input %d at %d, want %d", ins, bs, o+i, k, got, want)
					}
				}
			}
		})
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("shapes %v → %v: element %d visited %d times", ins, bs, i, c)
			}
		}
	}
}

func TestEwPlanRejectsHighRank(t *testing.T) {
	out := []int{2, 3, 2, 3, 2, 3, 2}
	in := []int{2, 1, 2, 1, 2, 1, 2}
	_, err := ewNewPlan(out, out, in)
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("ewNewPlan(rank 7 alternating broadcast) error = %v, want ErrUnsupported", err)
	}
}

func TestBinaryFloatHandWorked(t *testing.T) {
	relu := &model.AddOptions{Activation: model.ActRelu}
	tests := []struct {
		name   string
		op     model.BuiltinOp
		opts   any
		a, b   *Tensor
		shape  []int
		expect []float32
	}{
		{"add", model.OpAdd, &model.AddOptions{}, ewF32([]int{2, 2}, 1, 2, 3, 4), ewF32([]int{2, 2}, 10, 20, 30, 40), []int{2, 2}, []float32{11, 22, 33, 44}},
		{"add scalar", model.OpAdd, nil, ewF32([]int{3}, 1, -2, 3), ewF32(nil, 0.5), []int{3}, []float32{1.5, -1.5, 3.5}},
		{"add relu", model.OpAdd, relu, ewF32([]int{3}, 1, -2, 3), ewF32([]int{1}, -1.5), []int{3}, []float32{0, 0, 1.5}},
		{"add relu6", model.OpAdd, &model.AddOptions{Activation: model.ActRelu6}, ewF32([]int{3}, 1, 5, 9), ewF32([]int{1}, 0), []int{3}, []float32{1, 5, 6}},
		{"add relu_n1_to_1", model.OpAdd, &model.AddOptions{Activation: model.ActReluN1To1}, ewF32([]int{3}, -3, 0.5, 9), ewF32([]int{1}, 0), []int{3}, []float32{-1, 0.5, 1}},
		{"sub scalar first", model.OpSub, &model.SubOptions{}, ewF32(nil, 1), ewF32([]int{3}, 1, 2, 3), []int{3}, []float32{0, -1, -2}},
		{"sub rows", model.OpSub, nil, ewF32([]int{2, 3}, 1, 2, 3, 4, 5, 6), ewF32([]int{2, 1}, 1, 4), []int{2, 3}, []float32{0, 1, 2, 0, 1, 2}},
		{"mul columns", model.OpMul, &model.MulOptions{}, ewF32([]int{2, 3}, 1, 2, 3, 4, 5, 6), ewF32([]int{3}, 2, 0, -1), []int{2, 3}, []float32{2, 0, -3, 8, 0, -6}},
		{"mul outer", model.OpMul, nil, ewF32([]int{2, 1}, 2, 3), ewF32([]int{1, 3}, 1, 10, 100), []int{2, 3}, []float32{2, 20, 200, 3, 30, 300}},
		{"div", model.OpDiv, &model.DivOptions{}, ewF32([]int{3}, 1, 9, -8), ewF32([]int{3}, 4, 3, 2), []int{3}, []float32{0.25, 3, -4}},
		{"squared difference", model.OpSquaredDifference, nil, ewF32([]int{2, 2}, 1, 2, 3, 4), ewF32([]int{2, 1}, 2, 0), []int{2, 2}, []float32{1, 0, 9, 16}},
		{"maximum", model.OpMaximum, nil, ewF32([]int{4}, 1, -2, 3, 0), ewF32(nil, 0.5), []int{4}, []float32{1, 0.5, 3, 0.5}},
		{"minimum", model.OpMinimum, nil, ewF32([]int{4}, 1, -2, 3, 0), ewF32(nil, 0.5), []int{4}, []float32{0.5, -2, 0.5, 0}},
		{"prelu channel alpha", model.OpPrelu, nil, ewF32([]int{2, 2}, -1, 2, -3, -4), ewF32([]int{2}, 0.5, 0.25), []int{2, 2}, []float32{-0.5, 2, -1.5, -1}},
		{"rank 6", model.OpAdd, nil, ewF32([]int{1, 2, 1, 1, 1, 2}, 1, 2, 3, 4), ewF32([]int{1, 1, 2, 1, 1, 1}, 10, 20), []int{1, 2, 2, 1, 1, 2}, []float32{11, 12, 21, 22, 13, 14, 23, 24}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ewOut(model.Float32, nil)
			ewEval(t, newBinary(tt.op), tt.op, tt.opts, NewContext(1), out, tt.a, tt.b)
			if !slices.Equal(out.Shape, tt.shape) {
				t.Errorf("%s output shape = %v, want %v", tt.op, out.Shape, tt.shape)
			}
			if got := out.F32(); !slices.Equal(got, tt.expect) {
				t.Errorf("%s(%v, %v) = %v, want %v", tt.op, tt.a.F32(), tt.b.F32(), got, tt.expect)
			}
		})
	}
}

func TestBinaryEmpty(t *testing.T) {
	a, b := ewF32([]int{3, 0, 2}), ewF32([]int{1, 2})
	out := ewOut(model.Float32, nil)
	ewEval(t, newBinary(model.OpAdd), model.OpAdd, nil, NewContext(1), out, a, b)
	if want := []int{3, 0, 2}; !slices.Equal(out.Shape, want) {
		t.Errorf("ADD of empty tensors: shape %v, want %v", out.Shape, want)
	}
}

func TestBinaryInt(t *testing.T) {
	tests := []struct {
		name   string
		op     model.BuiltinOp
		opts   any
		a, b   *Tensor
		expect []int32
	}{
		{"add", model.OpAdd, nil, ewI32([]int{3}, 1, 2, 3), ewI32(nil, 5), []int32{6, 7, 8}},
		{"add relu6", model.OpAdd, &model.AddOptions{Activation: model.ActRelu6}, ewI32([]int{3}, -9, 2, 30), ewI32(nil, 1), []int32{0, 3, 6}},
		{"sub", model.OpSub, nil, ewI32([]int{3}, 1, 2, 3), ewI32([]int{3}, 3, 2, 1), []int32{-2, 0, 2}},
		{"mul", model.OpMul, nil, ewI32([]int{2, 2}, 1, 2, 3, 4), ewI32([]int{2}, -1, 2), []int32{-1, 4, -3, 8}},
		{"div truncates", model.OpDiv, nil, ewI32([]int{3}, 7, -7, 6), ewI32(nil, 2), []int32{3, -3, 3}},
		{"maximum", model.OpMaximum, nil, ewI32([]int{3}, 7, -7, 6), ewI32([]int{3}, 1, 1, 8), []int32{7, 1, 8}},
		{"minimum", model.OpMinimum, nil, ewI32([]int{3}, 7, -7, 6), ewI32([]int{3}, 1, 1, 8), []int32{1, -7, 6}},
		{"squared difference", model.OpSquaredDifference, nil, ewI32([]int{2}, 7, -7), ewI32(nil, 3), []int32{16, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ewOut(model.Int32, nil)
			ewEval(t, newBinary(tt.op), tt.op, tt.opts, NewContext(1), out, tt.a, tt.b)
			if got := out.I32(); !slices.Equal(got, tt.expect) {
				t.Errorf("%s(%v, %v) = %v, want %v", tt.op, tt.a.I32(), tt.b.I32(), got, tt.expect)
			}
		})
	}
	t.Run("int64 add", func(t *testing.T) {
		a := ewNew(model.Int64, []int{2}, nil)
		copy(a.I64(), []int64{1 << 40, -3})
		b := ewNew(model.Int64, nil, nil)
		b.I64()[0] = 5
		out := ewOut(model.Int64, nil)
		ewEval(t, newBinary(model.OpAdd), model.OpAdd, nil, NewContext(1), out, a, b)
		if got, want := out.I64(), []int64{1<<40 + 5, 2}; !slices.Equal(got, want) {
			t.Errorf("ADD int64 = %v, want %v", got, want)
		}
	})
	t.Run("div by zero", func(t *testing.T) {
		out := ewOut(model.Int32, nil)
		k, n := ewPrepare(t, newBinary(model.OpDiv), model.OpDiv, nil, NewContext(1), out, ewI32([]int{2}, 1, 2), ewI32([]int{2}, 1, 0))
		if err := k.Eval(NewContext(1), n); !errors.Is(err, ErrDivisionByZero) {
			t.Errorf("DIV by zero Eval error = %v, want ErrDivisionByZero", err)
		}
	})
}

func TestBinaryPrepareErrors(t *testing.T) {
	q := ewQ(0.1, 0)
	tests := []struct {
		name        string
		op          model.BuiltinOp
		opts        any
		a, b, out   *Tensor
		unsupported bool
	}{
		{name: "type mismatch", op: model.OpAdd, a: ewF32([]int{2}), b: ewI32([]int{2}), out: ewOut(model.Float32, nil)},
		{name: "output type", op: model.OpAdd, a: ewF32([]int{2}), b: ewF32([]int{2}), out: ewOut(model.Int32, nil)},
		{name: "shapes", op: model.OpMul, a: ewF32([]int{2, 3}), b: ewF32([]int{2}), out: ewOut(model.Float32, nil)},
		{name: "tanh activation", op: model.OpAdd, opts: &model.AddOptions{Activation: model.ActTanh}, a: ewF32([]int{2}), b: ewF32([]int{2}), out: ewOut(model.Float32, nil), unsupported: true},
		{name: "int8 div", op: model.OpDiv, a: ewNew(model.Int8, []int{2}, q), b: ewNew(model.Int8, []int{2}, q), out: ewOut(model.Int8, q), unsupported: true},
		{name: "bool add", op: model.OpAdd, a: ewNew(model.Bool, []int{2}, nil), b: ewNew(model.Bool, []int{2}, nil), out: ewOut(model.Bool, nil), unsupported: true},
		{name: "int8 without scale", op: model.OpAdd, a: ewNew(model.Int8, []int{2}, nil), b: ewNew(model.Int8, []int{2}, q), out: ewOut(model.Int8, q)},
		{name: "prelu alpha wider", op: model.OpPrelu, a: ewF32([]int{2}), b: ewF32([]int{3, 2}), out: ewOut(model.Float32, nil)},
		{name: "int16 pot both shifted", op: model.OpAdd, opts: &model.AddOptions{PotScaleInt16: true}, a: ewNew(model.Int16, []int{2}, ewQ(1.0/1024, 0)), b: ewNew(model.Int16, []int{2}, ewQ(1.0/2048, 0)), out: ewOut(model.Int16, ewQ(1.0/256, 0)), unsupported: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{Op: tt.op, Options: tt.opts, Inputs: []*Tensor{tt.a, tt.b}, Outputs: []*Tensor{tt.out}}
			checkPrepareError(t, newBinary(tt.op)(), n, tt.name, tt.unsupported)
		})
	}
}

// ewRefBinary is the float definition of each binary op.
func ewRefBinary(op model.BuiltinOp, a, b float64) float64 {
	switch op {
	case model.OpAdd:
		return a + b
	case model.OpSub:
		return a - b
	case model.OpMul:
		return a * b
	case model.OpDiv:
		return a / b
	case model.OpSquaredDifference:
		return (a - b) * (a - b)
	case model.OpMaximum:
		return math.Max(a, b)
	case model.OpMinimum:
		return math.Min(a, b)
	case model.OpPrelu:
		if a >= 0 {
			return a
		}
		return a * b
	}
	panic(op)
}

var ewBinaryOps = []model.BuiltinOp{
	model.OpAdd, model.OpSub, model.OpMul, model.OpDiv,
	model.OpSquaredDifference, model.OpMaximum, model.OpMinimum,
}

func TestBinaryFloatRandomBroadcast(t *testing.T) {
	ctxs := ewContexts()
	defer ewClose(ctxs)
	r := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 200; iter++ {
		op := ewBinaryOps[iter%len(ewBinaryOps)]
		shape := ewRandShape(r, 6, 7)
		if iter%10 == 0 {
			shape = []int{3, 5, 4099} // big enough for the threaded path
		}
		as, bs := shape, ewBroadcastable(r, shape)
		if r.IntN(2) == 0 {
			as, bs = bs, as
		}
		a, b := ewNew(model.Float32, as, nil), ewNew(model.Float32, bs, nil)
		ewRandFloats(r, a, -4, 4)
		ewRandFloats(r, b, 0.5, 4)
		ctx := ctxs[iter%2]
		out := ewOut(model.Float32, nil)
		ewEval(t, newBinary(op), op, nil, ctx, out, a, b)
		if !slices.Equal(out.Shape, shape) {
			t.Fatalf("%s %v %v: output shape %v, want %v", op, as, bs, out.Shape, shape)
		}
		for i, got := range out.F32() {
			want := float32(ewRefBinary(op, float64(a.F32()[ewIndex(shape, as, i)]), float64(b.F32()[ewIndex(shape, bs, i)])))
			if math.Abs(float64(got-want)) > 1e-6*math.Max(1, math.Abs(float64(want))) {
				t.Fatalf("%s %v %v: out[%d] = %g, want %g", op, as, bs, i, got, want)
			}
		}
	}
}

// TestBinaryQuantizedMatchesFloat checks every quantized binary op against
// dequantize → float op → quantize within one step, over random shapes,
// scales and zero points.
func TestBinaryQuantizedMatchesFloat(t *testing.T) {
	type combo struct {
		op  model.BuiltinOp
		typ model.TensorType
	}
	var combos []combo
	for _, typ := range []model.TensorType{model.Int8, model.Uint8} {
		for _, op := range []model.BuiltinOp{model.OpAdd, model.OpSub, model.OpMul, model.OpSquaredDifference, model.OpMaximum, model.OpMinimum, model.OpPrelu} {
			combos = append(combos, combo{op, typ})
		}
	}
	for _, op := range []model.BuiltinOp{model.OpAdd, model.OpSub, model.OpMul, model.OpMaximum, model.OpMinimum} {
		combos = append(combos, combo{op, model.Int16})
	}
	ctxs := ewContexts()
	defer ewClose(ctxs)
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range combos {
		t.Run(fmt.Sprintf("%s/%s", c.op, c.typ), func(t *testing.T) {
			for iter := 0; iter < 40; iter++ {
				shape := ewRandShape(r, 4, 9)
				if iter == 0 {
					shape = []int{2, 3, 5501}
				}
				bs := ewBroadcastable(r, shape)
				if c.op == model.OpPrelu {
					bs = ewBroadcastable(r, shape)
				}
				qa := ewRandQuantParams(r, c.typ, 0.01, 0.1)
				qb := ewRandQuantParams(r, c.typ, 0.01, 0.1)
				qo := ewRandQuantParams(r, c.typ, 0.02, 0.2)
				if c.typ == model.Int16 {
					qa, qb, qo = ewQ(qa.Scale[0]/200, 0), ewQ(qb.Scale[0]/200, 0), ewQ(qo.Scale[0]/200, 0)
				}
				switch c.op {
				case model.OpMul, model.OpSquaredDifference:
					qo.Scale[0] *= 30
				case model.OpMaximum, model.OpMinimum:
					if iter%2 == 0 {
						qb, qo = qa, qa // the usual converter output
					}
				}
				a, b := ewNew(c.typ, shape, qa), ewNew(c.typ, bs, qb)
				ewRandQuant(r, a)
				ewRandQuant(r, b)
				out := ewOut(c.typ, qo)
				ewEval(t, newBinary(c.op), c.op, &model.AddOptions{PotScaleInt16: false}, ctxs[iter%2], out, a, b)
				for i := 0; i < out.NumElements(); i++ {
					x, y := ewDeq(a, i), ewDeq(b, ewIndex(shape, bs, i))
					want := ewQuantRef(out, ewRefBinary(c.op, x, y))
					if got := ewGetQ(out, i); ewAbsDiff(got, want) > 1 {
						t.Fatalf("iter %d %v×%v: out[%d] = %d, want %d ± 1 (%g op %g; scales %g %g %g)", iter, shape, bs, i, got, want, x, y, qa.Scale[0], qb.Scale[0], qo.Scale[0])
					}
				}
			}
		})
	}
}

// TestAddInt8Reference pins the int8 ADD arithmetic on TFLite's own
// example: inputs quantized on [-1, 1] whose sum saturates.
func TestAddInt8Reference(t *testing.T) {
	q := ewQ(2.0/255, -1) // range [-1, 1] as TFLite's tests quantize it
	a, b := ewNew(model.Int8, []int{4}, q), ewNew(model.Int8, []int{4}, q)
	for i, v := range []float64{-0.8, 0.2, 0.9, 0.7} {
		ewSetQ(a, i, ewQuantRef(a, v))
	}
	for i, v := range []float64{0.6, 0.4, 0.9, 0.8} {
		ewSetQ(b, i, ewQuantRef(b, v))
	}
	out := ewOut(model.Int8, q)
	ewEval(t, newBinary(model.OpAdd), model.OpAdd, &model.AddOptions{}, NewContext(1), out, a, b)
	for i, want := range []float64{-0.2, 0.6, 1, 1} {
		if got := ewDeq(out, i); math.Abs(got-want) > 2.0/255 {
			t.Errorf("ADD int8 out[%d] = %g, want %g ± one step", i, got, want)
		}
	}
}

func TestAddInt16PowerOfTwo(t *testing.T) {
	// Input 0 and the output share scale 2^-12; input 1 has 2^-14 and is
	// rounded down by two bits before the saturating add.
	a := ewNew(model.Int16, []int{4}, ewQ(1.0/4096, 0))
	b := ewNew(model.Int16, []int{4}, ewQ(1.0/16384, 0))
	copy(a.I16(), []int16{100, -100, 32000, 0})
	copy(b.I16(), []int16{6, -6, 8000, -10})
	tests := []struct {
		op   model.BuiltinOp
		opts any
		want []int16
	}{
		// RoundingDivideByPOT(6, 2) = 2 (1.5 rounds away), (-6, 2) = -2,
		// (8000, 2) = 2000 saturating 34000 to 32767, (-10, 2) = -3.
		{model.OpAdd, &model.AddOptions{PotScaleInt16: true}, []int16{102, -102, 32767, -3}},
		{model.OpSub, &model.SubOptions{PotScaleInt16: true}, []int16{98, -98, 30000, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.op.String(), func(t *testing.T) {
			out := ewOut(model.Int16, ewQ(1.0/4096, 0))
			ewEval(t, newBinary(tt.op), tt.op, tt.opts, NewContext(1), out, a, b)
			if got := out.I16(); !slices.Equal(got, tt.want) {
				t.Errorf("%s int16 = %v, want %v", tt.op, got, tt.want)
			}
		})
	}
}

func TestBinaryEvalDoesNotAllocate(t *testing.T) {
	ctxs := ewContexts()
	defer ewClose(ctxs)
	for _, ctx := range ctxs {
		for _, typ := range []model.TensorType{model.Float32, model.Int8} {
			var q *model.Quantization
			if typ == model.Int8 {
				q = ewQ(0.05, 3)
			}
			a, b := ewNew(typ, []int{4, 64, 300}, q), ewNew(typ, []int{64, 1}, q)
			k, n := ewPrepare(t, newBinary(model.OpAdd), model.OpAdd, &model.AddOptions{Activation: model.ActRelu}, ctx, ewOut(typ, q), a, b)
			if allocs := testing.AllocsPerRun(20, func() { _ = k.Eval(ctx, n) }); allocs != 0 {
				t.Errorf("ADD %s Eval with %d threads: %v allocs, want 0", typ, ctx.Threads, allocs)
			}
		}
	}
}

func BenchmarkAddBroadcast(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("float32/[10,4,335,335]+[10,1,1,335]/threads=%d", threads), func(b *testing.B) {
			ctx := NewContext(threads)
			defer ctx.Close()
			x, y := ewNew(model.Float32, []int{10, 4, 335, 335}, nil), ewNew(model.Float32, []int{10, 1, 1, 335}, nil)
			ewBenchAdd(b, ctx, ewOut(model.Float32, nil), x, y)
		})
	}
	b.Run("float32/[1,3350,80]+[1,3350,1]", func(b *testing.B) {
		x, y := ewNew(model.Float32, []int{1, 3350, 80}, nil), ewNew(model.Float32, []int{1, 3350, 1}, nil)
		ewBenchAdd(b, NewContext(1), ewOut(model.Float32, nil), x, y)
	})
	b.Run("int8/[1,56,56,64]+[64]", func(b *testing.B) {
		q := ewQ(0.05, 3)
		x, y := ewNew(model.Int8, []int{1, 56, 56, 64}, q), ewNew(model.Int8, []int{64}, q)
		ewBenchAdd(b, NewContext(1), ewOut(model.Int8, ewQ(0.07, -2)), x, y)
	})
}

// ewBenchAdd times ADD of x and y into out.
func ewBenchAdd(b *testing.B, ctx *Context, out, x, y *Tensor) {
	k, n := ewPrepare(b, newBinary(model.OpAdd), model.OpAdd, nil, ctx, out, x, y)
	b.ReportAllocs()
	b.SetBytes(int64(len(x.Data)))
	for b.Loop() {
		_ = k.Eval(ctx, n)
	}
}

func TestEwMulMatchesMultiplyByQuantizedMultiplier(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	xs := []int32{0, 1, -1, 2, -2, 1 << 20, -(1 << 20), math.MaxInt32 >> 8, math.MinInt32 >> 8}
	for iter := 0; iter < 20000; iter++ {
		m, shift := QuantizeMultiplier(math.Exp(r.Float64()*30 - 25))
		if iter%3 == 0 {
			m = -m
		}
		x := int32(r.Uint32()) >> r.IntN(31)
		if iter < len(xs) {
			x = xs[iter]
		}
		if shift > 0 {
			x >>= shift // keep x·2^shift in range, as the kernels do
		}
		p := newEwMul(m, shift)
		if got, want := p.apply(x), MultiplyByQuantizedMultiplier(x, m, shift); got != want {
			t.Fatalf("ewMul(%d, %d).apply(%d) = %d, want %d", m, shift, x, got, want)
		}
	}
}
