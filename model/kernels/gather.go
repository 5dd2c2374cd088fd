package kernels

import "github.com/ood-agent/ood-agent/model"

// GATHER: out[b, o, i, n] = params[b, o, indices[b, i], n] over
// batch (batch_dims), outer (up to axis), coordinate and inner blocks.

type gatherKernel struct {
	batch, outer, coords, axisSize int
	inner                          int // bytes per gathered slice
}

func (k *gatherKernel) Prepare(ctx *Context, n *Node) error {
	params, out, err := shapeMoveIO(n, 2)
	if err != nil {
		return err
	}
	indices := n.Inputs[1]
	if indices.Type != model.Int32 && indices.Type != model.Int64 && indices.Type != model.Int16 {
		return unsupportedf("indices of type %s", indices.Type)
	}
	o, _ := n.Options.(*model.GatherOptions)
	if o == nil {
		o = &model.GatherOptions{}
	}
	pr, ir := len(params.Shape), len(indices.Shape)
	axis, err := shapeNormAxis(int(o.Axis), pr)
	if err != nil {
		return err
	}
	bd := int(o.BatchDims)
	if bd < 0 {
		bd += ir
	}
	if bd < 0 || bd > ir || bd > axis {
		return errorf("batch_dims %d invalid for axis %d and indices rank %d", o.BatchDims, axis, ir)
	}
	for i := 0; i < bd; i++ {
		if params.Shape[i] != indices.Shape[i] {
			return errorf("batch dimension %d: params %v and indices %v differ", i, params.Shape, indices.Shape)
		}
	}
	shape := make([]int, 0, pr+ir-bd-1)
	shape = append(shape, params.Shape[:axis]...)
	shape = append(shape, indices.Shape[bd:]...)
	shape = append(shape, params.Shape[axis+1:]...)
	out.Shape = shape

	k.batch = shapeProd(params.Shape, 0, bd)
	k.outer = shapeProd(params.Shape, bd, axis)
	k.coords = shapeProd(indices.Shape, bd, ir)
	k.axisSize = params.Shape[axis]
	k.inner = shapeProd(params.Shape, axis+1, pr) * params.Type.Size()
	return nil
}

func (k *gatherKernel) Eval(ctx *Context, n *Node) error {
	params, indices, out := n.Inputs[0], n.Inputs[1], n.Outputs[0]
	src, dst := params.Data, out.Data
	i32, i64, i16 := indices.I32(), indices.I64(), indices.I16()
	o := 0
	for b := 0; b < k.batch; b++ {
		for j := 0; j < k.outer; j++ {
			base := (b*k.outer + j) * k.axisSize
			for c := 0; c < k.coords; c++ {
				var idx int
				switch indices.Type {
				case model.Int32:
					idx = int(i32[b*k.coords+c])
				case model.Int64:
					idx = int(i64[b*k.coords+c])
				default:
					idx = int(i16[b*k.coords+c])
				}
				if idx < 0 || idx >= k.axisSize {
					return errorf("gather index %d out of range [0, %d)", idx, k.axisSize)
				}
				s := (base + idx) * k.inner
				o += copy(dst[o:o+k.inner], src[s:s+k.inner])
			}
		}
	}
	return nil
}
