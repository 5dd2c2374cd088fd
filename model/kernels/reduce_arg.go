package kernels

import "github.com/ood-agent/ood-agent/model"

// ARG_MAX and ARG_MIN: the index of the first extreme value along one axis
// (ties go to the lowest index; comparisons with NaN are false, as in
// TFLite), as int32 or int64.

type argKernel struct {
	min                bool
	outer, axis, inner int
}

func (k *argKernel) Prepare(ctx *Context, n *Node) error {
	if err := shapeInputs(n, 2, 2); err != nil {
		return err
	}
	in, axisT, out := n.Inputs[0], n.Inputs[1], n.Outputs[0]
	switch in.Type {
	case model.Float32, model.Int8, model.Uint8, model.Int16, model.Int32, model.Int64, model.Bool:
	default:
		return unsupportedf("%s of %s", n.Op, in.Type)
	}
	if out.Type != model.Int32 && out.Type != model.Int64 {
		return unsupportedf("%s output type %s", n.Op, out.Type)
	}
	if o, ok := n.Options.(*model.ArgMaxOptions); ok && o != nil && o.OutputType != out.Type &&
		(o.OutputType == model.Int32 || o.OutputType == model.Int64) {
		return errorf("output_type %s but output tensor is %s", o.OutputType, out.Type)
	}
	rank := len(in.Shape)
	a, err := shapeConstAxis(axisT, rank)
	if err != nil {
		return err
	}
	if in.Shape[a] == 0 {
		return errorf("cannot take %s over empty axis %d", n.Op, a)
	}
	shape := append([]int{}, in.Shape[:a]...)
	out.Shape = append(shape, in.Shape[a+1:]...)
	k.outer = shapeProd(in.Shape, 0, a)
	k.axis = in.Shape[a]
	k.inner = shapeProd(in.Shape, a+1, rank)
	return nil
}

func (k *argKernel) Eval(ctx *Context, n *Node) error {
	in, out := n.Inputs[0], n.Outputs[0]
	switch in.Type {
	case model.Float32:
		argDispatch(k, in.F32(), out)
	case model.Int8:
		argDispatch(k, in.I8(), out)
	case model.Uint8:
		argDispatch(k, in.U8(), out)
	case model.Int16:
		argDispatch(k, in.I16(), out)
	case model.Int32:
		argDispatch(k, in.I32(), out)
	case model.Int64:
		argDispatch(k, in.I64(), out)
	case model.Bool:
		argDispatch(k, shapeView[uint8](in.Data), out)
	}
	return nil
}

func argDispatch[T reduceNum](k *argKernel, src []T, out *Tensor) {
	if out.Type == model.Int64 {
		argRun(k, src, out.I64())
	} else {
		argRun(k, src, out.I32())
	}
}

// argRun scans the axis for every (outer, inner) pair; the output doubles
// as the running best index.
func argRun[T reduceNum, I ~int32 | ~int64](k *argKernel, src []T, dst []I) {
	for o := 0; o < k.outer; o++ {
		base := o * k.axis * k.inner
		best := dst[o*k.inner : (o+1)*k.inner]
		clear(best)
		for a := 1; a < k.axis; a++ {
			row := src[base+a*k.inner : base+(a+1)*k.inner]
			for i, v := range row {
				cur := src[base+int(best[i])*k.inner+i]
				if (!k.min && v > cur) || (k.min && v < cur) {
					best[i] = I(a)
				}
			}
		}
	}
}
