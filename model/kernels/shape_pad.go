package kernels

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/ood-agent/ood-agent/model"
)

// PAD, PADV2 and TILE.

type padKernel struct {
	v2      bool
	dynamic bool
	es      int
	value   [8]byte // the pad element, little-endian
	rank    int
	in      [shapeMaxRank]int
	out     [shapeMaxRank]int
	before  [shapeMaxRank]int
}

// padResolve reads paddings into before and out, checking them against in.
func padResolve(in []int, paddings *Tensor, before, out *[shapeMaxRank]int) error {
	for i, d := range in {
		b, a := shapeIntAt(paddings, 2*i), shapeIntAt(paddings, 2*i+1)
		if b < 0 || a < 0 {
			return errorf("negative padding %d,%d for dimension %d", b, a, i)
		}
		before[i] = b
		out[i] = d + b + a
	}
	return nil
}

func (k *padKernel) Prepare(ctx *Context, n *Node) error {
	in, out, err := shapeMoveIO(n, 2)
	if err != nil {
		return err
	}
	paddings := n.Inputs[1]
	r := len(in.Shape)
	if !shapeIsIndexType(paddings) || len(paddings.Shape) != 2 || paddings.Shape[0] != r || paddings.Shape[1] != 2 {
		return errorf("paddings %v: want int32 or int64 of shape [%d 2]", paddings, r)
	}
	k.rank, k.es = r, in.Type.Size()
	copy(k.in[:], in.Shape)

	// The pad element: PADV2's constant, else zero in the output's
	// quantization.
	switch c := n.Input(2); {
	case k.v2 && c != nil:
		if c.Type != in.Type || c.NumElements() != 1 {
			return errorf("constant_values %v: want one %s value", c, in.Type)
		}
		if !c.Const || len(c.Data) < k.es {
			return unsupportedf("non-constant constant_values %q", c.Name)
		}
		copy(k.value[:], c.Data[:k.es])
	case out.Quantized() && (out.Type == model.Int8 || out.Type == model.Uint8 || out.Type == model.Int16):
		binary.LittleEndian.PutUint16(k.value[:], uint16(int16(out.ZeroPoint())))
	}

	if !paddings.Const {
		if len(out.Shape) != r {
			return errorf("declared output %v does not have the input's rank %d", out.Shape, r)
		}
		k.dynamic = true
		copy(k.out[:], out.Shape)
		return nil
	}
	if err := padResolve(in.Shape, paddings, &k.before, &k.out); err != nil {
		return err
	}
	out.Shape = append([]int{}, k.out[:r]...)
	return nil
}

func (k *padKernel) Eval(ctx *Context, n *Node) error {
	in, out := n.Inputs[0], n.Outputs[0]
	r := k.rank
	if k.dynamic {
		var o [shapeMaxRank]int
		if err := padResolve(in.Shape, n.Inputs[1], &k.before, &o); err != nil {
			return err
		}
		if !slices.Equal(o[:r], out.Shape) {
			return errorf("run-time padded shape %v does not match planned output %v", shapeInts(o[:r]), out.Shape)
		}
	}
	dst, src := out.Data, in.Data
	if r == 0 {
		copy(dst, src)
		return nil
	}
	shapeFill(dst, k.value[:k.es])
	if len(src) == 0 {
		return nil
	}
	var ostride [shapeMaxRank]int
	shapeStrides(k.out[:r], ostride[:r])
	row := k.in[r-1] * k.es
	off := 0 // destination element offset of the current input row
	for i := 0; i < r; i++ {
		off += k.before[i] * ostride[i]
	}
	var idx [shapeMaxRank]int
	for s, more := 0, true; more && s < len(src); s += row {
		copy(dst[off*k.es:off*k.es+row], src[s:s+row])
		off, more = shapeNext(&idx, &k.in, &ostride, 0, r-2, off)
	}
	return nil
}

type tileKernel struct {
	rank int
	in   [shapeMaxRank]int
	mult [shapeMaxRank]int
	out  [shapeMaxRank]int
	es   int
}

func (k *tileKernel) Prepare(ctx *Context, n *Node) error {
	in, out, err := shapeMoveIO(n, 2)
	if err != nil {
		return err
	}
	multT := n.Inputs[1]
	m, err := shapeConstInts(multT, "multiples")
	if err != nil {
		return err
	}
	r := len(in.Shape)
	if len(m) != r {
		return errorf("multiples %v: want %d values", m, r)
	}
	shape := make([]int, r)
	for i, d := range in.Shape {
		if m[i] < 0 {
			return errorf("negative multiple %d", m[i])
		}
		shape[i] = d * m[i]
		if shape[i] > math.MaxInt32 {
			return errorf("tiled dimension %d overflows", i)
		}
	}
	out.Shape = shape
	k.rank, k.es = r, in.Type.Size()
	copy(k.in[:], in.Shape)
	copy(k.mult[:], m)
	copy(k.out[:], shape)
	return nil
}

func (k *tileKernel) Eval(ctx *Context, n *Node) error {
	in, out := n.Inputs[0], n.Outputs[0]
	dst, src := out.Data, in.Data
	r := k.rank
	if r == 0 || len(dst) == 0 {
		copy(dst, src)
		return nil
	}
	var istride [shapeMaxRank]int
	shapeStrides(k.in[:r], istride[:r])
	row := k.in[r-1] * k.es
	var idx [shapeMaxRank]int // output index over the leading r-1 dims
	soff := 0                 // source element offset of the row
	for o := 0; o < len(dst); {
		srow := src[soff*k.es : soff*k.es+row]
		for m := 0; m < k.mult[r-1]; m++ {
			o += copy(dst[o:o+row], srow)
		}
		j := r - 2
		for ; j >= 0; j-- {
			idx[j]++
			soff += istride[j]
			if idx[j]%k.in[j] == 0 {
				soff -= istride[j] * k.in[j]
			}
			if idx[j] < k.out[j] {
				break
			}
			idx[j] = 0
		}
		if j < 0 {
			break
		}
	}
	return nil
}
