package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// ewRefUnary is the float64 definition of each unary op.
func ewRefUnary(op model.BuiltinOp, x float64, alpha float32, approximate bool) float64 {
	switch op {
	case model.OpRsqrt:
		return 1 / math.Sqrt(x)
	case model.OpSqrt:
		return math.Sqrt(x)
	case model.OpExp:
		return math.Exp(x)
	case model.OpLogistic:
		return 1 / (1 + math.Exp(-x))
	case model.OpTanh:
		return math.Tanh(x)
	case model.OpRelu:
		return math.Max(x, 0)
	case model.OpRelu6:
		return math.Min(math.Max(x, 0), 6)
	case model.OpReluN1To1:
		return math.Min(math.Max(x, -1), 1)
	case model.OpLeakyRelu:
		if x < 0 {
			return x * float64(alpha)
		}
		return x
	case model.OpHardSwish:
		return x * math.Min(math.Max(x+3, 0), 6) / 6
	case model.OpGelu:
		if approximate {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}
		return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	case model.OpElu:
		if x < 0 {
			return math.Exp(x) - 1
		}
		return x
	case model.OpAbs:
		return math.Abs(x)
	case model.OpNeg:
		return -x
	}
	panic(op)
}

func TestUnaryFloatHandWorked(t *testing.T) {
	tests := []struct {
		op     model.BuiltinOp
		opts   any
		in     []float32
		expect []float32
	}{
		{model.OpRelu, nil, []float32{-2, 0, 3.5}, []float32{0, 0, 3.5}},
		{model.OpRelu6, nil, []float32{-2, 3, 7}, []float32{0, 3, 6}},
		{model.OpReluN1To1, nil, []float32{-2, 0.5, 7}, []float32{-1, 0.5, 1}},
		{model.OpLeakyRelu, &model.LeakyReluOptions{Alpha: 0.2}, []float32{-5, 0, 3}, []float32{-1, 0, 3}},
		{model.OpAbs, nil, []float32{-5, 0, 3}, []float32{5, 0, 3}},
		{model.OpNeg, nil, []float32{-5, 0, 3}, []float32{5, 0, -3}},
		{model.OpSqrt, nil, []float32{4, 0, 2.25}, []float32{2, 0, 1.5}},
		{model.OpRsqrt, nil, []float32{4, 0.25, 1}, []float32{0.5, 2, 1}},
		{model.OpExp, nil, []float32{0, 1, -1}, []float32{1, math.E, 1 / math.E}},
		{model.OpLogistic, nil, []float32{0, 100, -100}, []float32{0.5, 1, 0}},
		{model.OpTanh, nil, []float32{0, 20, -20}, []float32{0, 1, -1}},
		{model.OpHardSwish, nil, []float32{-4, -1.5, 0, 1, 4}, []float32{0, -0.375, 0, 2.0 / 3, 4}},
		{model.OpGelu, &model.GeluOptions{}, []float32{0, 1, -1}, []float32{0, 0.8413447, -0.15865526}},
		{model.OpGelu, &model.GeluOptions{Approximate: true}, []float32{0, 1, -1}, []float32{0, 0.8411920, -0.15880801}},
		{model.OpElu, nil, []float32{-1, 0, 2}, []float32{-0.63212055, 0, 2}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.op, tt.opts), func(t *testing.T) {
			out := ewOut(model.Float32, nil)
			ewEval(t, newUnary(tt.op), tt.op, tt.opts, NewContext(1), out, ewF32([]int{len(tt.in)}, tt.in...))
			for i, got := range out.F32() {
				if math.Abs(float64(got-tt.expect[i])) > 1e-6 {
					t.Errorf("%s(%g) = %g, want %g", tt.op, tt.in[i], got, tt.expect[i])
				}
			}
		})
	}
}

func TestUnaryFloatLargeThreaded(t *testing.T) {
	ctxs := ewContexts()
	defer ewClose(ctxs)
	r := rand.New(rand.NewPCG(9, 10))
	in := ewNew(model.Float32, []int{3, 7, 4001}, nil)
	ewRandFloats(r, in, -8, 8)
	for _, op := range []model.BuiltinOp{model.OpLogistic, model.OpTanh, model.OpRelu, model.OpGelu, model.OpHardSwish} {
		for _, ctx := range ctxs {
			out := ewOut(model.Float32, nil)
			ewEval(t, newUnary(op), op, nil, ctx, out, in)
			for i, got := range out.F32() {
				want := ewRefUnary(op, float64(in.F32()[i]), 0, false)
				if math.Abs(float64(got)-want) > 1e-6 {
					t.Fatalf("%s threads=%d: out[%d] = %g, want %g", op, ctx.Threads, i, got, want)
				}
			}
		}
	}
}

// TestUnaryQuantizedMatchesFloat runs every 8-bit input value through each
// op with random scales and zero points and checks the result against
// dequantize → float op → quantize.
func TestUnaryQuantizedMatchesFloat(t *testing.T) {
	type params struct {
		inLo, inHi   float64 // input scale range
		outLo, outHi float64 // output scale range
		fixedOut     bool    // the output quantization TFLite prescribes
		domainPos    bool    // only positive inputs are meaningful
		tolerance    int32
	}
	ops := map[model.BuiltinOp]params{
		model.OpLogistic:  {0.01, 0.1, 0, 0, true, false, 1},
		model.OpTanh:      {0.01, 0.1, 0, 0, true, false, 1},
		model.OpGelu:      {0.01, 0.05, 0.01, 0.05, false, false, 1},
		model.OpElu:       {0.01, 0.05, 0.01, 0.05, false, false, 1},
		model.OpRelu:      {0.01, 0.1, 0.01, 0.1, false, false, 1},
		model.OpRelu6:     {0.01, 0.1, 0.01, 0.05, false, false, 1},
		model.OpReluN1To1: {0.005, 0.02, 0.005, 0.02, false, false, 1},
		model.OpLeakyRelu: {0.01, 0.1, 0.01, 0.1, false, false, 1},
		model.OpHardSwish: {0.01, 0.1, 0.01, 0.1, false, false, 1},
		model.OpAbs:       {0.01, 0.1, 0.01, 0.1, false, false, 1},
		model.OpNeg:       {0.01, 0.1, 0.01, 0.1, false, false, 1},
		model.OpExp:       {0.005, 0.02, 0.01, 0.05, false, false, 1},
		model.OpSqrt:      {0.01, 0.1, 0.01, 0.05, false, true, 1},
		model.OpRsqrt:     {0.01, 0.1, 0.01, 0.05, false, true, 1},
	}
	r := rand.New(rand.NewPCG(11, 12))
	for op, p := range ops {
		for _, typ := range []model.TensorType{model.Int8, model.Uint8} {
			t.Run(fmt.Sprintf("%s/%s", op, typ), func(t *testing.T) {
				for iter := 0; iter < 10; iter++ {
					qi := ewRandQuantParams(r, typ, p.inLo, p.inHi)
					qo := ewRandQuantParams(r, typ, p.outLo, p.outHi)
					if p.fixedOut {
						qo = ewQ(1.0/256, map[model.TensorType]int64{model.Int8: -128, model.Uint8: 0}[typ])
						if op == model.OpTanh {
							qo = ewQ(1.0/128, map[model.TensorType]int64{model.Int8: 0, model.Uint8: 128}[typ])
						}
					}
					alpha := float32(r.Float64()*0.5 - 0.1)
					opts := any(&model.LeakyReluOptions{Alpha: alpha})
					approximate := iter%2 == 0
					if op == model.OpGelu {
						opts = &model.GeluOptions{Approximate: approximate}
					}
					in := ewNew(typ, []int{256}, qi)
					lo, _ := QuantRange(typ)
					for i := 0; i < 256; i++ {
						ewSetQ(in, i, lo+int32(i))
					}
					out := ewOut(typ, qo)
					ewEval(t, newUnary(op), op, opts, NewContext(1), out, in)
					for i := 0; i < 256; i++ {
						x := ewDeq(in, i)
						if p.domainPos && x <= 0 {
							continue
						}
						want := ewQuantRef(out, ewRefUnary(op, x, alpha, approximate))
						if got := ewGetQ(out, i); ewAbsDiff(got, want) > p.tolerance {
							t.Fatalf("iter %d: %s(%g) = %d, want %d ± %d (in %v, out %v)", iter, op, x, got, want, p.tolerance, qi, qo)
						}
					}
				}
			})
		}
	}
}

// TestHardSwishFixedPoint pins the 16-bit fixed-point helpers on values
// worked by hand.
func TestHardSwishFixedPoint(t *testing.T) {
	tests := []struct {
		name string
		got  int16
		want int16
	}{
		{"SRDHM half rounds up", ewSRDHM16(1<<14, 1), 1},
		{"SRDHM negative half rounds up", ewSRDHM16(-(1 << 14), 1), 0},
		{"SRDHM negative rounds to nearest", ewSRDHM16(-(3 << 13), 1), -1},
		{"SRDHM saturates", ewSRDHM16(math.MinInt16, math.MinInt16), math.MaxInt16},
		{"SDHM truncates", ewSDHM16(1<<14, 1), 0},
		{"SDHM truncates negative toward zero", ewSDHM16(-(1 << 14), 3), -1},
		{"saturating shift", ewSatShiftLeft16(20000, 1), math.MaxInt16},
		{"saturating shift negative", ewSatShiftLeft16(-20000, 2), math.MinInt16},
		{"downscale multiplier", ewDownScaleMultiplier(1 << 30), 1 << 14},
		{"downscale multiplier saturates", ewDownScaleMultiplier(math.MaxInt32), math.MaxInt16},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

// TestUnaryInt16MatchesFloat checks the int16 table paths (LOGISTIC, TANH)
// and requantizing ops against the float functions.
func TestUnaryInt16MatchesFloat(t *testing.T) {
	tests := []struct {
		op        model.BuiltinOp
		inScale   float32
		outScale  float32
		tolerance int32
	}{
		{model.OpLogistic, 1.0 / 4096, 1.0 / 32768, 2},
		{model.OpLogistic, 0.0003, 1.0 / 32768, 2},
		{model.OpTanh, 1.0 / 4096, 1.0 / 32768, 2},
		{model.OpTanh, 1.0 / 2048, 1.0 / 32768, 2},
		{model.OpTanh, 0.0007, 1.0 / 32768, 2},
		{model.OpRelu, 0.001, 0.0005, 1},
		{model.OpRelu6, 0.001, 0.0005, 1},
		{model.OpLeakyRelu, 0.001, 0.0007, 1},
		{model.OpAbs, 0.001, 0.0007, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%g", tt.op, tt.inScale), func(t *testing.T) {
			in := ewNew(model.Int16, []int{65536}, ewQ(tt.inScale, 0))
			for i := range in.I16() {
				in.I16()[i] = int16(i - 32768)
			}
			out := ewOut(model.Int16, ewQ(tt.outScale, 0))
			ewEval(t, newUnary(tt.op), tt.op, &model.LeakyReluOptions{Alpha: 0.1}, NewContext(2), out, in)
			worst := int32(0)
			for i := range in.I16() {
				x := ewDeq(in, i)
				want := ewQuantRef(out, ewRefUnary(tt.op, x, 0.1, false))
				d := ewAbsDiff(ewGetQ(out, i), want)
				worst = max(worst, d)
				if d > tt.tolerance {
					t.Fatalf("%s(%g) = %d, want %d ± %d", tt.op, x, ewGetQ(out, i), want, tt.tolerance)
				}
			}
			t.Logf("worst difference %d steps", worst)
		})
	}
}

// TestSigmoidI16Reference pins the int16 logistic and tanh on values worked
// from TFLite's table: sigmoid(0) = 0.5 and the odd symmetry of tanh.
func TestSigmoidI16Reference(t *testing.T) {
	if got := ewSigmoidI16(3, 0, 0); got != 16384 {
		t.Errorf("ewSigmoidI16(0) = %d, want 16384", got)
	}
	// 32767·3 = 98301: entry 191 (65513) plus 509/512 of the step to 65514,
	// rounded from Q0.25 to Q0.15.
	if got := ewSigmoidI16(3, 0, math.MaxInt16); got != 32757 {
		t.Errorf("ewSigmoidI16(max) = %d, want 32757", got)
	}
	// Far beyond the table the result saturates.
	if got := ewSigmoidI16(32767, 0, math.MaxInt16); got != 32767 {
		t.Errorf("ewSigmoidI16(saturated) = %d, want 32767", got)
	}
	if got := ewTanhI16(3, 0, 0); got != 0 {
		t.Errorf("ewTanhI16(0) = %d, want 0", got)
	}
	for _, x := range []int16{1, 100, 4096, 20000} {
		p, n := ewTanhI16(3, 0, x), ewTanhI16(3, 0, -x)
		if d := int32(p) + int32(n); d < -1 || d > 1 {
			t.Errorf("ewTanhI16(%d) = %d, ewTanhI16(%d) = %d, want opposite within 1", x, p, -x, n)
		}
	}
}

func TestUnaryPrepareErrors(t *testing.T) {
	tests := []struct {
		name        string
		op          model.BuiltinOp
		in, out     *Tensor
		unsupported bool
	}{
		{name: "type mismatch", op: model.OpRelu, in: ewF32([]int{2}), out: ewOut(model.Int32, nil)},
		{name: "int32 relu", op: model.OpRelu, in: ewI32([]int{2}), out: ewOut(model.Int32, nil), unsupported: true},
		{name: "int8 without scale", op: model.OpTanh, in: ewNew(model.Int8, []int{2}, nil), out: ewOut(model.Int8, ewQ(1.0/128, 0))},
		{name: "int16 logistic output scale", op: model.OpLogistic, in: ewNew(model.Int16, []int{2}, ewQ(1.0/4096, 0)), out: ewOut(model.Int16, ewQ(1.0/256, 0)), unsupported: true},
		{name: "int16 tanh zero point", op: model.OpTanh, in: ewNew(model.Int16, []int{2}, ewQ(1.0/4096, 3)), out: ewOut(model.Int16, ewQ(1.0/32768, 0)), unsupported: true},
		{name: "int16 gelu", op: model.OpGelu, in: ewNew(model.Int16, []int{2}, ewQ(1.0/4096, 0)), out: ewOut(model.Int16, ewQ(1.0/4096, 0)), unsupported: true},
		{name: "hard swish output too fine", op: model.OpHardSwish, in: ewNew(model.Int8, []int{2}, ewQ(1, 0)), out: ewOut(model.Int8, ewQ(0.001, 0)), unsupported: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{Op: tt.op, Inputs: []*Tensor{tt.in}, Outputs: []*Tensor{tt.out}}
			checkPrepareError(t, newUnary(tt.op)(), n, tt.name, tt.unsupported)
		})
	}
}

func TestUnaryEvalDoesNotAllocate(t *testing.T) {
	ctxs := ewContexts()
	defer ewClose(ctxs)
	cases := []struct {
		op  model.BuiltinOp
		typ model.TensorType
		q   *model.Quantization
	}{
		{model.OpLogistic, model.Float32, nil},
		{model.OpLogistic, model.Int8, ewQ(0.05, 0)},
		{model.OpTanh, model.Int16, ewQ(1.0/4096, 0)},
	}
	for _, ctx := range ctxs {
		for _, c := range cases {
			oq := c.q
			if c.typ == model.Int8 {
				oq = ewQ(1.0/256, -128)
			} else if c.typ == model.Int16 {
				oq = ewQ(1.0/32768, 0)
			}
			k, n := ewPrepare(t, newUnary(c.op), c.op, nil, ctx, ewOut(c.typ, oq), ewNew(c.typ, []int{64, 1000}, c.q))
			if allocs := testing.AllocsPerRun(20, func() { _ = k.Eval(ctx, n) }); allocs != 0 {
				t.Errorf("%s %s Eval with %d threads: %v allocs, want 0", c.op, c.typ, ctx.Threads, allocs)
			}
		}
	}
}

// BenchmarkUnary times one-input ops on a [335,10,128] tensor: float32
// at the generic level and the best one (the ratio is the SIMD loop's
// gain; LOGISTIC has none), and the int8 table lookup.
func BenchmarkUnary(b *testing.B) {
	run := func(b *testing.B, op model.BuiltinOp, typ model.TensorType, level Level) {
		ctx := NewContext(1)
		ctx.Level = level
		var qi, qo *model.Quantization
		if typ == model.Int8 {
			qi, qo = ewQ(0.05, 0), ewQ(1.0/256, -128)
		}
		in := ewNew(typ, []int{335, 10, 128}, qi)
		k, n := ewPrepare(b, newUnary(op), op, nil, ctx, ewOut(typ, qo), in)
		b.ReportAllocs()
		b.SetBytes(int64(len(in.Data)))
		for b.Loop() {
			_ = k.Eval(ctx, n)
		}
	}
	for _, op := range []model.BuiltinOp{model.OpLogistic, model.OpHardSwish, model.OpRelu6, model.OpRsqrt} {
		for _, level := range []Level{LevelGeneric, BestLevel()} {
			b.Run(fmt.Sprintf("%s/float32/%s", op, level), func(b *testing.B) { run(b, op, model.Float32, level) })
		}
	}
	b.Run("LOGISTIC/int8", func(b *testing.B) { run(b, model.OpLogistic, model.Int8, LevelAuto) })
}

// TestExp32Accuracy compares exp32, logistic32 and tanh32 with float64
// math over their whole useful range and at the edges: within 2 ulp (3
// for logistic, which rounds e^−x, 1+e^−x and the quotient) where the
// result is normal, exact limits at ±Inf, NaN kept.
func TestExp32Accuracy(t *testing.T) {
	ulps := func(got float32, want float64) float64 {
		w := float32(want)
		if got == w {
			return 0
		}
		return math.Abs(float64(got)-want) / float64(math.Nextafter32(float32(math.Abs(want)), float32(math.Inf(1)))-float32(math.Abs(want)))
	}
	fns := []struct {
		name string
		f    func(float32) float32
		ref  func(float64) float64
		lo   float32
		hi   float32
		ulp  float64
	}{
		{"exp", exp32, math.Exp, -87, 88.7, 2},
		{"logistic", logistic32, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, -87, 88, 3},
		{"tanh", tanh32, math.Tanh, -9, 9, 2},
	}
	for _, fn := range fns {
		worst, at := 0.0, float32(0)
		for i := 0; i <= 2_000_000; i++ {
			x := fn.lo + (fn.hi-fn.lo)*float32(i)/2_000_000
			want := fn.ref(float64(x))
			if math.Abs(want) < 0x1p-126 {
				continue // subnormal results: absolute error below the smallest normal
			}
			if u := ulps(fn.f(x), want); u > worst {
				worst, at = u, x
			}
		}
		t.Logf("%s: worst %.2f ulp at %g", fn.name, worst, at)
		if worst > fn.ulp {
			t.Errorf("%s: %.2f ulp at %g, want ≤ %g", fn.name, worst, at, fn.ulp)
		}
		for _, x := range []float32{1e-30, -1e-30, 1e-6, -3e-5} {
			if u := ulps(fn.f(x), fn.ref(float64(x))); u > fn.ulp {
				t.Errorf("%s(%g) = %g: %.2f ulp", fn.name, x, fn.f(x), u)
			}
		}
	}
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		got, want float32
	}{
		{exp32(inf), inf}, {exp32(-inf), 0}, {exp32(89), inf}, {exp32(-200), 0},
		{logistic32(inf), 1}, {logistic32(-inf), 0}, {tanh32(inf), 1}, {tanh32(-inf), -1},
		{tanh32(0), 0}, {exp32(0), 1}, {logistic32(0), 0.5},
	} {
		if c.got != c.want {
			t.Errorf("got %g, want %g", c.got, c.want)
		}
	}
	if nan := float32(math.NaN()); exp32(nan) == exp32(nan) || logistic32(nan) == logistic32(nan) || tanh32(nan) == tanh32(nan) {
		t.Error("NaN in, not NaN out")
	}
	if neg := tanh32(float32(math.Copysign(0, -1))); math.Float32bits(neg) != 1<<31 {
		t.Errorf("tanh(−0) = %g, want −0", neg)
	}
}
