package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR over NHWC. Source coordinates
// are tabulated in Prepare. Float bilinear follows reference
// resize_bilinear.h ResizeBilinear; integer types follow its
// ResizeBilinearInteger (10-bit fixed-point coordinates, double rounding).

type resizeKernel struct {
	bilinear                       bool
	align, halfPixel               bool
	typ                            model.TensorType
	es                             int
	batch, inH, inW, depth, oh, ow int
	dynamic                        bool

	// Per output row and column: source indices and weights.
	y0, y1, x0, x1 []int
	fy, fx         []float32 // float bilinear: fractional offsets
	qy, qx         []int32   // integer bilinear: 10-bit scaled coordinates

	in, out []byte
	run     func(lo, hi int)
}

func (k *resizeKernel) Prepare(ctx *Context, n *Node) error {
	if err := shapeInputs(n, 2, 2); err != nil {
		return err
	}
	in, size, out := n.Inputs[0], n.Inputs[1], n.Outputs[0]
	if len(in.Shape) != 4 {
		return errorf("input %v: want rank 4 (NHWC)", in)
	}
	if err := shapeSameType(in, out); err != nil {
		return err
	}
	if size.Type != model.Int32 || size.NumElements() != 2 {
		return errorf("size %v: want two int32 values", size)
	}
	switch o := n.Options.(type) {
	case *model.ResizeBilinearOptions:
		k.align, k.halfPixel = o.AlignCorners, o.HalfPixelCenters
	case *model.ResizeNearestNeighborOptions:
		k.align, k.halfPixel = o.AlignCorners, o.HalfPixelCenters
	}
	if k.align && k.halfPixel {
		return errorf("align_corners and half_pixel_centers are exclusive")
	}
	k.typ, k.es = in.Type, in.Type.Size()
	switch {
	case k.bilinear && (in.Type == model.Float32 || in.Type == model.Int8 || in.Type == model.Uint8 || in.Type == model.Int16):
	case !k.bilinear && in.Type.Size() > 0 && in.Type != model.String:
	default:
		return unsupportedf("resize of %s", in.Type)
	}
	k.batch, k.inH, k.inW, k.depth = in.Shape[0], in.Shape[1], in.Shape[2], in.Shape[3]
	if size.Const {
		v := size.I32()
		k.oh, k.ow = int(v[0]), int(v[1])
	} else {
		if len(out.Shape) != 4 {
			return errorf("declared output %v: want rank 4", out.Shape)
		}
		k.dynamic = true
		k.oh, k.ow = out.Shape[1], out.Shape[2]
	}
	if k.oh <= 0 || k.ow <= 0 {
		return errorf("output size %dx%d must be positive", k.oh, k.ow)
	}
	if k.inH <= 0 || k.inW <= 0 {
		return errorf("input %v is empty", in.Shape)
	}
	out.Shape = []int{k.batch, k.oh, k.ow, k.depth}
	k.y0, k.y1 = make([]int, k.oh), make([]int, k.oh)
	k.x0, k.x1 = make([]int, k.ow), make([]int, k.ow)
	switch {
	case !k.bilinear:
		for y := range k.y0 {
			k.y0[y] = resizeNearest(y, k.inH, k.oh, k.align, k.halfPixel)
		}
		for x := range k.x0 {
			k.x0[x] = resizeNearest(x, k.inW, k.ow, k.align, k.halfPixel)
		}
	case in.Type == model.Float32:
		k.fy, k.fx = make([]float32, k.oh), make([]float32, k.ow)
		resizeFloatTable(k.inH, k.oh, k.align, k.halfPixel, k.y0, k.y1, k.fy)
		resizeFloatTable(k.inW, k.ow, k.align, k.halfPixel, k.x0, k.x1, k.fx)
	default:
		k.qy, k.qx = make([]int32, k.oh), make([]int32, k.ow)
		resizeIntTable(k.inH, k.oh, k.align, k.halfPixel, k.y0, k.y1, k.qy)
		resizeIntTable(k.inW, k.ow, k.align, k.halfPixel, k.x0, k.x1, k.qx)
	}
	k.run = k.rows
	return nil
}

// resizeScale is the float32 source/destination ratio TFLite uses.
func resizeScale(in, out int, align bool) float32 {
	if align && out > 1 {
		return float32(in-1) / float32(out-1)
	}
	return float32(in) / float32(out)
}

// resizeNearest is reference GetNearestNeighbor.
func resizeNearest(v, in, out int, align, halfPixel bool) int {
	scale := resizeScale(in, out, align)
	offset := float32(0)
	if halfPixel {
		offset = 0.5
	}
	s := float32(float32(v)+offset) * scale
	var r int
	if align {
		r = int(int32(math.Round(float64(s))))
	} else {
		r = int(int32(math.Floor(float64(s))))
	}
	r = min(r, in-1)
	if halfPixel {
		r = max(0, r)
	}
	return r
}

// resizeFloatTable is reference ComputeInterpolationValues for every output
// coordinate; frac receives scaled-value minus lower bound.
func resizeFloatTable(in, out int, align, halfPixel bool, lo, hi []int, frac []float32) {
	scale := resizeScale(in, out, align)
	for v := 0; v < out; v++ {
		var s float32
		if halfPixel {
			s = float32((float32(v)+0.5)*scale) - 0.5
		} else {
			s = float32(v) * scale
		}
		f := float32(math.Floor(float64(s)))
		lo[v] = max(int(int32(f)), 0)
		hi[v] = min(int(int32(math.Ceil(float64(s)))), in-1)
		frac[v] = s - float32(lo[v])
	}
}

// resizeIntTable is reference ComputeInterpolationValuesInteger for every
// output coordinate; scaled receives the 10-bit source coordinate.
func resizeIntTable(in, out int, align, halfPixel bool, lo, hi []int, scaled []int32) {
	scale := int32(((1<<10)*in + out/2) / out)
	if align && out > 1 {
		scale = int32(((1<<10)*(in-1) + (out-1)/2) / (out - 1))
	}
	for v := 0; v < out; v++ {
		var s int32
		if halfPixel {
			s = int32(v)*scale + scale/2 - (1 << 9)
		} else {
			s = int32(v) * scale
		}
		scaled[v] = s
		lo[v] = int(max(s/(1<<10), 0))
		hi[v] = int(min((s+(1<<10)-1)/(1<<10), int32(in-1)))
	}
}

func (k *resizeKernel) Eval(ctx *Context, n *Node) error {
	if k.dynamic {
		v := n.Inputs[1].I32()
		if int(v[0]) != k.oh || int(v[1]) != k.ow {
			return errorf("run-time size %dx%d does not match planned %dx%d", v[0], v[1], k.oh, k.ow)
		}
	}
	k.in, k.out = n.Inputs[0].Data, n.Outputs[0].Data
	rows := k.batch * k.oh
	if rows*k.ow*k.depth >= 1<<15 {
		ctx.ParallelFor(rows, k.run)
	} else {
		k.run(0, rows)
	}
	k.in, k.out = nil, nil
	return nil
}

// rows computes output rows [lo, hi), a row being one (batch, y) pair.
func (k *resizeKernel) rows(lo, hi int) {
	if !k.bilinear {
		k.nearestRows(lo, hi)
		return
	}
	switch k.typ {
	case model.Float32:
		k.floatRows(shapeView[float32](k.out), shapeView[float32](k.in), lo, hi)
	case model.Int8:
		resizeIntRows(k, shapeView[int8](k.out), shapeView[int8](k.in), lo, hi)
	case model.Uint8:
		resizeIntRows(k, k.out, k.in, lo, hi)
	case model.Int16:
		resizeIntRows(k, shapeView[int16](k.out), shapeView[int16](k.in), lo, hi)
	}
}

func (k *resizeKernel) nearestRows(lo, hi int) {
	px := k.depth * k.es
	for row := lo; row < hi; row++ {
		b, y := row/k.oh, row%k.oh
		srow := (b*k.inH + k.y0[y]) * k.inW
		o := row * k.ow * px
		for x := 0; x < k.ow; x++ {
			s := (srow + k.x0[x]) * px
			o += copy(k.out[o:o+px], k.in[s:s+px])
		}
	}
}

func (k *resizeKernel) floatRows(dst, src []float32, lo, hi int) {
	d := k.depth
	for row := lo; row < hi; row++ {
		b, y := row/k.oh, row%k.oh
		dy := k.fy[y]
		r0 := src[(b*k.inH+k.y0[y])*k.inW*d:]
		r1 := src[(b*k.inH+k.y1[y])*k.inW*d:]
		for x := 0; x < k.ow; x++ {
			dx := k.fx[x]
			wy0, wy1, wx0, wx1 := 1-dy, dy, 1-dx, dx
			p00, p01, p10, p11 := bilinearCorners(r0, r1, k.x0[x], k.x1[x], d)
			o := dst[(row*k.ow+x)*d:][:d]
			for c := range o {
				// Same association as the reference; the conversions keep
				// every product rounded to float32 (no FMA contraction).
				t00 := float32(float32(p00[c]*wy0) * wx0)
				t10 := float32(float32(p10[c]*wy1) * wx0)
				t01 := float32(float32(p01[c]*wy0) * wx1)
				t11 := float32(float32(p11[c]*wy1) * wx1)
				o[c] = t00 + t10 + t01 + t11
			}
		}
	}
}

func resizeIntRows[T ~int8 | ~uint8 | ~int16](k *resizeKernel, dst, src []T, lo, hi int) {
	const one = 1 << 10
	d := k.depth
	for row := lo; row < hi; row++ {
		b, y := row/k.oh, row%k.oh
		dy := int64(k.qy[y]) - one*int64(k.y0[y])
		r0 := src[(b*k.inH+k.y0[y])*k.inW*d:]
		r1 := src[(b*k.inH+k.y1[y])*k.inW*d:]
		for x := 0; x < k.ow; x++ {
			dx := int64(k.qx[x]) - one*int64(k.x0[x])
			w00 := (one - dy) * (one - dx)
			w10 := dy * (one - dx)
			w01 := (one - dy) * dx
			w11 := dy * dx
			p00, p01, p10, p11 := bilinearCorners(r0, r1, k.x0[x], k.x1[x], d)
			o := dst[(row*k.ow+x)*d:][:d]
			for c := range o {
				v := int64(p00[c])*w00 + int64(p10[c])*w10 + int64(p01[c])*w01 + int64(p11[c])*w11
				if v > 0 {
					v += 1 << 19
				} else {
					v -= 1 << 19
				}
				o[c] = T(v / (1 << 20))
			}
		}
	}
}

// bilinearCorners returns the d channels of the four source pixels a
// bilinear sample mixes: columns x0 and x1 of rows r0 (top) and r1
// (bottom).
func bilinearCorners[T any](r0, r1 []T, x0, x1, d int) (p00, p01, p10, p11 []T) {
	return r0[x0*d:][:d], r0[x1*d:][:d], r1[x0*d:][:d], r1[x1*d:][:d]
}
