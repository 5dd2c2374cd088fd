package kernels

import (
	"math"
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

func TestResizeHandWorked(t *testing.T) {
	img := []float32{0, 10, 20, 30} // 2x2
	tests := []struct {
		name  string
		op    model.BuiltinOp
		opts  any
		size  []int32
		shape []int
		want  []float32
	}{
		{name: "bilinear 2x", op: model.OpResizeBilinear, opts: &model.ResizeBilinearOptions{}, size: []int32{4, 4}, shape: []int{1, 4, 4, 1},
			want: []float32{0, 5, 10, 10, 10, 15, 20, 20, 20, 25, 30, 30, 20, 25, 30, 30}},
		{name: "bilinear align corners", op: model.OpResizeBilinear, opts: &model.ResizeBilinearOptions{AlignCorners: true}, size: []int32{3, 3}, shape: []int{1, 3, 3, 1},
			want: []float32{0, 5, 10, 10, 15, 20, 20, 25, 30}},
		{name: "bilinear half pixel", op: model.OpResizeBilinear, opts: &model.ResizeBilinearOptions{HalfPixelCenters: true}, size: []int32{4, 4}, shape: []int{1, 4, 4, 1},
			want: []float32{0, 2.5, 7.5, 10, 5, 7.5, 12.5, 15, 15, 17.5, 22.5, 25, 20, 22.5, 27.5, 30}},
		{name: "nearest", op: model.OpResizeNearestNeighbor, opts: &model.ResizeNearestNeighborOptions{}, size: []int32{3, 3}, shape: []int{1, 3, 3, 1},
			want: []float32{0, 0, 10, 0, 0, 10, 20, 20, 30}},
		{name: "nearest half pixel", op: model.OpResizeNearestNeighbor, opts: &model.ResizeNearestNeighborOptions{HalfPixelCenters: true}, size: []int32{3, 3}, shape: []int{1, 3, 3, 1},
			want: []float32{0, 10, 10, 20, 30, 30, 20, 30, 30}},
		{name: "nearest align corners", op: model.OpResizeNearestNeighbor, opts: &model.ResizeNearestNeighborOptions{AlignCorners: true}, size: []int32{3, 3}, shape: []int{1, 3, 3, 1},
			want: []float32{0, 10, 10, 20, 30, 30, 20, 30, 30}},
		{name: "nearest down", op: model.OpResizeNearestNeighbor, opts: &model.ResizeNearestNeighborOptions{}, size: []int32{1, 1}, shape: []int{1, 1, 1, 1},
			want: []float32{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := shpT(model.Float32, []int{1, 2, 2, 1}, img)
			out := shpOut(model.Float32)
			if err := shpRun(shpKernel(t, tt.op), tt.op, tt.opts, []*Tensor{in, shpI32(tt.size...)}, []*Tensor{out}, 1); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape, tt.shape) || !slices.Equal(out.F32(), tt.want) {
				t.Fatalf("%s = %v %v, want %v %v", tt.op, out.Shape, out.F32(), tt.shape, tt.want)
			}
		})
	}
	t.Run("align and half pixel", func(t *testing.T) {
		in := shpT(model.Float32, []int{1, 2, 2, 1}, img)
		opts := &model.ResizeBilinearOptions{AlignCorners: true, HalfPixelCenters: true}
		if err := shpRun(shpKernel(t, model.OpResizeBilinear), model.OpResizeBilinear, opts, []*Tensor{in, shpI32(3, 3)}, []*Tensor{shpOut(model.Float32)}, 1); err == nil {
			t.Fatal("ResizeBilinear with align_corners and half_pixel_centers succeeded, want error")
		}
	})
}

// bilinearNaive interpolates NHWC data in float64 from the continuous
// source coordinate of every output pixel.
func bilinearNaive(shape []int, data []float32, oh, ow int, align, half bool) []float32 {
	b, h, w, c := shape[0], shape[1], shape[2], shape[3]
	coord := func(v, in, out int) (int, int, float64) {
		scale := float64(in) / float64(out)
		if align && out > 1 {
			scale = float64(in-1) / float64(out-1)
		}
		s := float64(v) * scale
		if half {
			s = (float64(v)+0.5)*scale - 0.5
		}
		lo := max(int(math.Floor(s)), 0)
		hi := min(int(math.Ceil(s)), in-1)
		return lo, hi, s - float64(lo)
	}
	var out []float32
	for n := 0; n < b; n++ {
		for y := 0; y < oh; y++ {
			y0, y1, fy := coord(y, h, oh)
			for x := 0; x < ow; x++ {
				x0, x1, fx := coord(x, w, ow)
				for ch := 0; ch < c; ch++ {
					at := func(yy, xx int) float64 { return float64(data[((n*h+yy)*w+xx)*c+ch]) }
					v := at(y0, x0)*(1-fy)*(1-fx) + at(y1, x0)*fy*(1-fx) + at(y0, x1)*(1-fy)*fx + at(y1, x1)*fy*fx
					out = append(out, float32(v))
				}
			}
		}
	}
	return out
}

func TestResizeBilinearRandom(t *testing.T) {
	r := &shpRand{s: 9}
	types := []model.TensorType{model.Float32, model.Int8, model.Uint8, model.Int16}
	for iter := 0; iter < 60; iter++ {
		typ := types[iter%len(types)]
		shape := []int{1 + r.intn(2), 1 + r.intn(5), 1 + r.intn(5), 1 + r.intn(5)}
		// Sizes whose 10-bit fixed-point scales are exact, so the integer
		// kernel can be held to one step of the real-valued result.
		sizes := []int{1, 2, 4, 8}
		align, half := false, false
		switch r.intn(3) {
		case 1:
			align = true
			sizes = []int{2, 3, 5, 9}
		case 2:
			half = true
		}
		oh, ow := sizes[r.intn(4)], sizes[r.intn(4)]
		t.Run(typ.String(), func(t *testing.T) {
			var in, out *Tensor
			if typ == model.Float32 {
				in, out = shpT(typ, shape, r.floats(NumElements(shape))), shpOut(typ)
			} else {
				in = shpRandQuant(r, typ, shape, 0.02, 0)
				out = shpQ(shpOut(typ), 0.02, 0)
			}
			opts := &model.ResizeBilinearOptions{AlignCorners: align, HalfPixelCenters: half}
			if err := shpRun(shpKernel(t, model.OpResizeBilinear), model.OpResizeBilinear, opts, []*Tensor{in, shpI32(int32(oh), int32(ow))}, []*Tensor{out}, 1+iter%2); err != nil {
				t.Fatal(err)
			}
			real := in.F32()
			if typ != model.Float32 {
				real = shpDequant(in)
			}
			want := bilinearNaive(shape, real, oh, ow, align, half)
			if typ == model.Float32 {
				shpCloseF32(t, "ResizeBilinear", out.F32(), want, 1e-5, 1e-5)
				return
			}
			shpWithinSteps(t, "ResizeBilinear", out, want, 1)
		})
	}
}

func TestResizeNearestTypes(t *testing.T) {
	// Nearest neighbour only moves bytes: every element size works.
	for _, typ := range []model.TensorType{model.Uint8, model.Int16, model.Int32, model.Int64, model.Bool} {
		t.Run(typ.String(), func(t *testing.T) {
			in := shpT(typ, []int{1, 2, 2, 2}, nil)
			for i := range in.Data {
				in.Data[i] = byte(i%2 + 1)
			}
			out := shpOut(typ)
			if err := shpRun(shpKernel(t, model.OpResizeNearestNeighbor), model.OpResizeNearestNeighbor, &model.ResizeNearestNeighborOptions{}, []*Tensor{in, shpI32(4, 4)}, []*Tensor{out}, 1); err != nil {
				t.Fatal(err)
			}
			for y := 0; y < 4; y++ {
				for x := 0; x < 4; x++ {
					for c := 0; c < 2; c++ {
						src := ((y/2)*2+x/2)*2 + c
						if got, want := shpElem(out, (y*4+x)*2+c), shpElem(in, src); got != want {
							t.Fatalf("out[%d,%d,%d] = %d, want %d", y, x, c, got, want)
						}
					}
				}
			}
		})
	}
}
