package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// poolNaive pools NHWC data in float64 with TFLite's window rules: the
// window is clamped to the image and padding never counts.
func poolNaive(isMax bool, shape []int, data []float32, o *model.Pool2DOptions) (out []float32, oh, ow int) {
	b, h, w, c := shape[0], shape[1], shape[2], shape[3]
	fh, fw, sh, sw := int(o.FilterHeight), int(o.FilterWidth), int(o.StrideH), int(o.StrideW)
	if o.Padding == model.PaddingSame {
		oh, ow = (h+sh-1)/sh, (w+sw-1)/sw
	} else {
		oh, ow = (h-fh+sh)/sh, (w-fw+sw)/sw
	}
	ph := max((oh-1)*sh+fh-h, 0) / 2
	pw := max((ow-1)*sw+fw-w, 0) / 2
	for n := 0; n < b; n++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				for ch := 0; ch < c; ch++ {
					acc, cnt := 0.0, 0
					best := math.Inf(-1)
					for dy := 0; dy < fh; dy++ {
						for dx := 0; dx < fw; dx++ {
							iy, ix := y*sh-ph+dy, x*sw-pw+dx
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							v := float64(data[((n*h+iy)*w+ix)*c+ch])
							acc += v
							best = math.Max(best, v)
							cnt++
						}
					}
					if isMax {
						out = append(out, float32(best))
					} else {
						out = append(out, float32(acc/float64(cnt)))
					}
				}
			}
		}
	}
	return out, oh, ow
}

func TestPoolHandWorked(t *testing.T) {
	img := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	tests := []struct {
		name  string
		op    model.BuiltinOp
		opts  model.Pool2DOptions
		shape []int
		want  []float32
	}{
		{name: "avg valid 2x2", op: model.OpAveragePool2D, opts: model.Pool2DOptions{Padding: model.PaddingValid, StrideH: 1, StrideW: 1, FilterHeight: 2, FilterWidth: 2},
			shape: []int{1, 2, 2, 1}, want: []float32{3, 4, 6, 7}},
		{name: "avg same stride 2 excludes padding", op: model.OpAveragePool2D, opts: model.Pool2DOptions{Padding: model.PaddingSame, StrideH: 2, StrideW: 2, FilterHeight: 2, FilterWidth: 2},
			shape: []int{1, 2, 2, 1}, want: []float32{3, 4.5, 7.5, 9}},
		{name: "max same 3x3", op: model.OpMaxPool2D, opts: model.Pool2DOptions{Padding: model.PaddingSame, StrideH: 1, StrideW: 1, FilterHeight: 3, FilterWidth: 3},
			shape: []int{1, 3, 3, 1}, want: []float32{5, 6, 6, 8, 9, 9, 8, 9, 9}},
		{name: "max relu6", op: model.OpMaxPool2D, opts: model.Pool2DOptions{Padding: model.PaddingValid, StrideH: 1, StrideW: 1, FilterHeight: 2, FilterWidth: 2, Activation: model.ActRelu6},
			shape: []int{1, 2, 2, 1}, want: []float32{5, 6, 6, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := shpT(model.Float32, []int{1, 3, 3, 1}, img)
			out := shpOut(model.Float32)
			opts := tt.opts
			if err := shpRun(shpKernel(t, tt.op), tt.op, &opts, []*Tensor{in}, []*Tensor{out}, 1); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape, tt.shape) || !slices.Equal(out.F32(), tt.want) {
				t.Fatalf("%s = %v %v, want %v %v", tt.op, out.Shape, out.F32(), tt.shape, tt.want)
			}
		})
	}
}

func TestPoolRandom(t *testing.T) {
	r := &shpRand{s: 5}
	types := []model.TensorType{model.Float32, model.Int8, model.Uint8, model.Int16}
	for iter := 0; iter < 80; iter++ {
		typ := types[iter%len(types)]
		op := model.OpAveragePool2D
		if iter%3 == 0 {
			op = model.OpMaxPool2D
		}
		shape := []int{1 + r.intn(2), 1 + r.intn(9), 1 + r.intn(9), 1 + r.intn(70)}
		opts := model.Pool2DOptions{
			Padding: model.Padding(r.intn(2)), StrideH: int32(1 + r.intn(3)), StrideW: int32(1 + r.intn(3)),
			FilterHeight: int32(1 + r.intn(3)), FilterWidth: int32(1 + r.intn(3)),
		}
		if opts.Padding == model.PaddingValid {
			opts.FilterHeight = int32(min(int(opts.FilterHeight), shape[1]))
			opts.FilterWidth = int32(min(int(opts.FilterWidth), shape[2]))
		}
		threads := 1 + iter%2
		if iter%10 >= 8 {
			// A global pool with deep channels on two threads: one
			// output row, cut into channel slices.
			shape = []int{1, 8, 8, 300}
			opts = model.Pool2DOptions{Padding: model.PaddingValid, StrideH: 1, StrideW: 1, FilterHeight: 8, FilterWidth: 8}
			threads = 2
		}
		t.Run(typ.String()+"/"+op.String(), func(t *testing.T) {
			var in, out *Tensor
			if typ == model.Float32 {
				in = shpT(typ, shape, r.floats(NumElements(shape)))
				out = shpOut(typ)
			} else {
				zp := int64(0)
				if typ != model.Int16 {
					zp = int64(r.intn(20)) - 10
					if typ == model.Uint8 {
						zp += 128
					}
				}
				in = shpRandQuant(r, typ, shape, 0.05, zp)
				out = shpQ(shpOut(typ), 0.05, zp)
			}
			if err := shpRun(shpKernel(t, op), op, &opts, []*Tensor{in}, []*Tensor{out}, threads); err != nil {
				t.Fatal(err)
			}
			real := in.F32()
			if typ != model.Float32 {
				real = shpDequant(in)
			}
			want, oh, ow := poolNaive(op == model.OpMaxPool2D, shape, real, &opts)
			if !slices.Equal(out.Shape, []int{shape[0], oh, ow, shape[3]}) {
				t.Fatalf("%s shape = %v, want [%d %d %d %d]", op, out.Shape, shape[0], oh, ow, shape[3])
			}
			if typ == model.Float32 {
				shpCloseF32(t, op.String(), out.F32(), want, 1e-6, 1e-6)
				return
			}
			shpWithinSteps(t, op.String(), out, want, 1)
			if op == model.OpMaxPool2D {
				shpWithinSteps(t, op.String()+" exact", out, want, 0)
			}
		})
	}
}

func TestPoolQuantizedRounding(t *testing.T) {
	// Averages of -3 and -4 (-3.5) and of 3 and 4 (3.5) round away from
	// zero, as reference/integer_ops/pooling.h does.
	in := shpQ(shpT(model.Int8, []int{1, 1, 2, 2}, []int8{-3, 3, -4, 4}), 1, 0)
	out := shpQ(shpOut(model.Int8), 1, 0)
	opts := &model.Pool2DOptions{Padding: model.PaddingValid, StrideH: 1, StrideW: 1, FilterHeight: 1, FilterWidth: 2}
	if err := shpRun(shpKernel(t, model.OpAveragePool2D), model.OpAveragePool2D, opts, []*Tensor{in}, []*Tensor{out}, 1); err != nil {
		t.Fatal(err)
	}
	if want := []int8{-4, 4}; !slices.Equal(out.I8(), want) {
		t.Fatalf("AveragePool int8 = %v, want %v", out.I8(), want)
	}
}

// BenchmarkPool times mnist_cnn_float's 2×2 max pool ([1,26,26,12]) and
// MobileNetV2's global average pool ([1,7,7,1280], uint8) at one thread.
func BenchmarkPool(b *testing.B) {
	cases := []struct {
		name  string
		max   bool
		typ   model.TensorType
		shape []int
		f     int32
	}{
		{"max/float32/26x26x12/2x2", true, model.Float32, []int{1, 26, 26, 12}, 2},
		{"max/uint8/26x26x12/2x2", true, model.Uint8, []int{1, 26, 26, 12}, 2},
		{"avg/uint8/7x7x1280/7x7", false, model.Uint8, []int{1, 7, 7, 1280}, 7},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var q *model.Quantization
			if c.typ != model.Float32 {
				q = ewQ(0.05, 3)
			}
			in := ewNew(c.typ, c.shape, q)
			r := rand.New(rand.NewPCG(5, 6))
			if c.typ == model.Float32 {
				ewRandFloats(r, in, -1, 1) // random order: the branches a max takes are not predictable
			} else {
				ewRandQuant(r, in)
			}
			op := model.OpAveragePool2D
			if c.max {
				op = model.OpMaxPool2D
			}
			opts := &model.Pool2DOptions{Padding: model.PaddingValid, StrideW: c.f, StrideH: c.f, FilterWidth: c.f, FilterHeight: c.f}
			ctx := NewContext(1)
			k, n := ewPrepare(b, func() Kernel { return &poolKernel{max: c.max} }, op, opts, ctx, ewOut(c.typ, q), in)
			b.ReportAllocs()
			for b.Loop() {
				_ = k.Eval(ctx, n)
			}
		})
	}
}
