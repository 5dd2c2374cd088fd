package kernels

import (
	"slices"

	"github.com/ood-agent/ood-agent/model"
)

// SLICE and STRIDED_SLICE. Both reduce to a strided copy plan. When the
// index operands are constant the plan is built once in Prepare; otherwise
// the declared output shape sizes the arena and Eval rebuilds the plan into
// fixed-size arrays, failing if the run-time slice has another shape.

type sliceKernel struct {
	dynamic bool
	plan    shapeStridedCopy
	es      int
}

// sliceResolve computes the output dimensions and copy plan of SLICE.
func sliceResolve(in []int, beginT, sizeT *Tensor, dims *[shapeMaxRank]int, p *shapeStridedCopy) error {
	r := len(in)
	var strides [shapeMaxRank]int
	shapeStrides(in, strides[:r])
	base := 0
	for i := 0; i < r; i++ {
		b, s := shapeIntAt(beginT, i), shapeIntAt(sizeT, i)
		if s == -1 {
			s = in[i] - b
		}
		if b < 0 || s < 0 || b+s > in[i] {
			return errorf("slice of %d from %d is out of range for dimension %d of size %d", s, b, i, in[i])
		}
		dims[i] = s
		base += b * strides[i]
	}
	p.set(dims[:r], strides[:r], base)
	return nil
}

func (k *sliceKernel) Prepare(ctx *Context, n *Node) error {
	in, out, err := shapeMoveIO(n, 3)
	if err != nil {
		return err
	}
	beginT, sizeT := n.Inputs[1], n.Inputs[2]
	r := len(in.Shape)
	for _, t := range []*Tensor{beginT, sizeT} {
		if !shapeIsIndexType(t) || len(t.Shape) != 1 || t.Shape[0] != r {
			return errorf("operand %v: want %d int32 or int64 values", t, r)
		}
	}
	k.es = in.Type.Size()
	if !beginT.Const || !sizeT.Const {
		if len(out.Shape) != r {
			return errorf("declared output %v does not have the input's rank %d", out.Shape, r)
		}
		k.dynamic = true
		return nil
	}
	var dims [shapeMaxRank]int
	if err := sliceResolve(in.Shape, beginT, sizeT, &dims, &k.plan); err != nil {
		return err
	}
	out.Shape = append([]int{}, dims[:r]...)
	return nil
}

func (k *sliceKernel) Eval(ctx *Context, n *Node) error {
	in, out := n.Inputs[0], n.Outputs[0]
	if k.dynamic {
		var dims [shapeMaxRank]int
		if err := sliceResolve(in.Shape, n.Inputs[1], n.Inputs[2], &dims, &k.plan); err != nil {
			return err
		}
		if !slices.Equal(dims[:len(in.Shape)], out.Shape) {
			return errorf("run-time slice shape %v does not match planned output %v", shapeInts(dims[:len(in.Shape)]), out.Shape)
		}
	}
	k.plan.run(out.Data, in.Data, k.es)
	return nil
}

type stridedSliceKernel struct {
	opts    model.StridedSliceOptions
	dynamic bool
	plan    shapeStridedCopy
	es      int
}

// stridedSliceParams is TFLite's StridedSliceParams over the effective
// (ellipsis-expanded, new-axis-inserted) input shape.
type stridedSliceParams struct {
	rank                       int
	shape                      [shapeMaxRank]int
	start, stop, stride        [shapeMaxRank]int
	beginMask, endMask, shrink int
	offset                     bool
}

// build folds the ellipsis and new-axis masks into plain per-axis
// parameters, as TFLite's strided_slice.cc BuildStridedSliceParams does.
func (p *stridedSliceParams) build(o *model.StridedSliceOptions, in []int, beginT, endT, stridesT *Tensor) error {
	*p = stridedSliceParams{offset: o.Offset}
	beginCount := beginT.NumElements()
	inDims := len(in)
	ellipsis, newAxis := int(o.EllipsisMask), int(o.NewAxisMask)
	addAxes := 0
	for i := 0; i < beginCount; i++ {
		if ellipsis&(1<<i) == 0 && newAxis&(1<<i) != 0 {
			addAxes++
		}
	}
	eff := inDims + addAxes
	if eff > shapeMaxRank {
		return unsupportedf("strided slice of effective rank %d", eff)
	}
	effEllipsis, effNewAxis := 0, 0
	ellipsisStart, expanded := eff, 0
	for i := 0; i < eff; {
		if ellipsis&(1<<i) != 0 {
			ellipsisStart = i
			end := max(i+1, min(i+1+addAxes+inDims-beginCount, eff))
			expanded = end - ellipsisStart - 1
			for ; i < end; i++ {
				effEllipsis |= 1 << i
			}
			continue
		}
		if newAxis&(1<<(i-expanded)) != 0 {
			effNewAxis |= 1 << i
		}
		i++
	}
	addedEllipsis, addedAxes := 0, 0
	inDim := func(i int) (int, error) {
		j := i - addedAxes
		if j < 0 || j >= inDims {
			return 0, errorf("strided slice masks do not fit input rank %d", inDims)
		}
		return in[j], nil
	}
	for i := 0; i < eff; i++ {
		bit := 1 << i
		var err error
		switch {
		case effEllipsis&bit != 0:
			addedEllipsis = max(0, i-ellipsisStart)
			p.beginMask |= bit
			p.endMask |= bit
			p.stride[i] = 1
			p.shape[i], err = inDim(i)
		case effNewAxis&bit != 0:
			p.start[i], p.stop[i], p.stride[i] = 0, 1, 1
			p.shape[i] = 1
			addedAxes++
		case i >= beginCount+expanded:
			p.start[i], p.stop[i], p.stride[i] = 0, 0, 1
			p.beginMask |= bit
			p.endMask |= bit
			p.shape[i], err = inDim(i)
		default:
			orig := i - addedEllipsis
			if orig < 0 || orig >= beginCount {
				return errorf("strided slice masks do not fit %d indices", beginCount)
			}
			p.start[i] = shapeIntAt(beginT, orig)
			p.stop[i] = shapeIntAt(endT, orig)
			p.stride[i] = shapeIntAt(stridesT, orig)
			if int(o.BeginMask)&(1<<orig) != 0 {
				p.beginMask |= bit
			}
			if int(o.EndMask)&(1<<orig) != 0 {
				p.endMask |= bit
			}
			if int(o.ShrinkAxisMask)&(1<<orig) != 0 {
				p.shrink |= bit
			}
			p.shape[i], err = inDim(i)
		}
		if err != nil {
			return err
		}
	}
	p.rank = eff
	return nil
}

func stridedSliceClamp(v, lo, hi int) int {
	if hi < v {
		return hi
	}
	if v < lo {
		return lo
	}
	return v
}

// stridedSliceBound wraps a negative index v once and clamps it to where a
// slice running in the stride's direction may start or end.
func stridedSliceBound(v, size, stride int) int {
	if v < 0 {
		v += size
	}
	if stride > 0 {
		return stridedSliceClamp(v, 0, size)
	}
	return stridedSliceClamp(v, -1, size-1)
}

// startFor is strided_slice_logic.h StridedSliceStartForAxis.
func (p *stridedSliceParams) startFor(axis int) int {
	size, stride := p.shape[axis], p.stride[axis]
	start := stridedSliceBound(p.start[axis], size, stride)
	if p.beginMask&(1<<axis) != 0 {
		if stride > 0 {
			start = 0
		} else {
			start = size - 1
		}
	}
	return start
}

// endFor is strided_slice_logic.h StridedSliceEndForAxis.
func (p *stridedSliceParams) endFor(axis, start int) int {
	size, stride := p.shape[axis], p.stride[axis]
	if p.shrink&(1<<axis) != 0 {
		if start >= size {
			return start
		}
		return start + 1
	}
	end := p.stop[axis]
	if p.offset {
		end += start
	}
	end = stridedSliceBound(end, size, stride)
	if p.endMask&(1<<axis) != 0 {
		if stride > 0 {
			end = size
		} else {
			end = -1
		}
	}
	return end
}

// resolve computes the output shape and the copy plan.
func (p *stridedSliceParams) resolve(outDims *[shapeMaxRank]int, plan *shapeStridedCopy) (int, error) {
	var full [shapeMaxRank]int
	shapeStrides(p.shape[:p.rank], full[:p.rank])
	var dims, strides [shapeMaxRank]int
	base, outRank := 0, 0
	for i := 0; i < p.rank; i++ {
		stride := p.stride[i]
		if stride == 0 {
			return 0, errorf("stride of axis %d is zero", i)
		}
		start := p.startFor(i)
		end := p.endFor(i, start)
		count := 0
		if stride > 0 && end > start {
			count = (end - start + stride - 1) / stride
		} else if stride < 0 && start > end {
			count = (start - end - stride - 1) / -stride
		}
		if p.shrink&(1<<i) != 0 {
			if count != 1 {
				return 0, errorf("shrunk axis %d: index out of range for size %d", i, p.shape[i])
			}
		} else {
			outDims[outRank] = count
			outRank++
		}
		dims[i] = count
		strides[i] = stride * full[i]
		if count > 0 {
			base += start * full[i]
		}
	}
	plan.set(dims[:p.rank], strides[:p.rank], base)
	return outRank, nil
}

func (k *stridedSliceKernel) Prepare(ctx *Context, n *Node) error {
	in, out, err := shapeMoveIO(n, 4)
	if err != nil {
		return err
	}
	if o, ok := n.Options.(*model.StridedSliceOptions); ok && o != nil {
		k.opts = *o
	}
	count := n.Inputs[1].NumElements()
	for i := 1; i <= 3; i++ {
		t := n.Inputs[i]
		if !shapeIsIndexType(t) || len(t.Shape) != 1 || t.Shape[0] != count {
			return errorf("input %d %v: want %d int32 or int64 values", i, t, count)
		}
	}
	k.es = in.Type.Size()
	if !n.Inputs[1].Const || !n.Inputs[2].Const || !n.Inputs[3].Const {
		k.dynamic = true
		return nil
	}
	var dims [shapeMaxRank]int
	r, err := k.resolve(n, &dims)
	if err != nil {
		return err
	}
	out.Shape = append([]int{}, dims[:r]...)
	return nil
}

// resolve plans the copy for n's begin, end and strides operands, writing
// the output shape to dims, and returns the output rank.
func (k *stridedSliceKernel) resolve(n *Node, dims *[shapeMaxRank]int) (int, error) {
	var p stridedSliceParams
	if err := p.build(&k.opts, n.Inputs[0].Shape, n.Inputs[1], n.Inputs[2], n.Inputs[3]); err != nil {
		return 0, err
	}
	return p.resolve(dims, &k.plan)
}

func (k *stridedSliceKernel) Eval(ctx *Context, n *Node) error {
	in, out := n.Inputs[0], n.Outputs[0]
	if k.dynamic {
		var dims [shapeMaxRank]int
		r, err := k.resolve(n, &dims)
		if err != nil {
			return err
		}
		if !slices.Equal(dims[:r], out.Shape) {
			return errorf("run-time strided slice shape %v does not match planned output %v", shapeInts(dims[:r]), out.Shape)
		}
	}
	k.plan.run(out.Data, in.Data, k.es)
	return nil
}
