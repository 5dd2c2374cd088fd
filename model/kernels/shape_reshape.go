package kernels

import (
	"slices"

	"github.com/ood-agent/ood-agent/model"
)

// RESHAPE, SQUEEZE, EXPAND_DIMS and SHAPE. The first three copy their input:
// the arena gives every tensor its own memory, so outputs cannot alias
// inputs.

// shapeResolveReshape resolves a requested shape with at most one -1 against
// count elements, writing the result into dst (len(dst) == len(want)).
func shapeResolveReshape(want []int, count int, dst []int) error {
	unknown := -1
	known := 1
	for i, d := range want {
		switch {
		case d == -1:
			if unknown >= 0 {
				return errorf("shape %v has more than one -1", shapeInts(want))
			}
			unknown = i
		case d < 0:
			return errorf("shape %v has negative dimension %d", shapeInts(want), d)
		default:
			known *= d
		}
		dst[i] = d
	}
	if unknown >= 0 {
		if known == 0 || count%known != 0 {
			return errorf("cannot infer -1 in shape %v for %d elements", shapeInts(want), count)
		}
		dst[unknown] = count / known
		known = count
	}
	if known != count {
		return errorf("shape %v holds %d elements, input has %d", shapeInts(want), known, count)
	}
	return nil
}

type reshapeKernel struct {
	// shape is the non-constant shape operand checked at every Eval, or nil.
	shape *Tensor
}

func (k *reshapeKernel) Prepare(ctx *Context, n *Node) error {
	in, out, err := shapeMoveIO(n, 1)
	if err != nil {
		return err
	}
	var want []int
	switch s := n.Input(1); {
	case s != nil && len(s.Shape) == 1 && shapeIsIndexType(s):
		if s.Const {
			v, err := s.Ints()
			if err != nil {
				return err
			}
			want = v
		} else {
			// The values arrive at run time; trust the declared output
			// shape and check it against them in Eval.
			if s.Shape[0] != len(out.Shape) || len(out.Shape) > shapeMaxRank {
				return unsupportedf("non-constant shape operand of %d values for declared output %v", s.Shape[0], out.Shape)
			}
			k.shape = s
			want = append([]int(nil), out.Shape...)
		}
	default:
		if o, ok := n.Options.(*model.ReshapeOptions); ok && o != nil && len(o.NewShape) > 0 {
			want = make([]int, len(o.NewShape))
			for i, d := range o.NewShape {
				want[i] = int(d)
			}
			// Old converters wrote [0] to mean a scalar.
			if len(want) == 1 && want[0] == 0 {
				want = want[:0]
			}
		} else {
			want = append([]int(nil), out.Shape...)
		}
	}
	shape := make([]int, len(want))
	if err := shapeResolveReshape(want, in.NumElements(), shape); err != nil {
		return err
	}
	out.Shape = shape
	return nil
}

func (k *reshapeKernel) Eval(ctx *Context, n *Node) error {
	if k.shape != nil {
		out := n.Outputs[0]
		var want, got [shapeMaxRank]int
		r := len(out.Shape)
		for i := 0; i < r; i++ {
			want[i] = shapeIntAt(k.shape, i)
		}
		if err := shapeResolveReshape(want[:r], out.NumElements(), got[:r]); err != nil || !slices.Equal(got[:r], out.Shape) {
			return errorf("run-time shape %v does not match planned output shape %v", shapeInts(want[:r]), out.Shape)
		}
	}
	copy(n.Outputs[0].Data, n.Inputs[0].Data)
	return nil
}

type squeezeKernel struct{}

func (squeezeKernel) Prepare(ctx *Context, n *Node) error {
	in, out, err := shapeMoveIO(n, 1)
	if err != nil {
		return err
	}
	rank := len(in.Shape)
	drop := make([]bool, rank)
	var dims []int32
	if o, ok := n.Options.(*model.SqueezeOptions); ok && o != nil {
		dims = o.SqueezeDims
	}
	if len(dims) == 0 {
		for i, d := range in.Shape {
			drop[i] = d == 1
		}
	}
	for _, d := range dims {
		a, err := shapeNormAxis(int(d), rank)
		if err != nil {
			return errorf("squeeze dims: %w", err)
		}
		if in.Shape[a] != 1 {
			return errorf("cannot squeeze dimension %d of size %d", a, in.Shape[a])
		}
		drop[a] = true
	}
	shape := []int{}
	for i, d := range in.Shape {
		if !drop[i] {
			shape = append(shape, d)
		}
	}
	out.Shape = shape
	return nil
}

func (squeezeKernel) Eval(ctx *Context, n *Node) error {
	copy(n.Outputs[0].Data, n.Inputs[0].Data)
	return nil
}

type expandDimsKernel struct{}

func (expandDimsKernel) Prepare(ctx *Context, n *Node) error {
	in, out, err := shapeMoveIO(n, 2)
	if err != nil {
		return err
	}
	axisT := n.Inputs[1]
	if !shapeIsIndexType(axisT) || axisT.NumElements() != 1 {
		return errorf("axis: want one int32 or int64 value, got %v", axisT)
	}
	rank := len(in.Shape)
	if !axisT.Const {
		// Only the declared output can tell where the new axis goes.
		if len(out.Shape) != rank+1 || out.NumElements() != in.NumElements() {
			return unsupportedf("non-constant axis with declared output %v for input %v", out.Shape, in.Shape)
		}
		return nil
	}
	axis := shapeIntAt(axisT, 0)
	if axis < 0 {
		axis += rank + 1
	}
	if axis < 0 || axis > rank {
		return errorf("axis %d out of range for rank %d", shapeIntAt(axisT, 0), rank)
	}
	shape := make([]int, 0, rank+1)
	shape = append(shape, in.Shape[:axis]...)
	shape = append(shape, 1)
	shape = append(shape, in.Shape[axis:]...)
	out.Shape = shape
	return nil
}

func (expandDimsKernel) Eval(ctx *Context, n *Node) error {
	copy(n.Outputs[0].Data, n.Inputs[0].Data)
	return nil
}

type shapeKernel struct{}

func (shapeKernel) Prepare(ctx *Context, n *Node) error {
	if err := shapeInputs(n, 1, 1); err != nil {
		return err
	}
	out := n.Outputs[0]
	if !shapeIsIndexType(out) {
		return unsupportedf("SHAPE output type %s", out.Type)
	}
	out.Shape = []int{len(n.Inputs[0].Shape)}
	return nil
}

func (shapeKernel) Eval(ctx *Context, n *Node) error {
	in, out := n.Inputs[0], n.Outputs[0]
	if out.Type == model.Int64 {
		o := out.I64()
		for i, d := range in.Shape {
			o[i] = int64(d)
		}
		return nil
	}
	o := out.I32()
	for i, d := range in.Shape {
		o[i] = int32(d)
	}
	return nil
}
