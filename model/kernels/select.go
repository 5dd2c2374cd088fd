package kernels

import (
	"slices"

	"github.com/ood-agent/ood-agent/model"
)

// selectKernel implements SELECT and SELECT_V2: out = cond ? x : y.
// SELECT_V2 broadcasts all three inputs; SELECT takes a condition of the
// inputs' shape or a vector choosing whole rows along the first dimension.
// Values are copied as raw elements, so every fixed-size type works.
type selectKernel struct {
	v2 bool
	ewRunner
	size int

	cond []byte
	b8   [3][]uint8
	b16  [3][]uint16
	b32  [3][]uint32
	b64  [3][]uint64
}

func newSelect(v2 bool) Factory {
	return func() Kernel { return &selectKernel{v2: v2} }
}

func (k *selectKernel) Prepare(ctx *Context, n *Node) error {
	if err := ewCheckIO(n, 3, 1); err != nil {
		return err
	}
	c, x, y, out := n.Inputs[0], n.Inputs[1], n.Inputs[2], n.Outputs[0]
	if c.Type != model.Bool {
		return errorf("condition type %s, want bool", c.Type)
	}
	if x.Type != y.Type || out.Type != x.Type {
		return errorf("value types %s, %s and output %s differ", x.Type, y.Type, out.Type)
	}
	k.size = x.Type.Size()
	switch k.size {
	case 1, 2, 4, 8:
	default:
		return unsupportedf("SELECT on %s", x.Type)
	}
	cs := c.Shape
	if !k.v2 {
		switch {
		case slices.Equal(cs, x.Shape) && slices.Equal(x.Shape, y.Shape):
		case len(cs) == 1 && len(x.Shape) > 1 && slices.Equal(x.Shape, y.Shape) && cs[0] == x.Shape[0]:
			// A row selector: view it as [d0, 1, 1, ...].
			cs = make([]int, len(x.Shape))
			for i := range cs {
				cs[i] = 1
			}
			cs[0] = x.Shape[0]
		default:
			return errorf("SELECT shapes %v, %v, %v: want equal shapes or a condition vector over the first dimension", c.Shape, x.Shape, y.Shape)
		}
	}
	shape, err := ewBroadcastShape(cs, x.Shape, y.Shape)
	if err != nil {
		return err
	}
	plan, err := ewNewPlan(shape, cs, x.Shape, y.Shape)
	if err != nil {
		return err
	}
	ewSetShape(out, shape)
	k.init(plan, k.segment)
	return nil
}

func (k *selectKernel) Eval(ctx *Context, n *Node) error {
	k.cond = n.Inputs[0].Data
	ts := [3]*Tensor{n.Inputs[1], n.Inputs[2], n.Outputs[0]}
	for i, t := range ts {
		switch k.size {
		case 1:
			k.b8[i] = t.Data
		case 2:
			k.b16[i] = view[uint16](t.Data)
		case 4:
			k.b32[i] = view[uint32](t.Data)
		case 8:
			k.b64[i] = view[uint64](t.Data)
		}
	}
	k.run(ctx)
	return nil
}

func (k *selectKernel) segment(o, n int, off [3]int) {
	cs, xs, ys := k.plan.innerStride(0), k.plan.innerStride(1), k.plan.innerStride(2)
	c := k.cond[off[0]:]
	switch k.size {
	case 1:
		ewSelectRow(k.b8[2][o:o+n], c, cs, k.b8[0][off[1]:], xs, k.b8[1][off[2]:], ys)
	case 2:
		ewSelectRow(k.b16[2][o:o+n], c, cs, k.b16[0][off[1]:], xs, k.b16[1][off[2]:], ys)
	case 4:
		ewSelectRow(k.b32[2][o:o+n], c, cs, k.b32[0][off[1]:], xs, k.b32[1][off[2]:], ys)
	case 8:
		ewSelectRow(k.b64[2][o:o+n], c, cs, k.b64[0][off[1]:], xs, k.b64[1][off[2]:], ys)
	}
}

func ewSelectRow[T uint8 | uint16 | uint32 | uint64](dst []T, c []byte, cs int, x []T, xs int, y []T, ys int) {
	ic, ix, iy := 0, 0, 0
	for i := range dst {
		if c[ic] != 0 {
			dst[i] = x[ix]
		} else {
			dst[i] = y[iy]
		}
		ic += cs
		ix += xs
		iy += ys
	}
}
