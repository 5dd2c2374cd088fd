package kernels

import (
	"unsafe"

	"github.com/ood-agent/ood-agent/model"
)

// Helpers shared by the shape, reduction, pooling, resize and matmul kernels.
// Their names carry a "shape" prefix so they cannot clash with other groups'
// helpers in this package.

// shapeMaxRank bounds the rank the data-movement kernels handle. Fixed-size
// arrays of this length let Eval recompute index plans without allocating.
const shapeMaxRank = 8

// shapeInputs checks that n has at least min inputs, that the first required
// of them are present, and that it has at least one output.
func shapeInputs(n *Node, min, required int) error {
	if len(n.Inputs) < min {
		return errorf("want at least %d inputs, got %d", min, len(n.Inputs))
	}
	for i := 0; i < required; i++ {
		if n.Inputs[i] == nil {
			return errorf("input %d is missing", i)
		}
	}
	if len(n.Outputs) == 0 || n.Outputs[0] == nil {
		return errorf("missing output")
	}
	return nil
}

// shapeMovable reports whether kernels that only move elements support t.
func shapeMovable(t *Tensor) error {
	if t.Type.Size() == 0 || t.Type == model.String {
		return unsupportedf("tensor %q of type %s", t.Name, t.Type)
	}
	if len(t.Shape) > shapeMaxRank {
		return unsupportedf("tensor %q of rank %d (max %d)", t.Name, len(t.Shape), shapeMaxRank)
	}
	return nil
}

// shapeSameType checks that out has in's element type.
func shapeSameType(in, out *Tensor) error {
	if in.Type != out.Type {
		return errorf("output %q: want type %s like the input, got %s", out.Name, in.Type, out.Type)
	}
	return nil
}

// shapeMoveIO checks a node that moves elements of its first input to its
// output: inputs present, a movable input and an output of the same type.
// It returns the input and the output.
func shapeMoveIO(n *Node, inputs int) (in, out *Tensor, err error) {
	if err := shapeInputs(n, inputs, inputs); err != nil {
		return nil, nil, err
	}
	in, out = n.Inputs[0], n.Outputs[0]
	if err := shapeMovable(in); err != nil {
		return nil, nil, err
	}
	if err := shapeSameType(in, out); err != nil {
		return nil, nil, err
	}
	return in, out, nil
}

// shapeSameQuant reports whether a and b share scale and zero point, as
// TFLite compares them (first channel only).
func shapeSameQuant(a, b *Tensor) bool {
	return float32(a.Scale()) == float32(b.Scale()) && a.ZeroPoint() == b.ZeroPoint()
}

// shapeNormAxis maps a possibly negative axis into [0, rank).
func shapeNormAxis(axis, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, errorf("axis %d out of range for rank %d", axis, rank)
	}
	return a, nil
}

// shapeConstInts reads a constant int32 or int64 operand.
func shapeConstInts(t *Tensor, what string) ([]int, error) {
	if !t.Const {
		return nil, unsupportedf("non-constant %s tensor %q", what, t.Name)
	}
	v, err := t.Ints()
	if err != nil {
		return nil, errorf("%s: %w", what, err)
	}
	return v, nil
}

// shapeConstAxis reads a constant single-axis operand and normalizes it
// for rank.
func shapeConstAxis(t *Tensor, rank int) (int, error) {
	v, err := shapeConstInts(t, "axis")
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, errorf("axis: want one value, got %v", v)
	}
	return shapeNormAxis(v[0], rank)
}

// shapeIntAt reads element i of an int32 or int64 tensor without allocating.
func shapeIntAt(t *Tensor, i int) int {
	if t.Type == model.Int64 {
		return int(t.I64()[i])
	}
	return int(t.I32()[i])
}

// shapeIsIndexType reports whether t holds int32 or int64 indices.
func shapeIsIndexType(t *Tensor) bool { return t.Type == model.Int32 || t.Type == model.Int64 }

// shapeInts copies s; error paths use it so that formatting a slice of a
// fixed-size array does not move the array to the heap on every Eval.
func shapeInts(s []int) []int { return append([]int(nil), s...) }

// shapeProd is the product of dims[lo:hi].
func shapeProd(dims []int, lo, hi int) int {
	p := 1
	for _, d := range dims[lo:hi] {
		p *= d
	}
	return p
}

// shapeCheckDims rejects negative dimensions.
func shapeCheckDims(t *Tensor) error {
	for _, d := range t.Shape {
		if d < 0 {
			return errorf("tensor %q has unknown dimension in shape %v", t.Name, t.Shape)
		}
	}
	return nil
}

// shapeView views b as elements of type T, like view but exported to the
// generic helpers of this group.
func shapeView[T any](b []byte) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if len(b) < size {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/size)
}

// shapeFill fills dst with repetitions of pattern, doubling the copied span
// so the cost is a few memmoves.
func shapeFill(dst, pattern []byte) {
	if len(dst) == 0 {
		return
	}
	n := copy(dst, pattern)
	for n < len(dst) {
		n += copy(dst[n:], dst[:n])
	}
}

// shapeStridedCopy copies a strided view of a source into a dense
// destination: the destination is enumerated row-major over dims, and the
// source element for index (i0..ir-1) is base + sum(ik*stride[k]).
type shapeStridedCopy struct {
	rank   int
	dims   [shapeMaxRank]int
	stride [shapeMaxRank]int
	base   int
}

// set fills the plan from dims and strides, dropping unit dimensions and
// merging dimensions that are contiguous in the source.
func (p *shapeStridedCopy) set(dims, strides []int, base int) {
	p.base = base
	p.rank = 0
	for k := range dims {
		if dims[k] == 0 {
			p.rank = 1
			p.dims[0] = 0
			p.stride[0] = 1
			return
		}
		if dims[k] == 1 {
			continue
		}
		if p.rank > 0 && p.stride[p.rank-1] == strides[k]*dims[k] {
			p.dims[p.rank-1] *= dims[k]
			p.stride[p.rank-1] = strides[k]
			continue
		}
		p.dims[p.rank] = dims[k]
		p.stride[p.rank] = strides[k]
		p.rank++
	}
	if p.rank == 0 {
		p.rank = 1
		p.dims[0] = 1
		p.stride[0] = 1
	}
}

// count is the number of elements the plan writes.
func (p *shapeStridedCopy) count() int { return shapeProd(p.dims[:], 0, p.rank) }

// run performs the copy for elements of es bytes.
func (p *shapeStridedCopy) run(dst, src []byte, es int) {
	if p.count() == 0 {
		return
	}
	last := p.rank - 1
	if p.stride[last] == 1 {
		p.runContiguous(dst, src, es)
		return
	}
	switch es {
	case 1:
		shapeStridedRun(p, shapeView[uint8](dst), shapeView[uint8](src))
	case 2:
		shapeStridedRun(p, shapeView[uint16](dst), shapeView[uint16](src))
	case 4:
		shapeStridedRun(p, shapeView[uint32](dst), shapeView[uint32](src))
	case 8:
		shapeStridedRun(p, shapeView[uint64](dst), shapeView[uint64](src))
	}
}

// runRange runs the part of the plan whose first index lies in [lo, hi).
func (p *shapeStridedCopy) runRange(dst, src []byte, es, lo, hi int) {
	if lo >= hi {
		return
	}
	q := *p
	inner := shapeProd(p.dims[:], 1, p.rank)
	q.dims[0] = hi - lo
	q.base += lo * p.stride[0]
	q.run(dst[lo*inner*es:], src, es)
}

// runContiguous copies whole innermost rows with copy.
func (p *shapeStridedCopy) runContiguous(dst, src []byte, es int) {
	last := p.rank - 1
	row := p.dims[last] * es
	var idx [shapeMaxRank]int
	off := p.base
	for o, more := 0, true; more; o += row {
		copy(dst[o:o+row], src[off*es:off*es+row])
		off, more = shapeNext(&idx, &p.dims, &p.stride, 0, last-1, off)
	}
}

func shapeStridedRun[T any](p *shapeStridedCopy, dst, src []T) {
	last := p.rank - 1
	n, s := p.dims[last], p.stride[last]
	var idx [shapeMaxRank]int
	off := p.base
	for o, more := 0, true; more; o += n {
		d := dst[o : o+n]
		at := off
		for i := range d {
			d[i] = src[at]
			at += s
		}
		off, more = shapeNext(&idx, &p.dims, &p.stride, 0, last-1, off)
	}
}

// shapeNext advances idx, a row-major index over dimensions first..last of
// dims, to the next position and moves the element offset off by the
// matching strides. It reports false, with idx back at zero, after the
// last position.
func shapeNext(idx, dims, stride *[shapeMaxRank]int, first, last, off int) (int, bool) {
	for k := last; k >= first; k-- {
		idx[k]++
		off += stride[k]
		if idx[k] < dims[k] {
			return off, true
		}
		off -= stride[k] * idx[k]
		idx[k] = 0
	}
	return off, false
}

// shapeStrides writes the row-major element strides of dims into s.
func shapeStrides(dims []int, s []int) {
	acc := 1
	for k := len(dims) - 1; k >= 0; k-- {
		s[k] = acc
		acc *= dims[k]
	}
}
