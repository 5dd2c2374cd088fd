package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// ewRefSoftmax is softmax(beta·x) of one row in float64.
func ewRefSoftmax(x []float64, beta float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	out := make([]float64, len(x))
	sum := 0.0
	for i, v := range x {
		out[i] = math.Exp(beta * (v - m))
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func TestSoftmaxFloatHandWorked(t *testing.T) {
	ln3 := float32(math.Log(3))
	tests := []struct {
		name   string
		beta   float32
		shape  []int
		in     []float32
		expect []float32
	}{
		{"equal", 1, []int{4}, []float32{7, 7, 7, 7}, []float32{0.25, 0.25, 0.25, 0.25}},
		{"one to three", 1, []int{1, 2}, []float32{0, ln3}, []float32{0.25, 0.75}},
		{"beta two", 2, []int{1, 2}, []float32{0, ln3 / 2}, []float32{0.25, 0.75}},
		{"rows are independent", 1, []int{2, 2}, []float32{0, ln3, 1000, 1000}, []float32{0.25, 0.75, 0.5, 0.5}},
		{"large logits do not overflow", 1, []int{2}, []float32{1e30, 0}, []float32{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ewOut(model.Float32, nil)
			ewEval(t, newSoftmax, model.OpSoftmax, &model.SoftmaxOptions{Beta: tt.beta}, NewContext(1), out, ewF32(tt.shape, tt.in...))
			for i, got := range out.F32() {
				if math.Abs(float64(got-tt.expect[i])) > 1e-6 {
					t.Errorf("softmax(%v)[%d] = %g, want %g", tt.in, i, got, tt.expect[i])
				}
			}
		})
	}
}

func TestSoftmaxFloatRandom(t *testing.T) {
	ctxs := ewContexts()
	defer ewClose(ctxs)
	r := rand.New(rand.NewPCG(13, 14))
	for iter, shape := range [][]int{{5}, {3, 17}, {2, 3, 1001}, {10, 4, 35, 335}} {
		in := ewNew(model.Float32, shape, nil)
		ewRandFloats(r, in, -20, 20)
		out := ewOut(model.Float32, nil)
		beta := float32(1 + iter%2)
		ewEval(t, newSoftmax, model.OpSoftmax, &model.SoftmaxOptions{Beta: beta}, ctxs[iter%2], out, in)
		d := shape[len(shape)-1]
		x := make([]float64, d)
		for row := 0; row < in.NumElements()/d; row++ {
			for j := range x {
				x[j] = float64(in.F32()[row*d+j])
			}
			for j, want := range ewRefSoftmax(x, float64(beta)) {
				if got := out.F32()[row*d+j]; math.Abs(float64(got)-want) > 1e-6 {
					t.Fatalf("shape %v row %d: out[%d] = %g, want %g", shape, row, j, got, want)
				}
			}
		}
	}
}

// TestSoftmaxQuantizedMatchesFloat compares quantized softmax with the
// exact softmax of the dequantized input, quantized on the output scale.
func TestSoftmaxQuantizedMatchesFloat(t *testing.T) {
	cases := []struct {
		in, out model.TensorType
		q       *model.Quantization
	}{
		{model.Int8, model.Int8, ewQ(1.0/256, -128)},
		{model.Uint8, model.Uint8, ewQ(1.0/256, 0)},
		{model.Int8, model.Int16, ewQ(1.0/32768, 0)},
		{model.Uint8, model.Int16, ewQ(1.0/65536, -32768)},
	}
	r := rand.New(rand.NewPCG(15, 16))
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s->%s", c.in, c.out), func(t *testing.T) {
			for iter := 0; iter < 30; iter++ {
				shape := []int{1 + r.IntN(3), 1 + r.IntN(40)}
				if iter == 0 {
					shape = []int{1, 1001}
				}
				qi := ewRandQuantParams(r, c.in, 0.02, 0.3)
				beta := float32(1)
				if iter%3 == 1 {
					beta = 0.5
				}
				in := ewNew(c.in, shape, qi)
				ewRandQuant(r, in)
				out := ewOut(c.out, c.q)
				ewEval(t, newSoftmax, model.OpSoftmax, &model.SoftmaxOptions{Beta: beta}, NewContext(1), out, in)
				d := shape[1]
				x := make([]float64, d)
				for row := 0; row < shape[0]; row++ {
					for j := range x {
						x[j] = ewDeq(in, row*d+j)
					}
					for j, p := range ewRefSoftmax(x, float64(beta)) {
						want := ewQuantRef(out, p)
						if got := ewGetQ(out, row*d+j); ewAbsDiff(got, want) > 1 {
							t.Fatalf("iter %d shape %v row %d: out[%d] = %d, want %d ± 1 (p=%g)", iter, shape, row, j, got, want, p)
						}
					}
				}
			}
		})
	}
}

// TestSoftmaxInt8Reference works one int8 row by hand: logits 0 and
// ln 3 (input scale ln 3 / 100) give 1/4 and 3/4, i.e. 64 and 192 on the
// 1/256 output scale, -64 and 64 after the -128 zero point.
func TestSoftmaxInt8Reference(t *testing.T) {
	in := ewNew(model.Int8, []int{2}, ewQ(float32(math.Log(3)/100), 0))
	copy(in.I8(), []int8{0, 100})
	out := ewOut(model.Int8, ewQ(1.0/256, -128))
	ewEval(t, newSoftmax, model.OpSoftmax, &model.SoftmaxOptions{Beta: 1}, NewContext(1), out, in)
	if got := out.I8(); got[0] != -64 || got[1] != 64 {
		t.Errorf("int8 softmax(0, ln 3) = %v, want [-64 64]", got)
	}
}

func TestSoftmaxPrepareErrors(t *testing.T) {
	q := ewQ(0.1, 0)
	tests := []struct {
		name        string
		in, out     *Tensor
		unsupported bool
	}{
		{name: "scalar", in: ewF32(nil, 1), out: ewOut(model.Float32, nil)},
		{name: "int8 to uint8", in: ewNew(model.Int8, []int{3}, q), out: ewOut(model.Uint8, ewQ(1.0/256, 0)), unsupported: true},
		{name: "int16 to int16", in: ewNew(model.Int16, []int{3}, q), out: ewOut(model.Int16, ewQ(1.0/32768, 0)), unsupported: true},
		{name: "float to int8", in: ewF32([]int{3}), out: ewOut(model.Int8, q), unsupported: true},
		{name: "int8 without scale", in: ewNew(model.Int8, []int{3}, nil), out: ewOut(model.Int8, ewQ(1.0/256, -128))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{Op: model.OpSoftmax, Options: &model.SoftmaxOptions{Beta: 1}, Inputs: []*Tensor{tt.in}, Outputs: []*Tensor{tt.out}}
			checkPrepareError(t, newSoftmax(), n, tt.name, tt.unsupported)
		})
	}
}

func TestSoftmaxEvalDoesNotAllocate(t *testing.T) {
	ctxs := ewContexts()
	defer ewClose(ctxs)
	for _, ctx := range ctxs {
		for _, typ := range []model.TensorType{model.Float32, model.Int8, model.Uint8} {
			var qi, qo *model.Quantization
			if typ != model.Float32 {
				qi, qo = ewQ(0.1, 0), ewQ(1.0/256, 0)
				if typ == model.Int8 {
					qo = ewQ(1.0/256, -128)
				}
			}
			k, n := ewPrepare(t, newSoftmax, model.OpSoftmax, &model.SoftmaxOptions{Beta: 1}, ctx, ewOut(typ, qo), ewNew(typ, []int{64, 1000}, qi))
			if allocs := testing.AllocsPerRun(20, func() { _ = k.Eval(ctx, n) }); allocs != 0 {
				t.Errorf("SOFTMAX %s Eval with %d threads: %v allocs, want 0", typ, ctx.Threads, allocs)
			}
		}
	}
}

// BenchmarkSoftmax times one row of 1,000 (float32 at the generic and
// the best level, and int8) and conformer_float's attention rows
// ([4,335,335], a tenth of the model's).
func BenchmarkSoftmax(b *testing.B) {
	run := func(b *testing.B, typ model.TensorType, shape []int, level Level) {
		ctx := NewContext(1)
		ctx.Level = level
		var qi, qo *model.Quantization
		if typ == model.Int8 {
			qi, qo = ewQ(0.1, 0), ewQ(1.0/256, -128)
		}
		in := ewNew(typ, shape, qi)
		r := rand.New(rand.NewPCG(1, 1))
		if typ == model.Float32 {
			ewRandFloats(r, in, -10, 10)
		} else {
			ewRandQuant(r, in)
		}
		k, n := ewPrepare(b, newSoftmax, model.OpSoftmax, &model.SoftmaxOptions{Beta: 1}, ctx, ewOut(typ, qo), in)
		b.ReportAllocs()
		for b.Loop() {
			_ = k.Eval(ctx, n)
		}
	}
	for _, shape := range [][]int{{1, 1000}, {4, 335, 335}} {
		for _, level := range []Level{LevelGeneric, BestLevel()} {
			b.Run(fmt.Sprintf("float32/%v/%s", shape, level), func(b *testing.B) { run(b, model.Float32, shape, level) })
		}
	}
	b.Run("int8/[1 1000]", func(b *testing.B) { run(b, model.Int8, []int{1, 1000}, LevelAuto) })
}
