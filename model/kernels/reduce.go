package kernels

import (
	"math"
	"math/bits"

	"github.com/ood-agent/ood-agent/model"
)

// MEAN, SUM, REDUCE_MAX, REDUCE_MIN and REDUCE_PROD.
//
// Prepare drops unit dimensions and merges neighbours that are both reduced
// or both kept, so a reduction becomes a walk over contiguous rows: a row
// whose dimension is reduced folds into one output, a kept row folds
// element-wise into a run of outputs. Outputs accumulate in input order, as
// TFLite's reference Reduce does.
//
// Quantized MEAN follows kernels/reduce.cc: with equal input and output
// quantization it is the rounded mean of the raw values; the keep_dims 4-D
// mean over height and width rescales like reference/integer_ops/mean.h;
// everything else is reference QuantizedMeanOrSum with fixed-point
// multipliers. Quantized SUM always rescales through QuantizedMeanOrSum, so
// zero points and saturation are honoured even when the quantizations
// match.

const (
	reduceSum = iota
	reduceMean
	reduceMax
	reduceMin
	reduceProd
)

// Quantized finishing modes.
const (
	reduceQuantNone    = iota
	reduceQuantRounded // equal quantization: rounded mean of raw values
	reduceQuantSpatial // integer_ops/mean.h: rescale, then rounded divide
	reduceQuantScaled  // QuantizedMeanOrSum
)

// reduceGeom is a reduction after unit dimensions are dropped and
// neighbours with the same role are merged. It always has rank >= 2.
type reduceGeom struct {
	rank    int
	dims    [shapeMaxRank]int
	reduced [shapeMaxRank]bool
	ostride [shapeMaxRank]int // output stride per dimension, 0 if reduced
	count   int               // input elements per output
	outN    int
}

func (g *reduceGeom) set(shape []int, axes []bool) {
	*g = reduceGeom{count: 1, outN: 1}
	for i, d := range shape {
		if axes[i] {
			g.count *= d
		} else {
			g.outN *= d
		}
		if d == 1 {
			continue
		}
		if g.rank > 0 && g.reduced[g.rank-1] == axes[i] {
			g.dims[g.rank-1] *= d
			continue
		}
		g.dims[g.rank], g.reduced[g.rank] = d, axes[i]
		g.rank++
	}
	// Pad to rank 2 with a leading kept unit dimension so the walk always
	// has an outer loop.
	for g.rank < 2 {
		copy(g.dims[1:], g.dims[:g.rank])
		copy(g.reduced[1:], g.reduced[:g.rank])
		g.dims[0], g.reduced[0] = 1, false
		g.rank++
	}
	s := 1
	for i := g.rank - 1; i >= 0; i-- {
		if !g.reduced[i] {
			g.ostride[i] = s
			s *= g.dims[i]
		}
	}
}

type reduceNum interface {
	~int8 | ~uint8 | ~int16 | ~int32 | ~int64 | ~float32
}

// reduceWalk folds input rows of dimension-0 indices [lo, hi) into acc.
func reduceWalk[T, A reduceNum](g *reduceGeom, op int, src []T, acc []A, lo, hi int) {
	if g.count == 0 || g.outN == 0 {
		return
	}
	last := g.rank - 1
	n := g.dims[last]
	inner := shapeProd(g.dims[:], 1, g.rank)
	red := g.reduced[last]
	var idx [shapeMaxRank]int
	s := lo * inner
	for i0 := lo; i0 < hi; i0++ {
		o := i0 * g.ostride[0]
		for more := true; more; {
			reduceRow(op, src[s:s+n], acc, o, red)
			s += n
			o, more = shapeNext(&idx, &g.dims, &g.ostride, 1, last-1, o)
		}
	}
}

// reduceRow folds one input row into acc[o] (reduced) or acc[o:o+len(row)].
func reduceRow[T, A reduceNum](op int, row []T, acc []A, o int, reduced bool) {
	if reduced {
		v := acc[o]
		switch op {
		case reduceSum, reduceMean:
			for _, x := range row {
				v += A(x)
			}
		case reduceMax:
			for _, x := range row {
				if A(x) > v {
					v = A(x)
				}
			}
		case reduceMin:
			for _, x := range row {
				if A(x) < v {
					v = A(x)
				}
			}
		case reduceProd:
			for _, x := range row {
				v *= A(x)
			}
		}
		acc[o] = v
		return
	}
	a := acc[o : o+len(row)]
	switch op {
	case reduceSum, reduceMean:
		for j, x := range row {
			a[j] += A(x)
		}
	case reduceMax:
		for j, x := range row {
			if A(x) > a[j] {
				a[j] = A(x)
			}
		}
	case reduceMin:
		for j, x := range row {
			if A(x) < a[j] {
				a[j] = A(x)
			}
		}
	case reduceProd:
		for j, x := range row {
			a[j] *= A(x)
		}
	}
}

func reduceFill[A reduceNum](a []A, v A) {
	for i := range a {
		a[i] = v
	}
}

type reduceKernel struct {
	op        int
	typ       model.TensorType
	g         reduceGeom
	units     int // ParallelFor range: dimension 0 when kept, else 1
	quantMode int
	mult      int32
	shift     int
	inZP      int32
	outZP     int32
	qlo, qhi  int32
	finit     float32
	iinit     int64
	acc       []int64 // integer means and quantized sums

	in, out []byte
	run     func(lo, hi int)
}

// reduceAxes resolves a constant axis operand against rank: negative axes
// count from the end, duplicates are ignored.
func reduceAxes(t *Tensor, rank int) ([]bool, error) {
	v, err := shapeConstInts(t, "axis")
	if err != nil {
		return nil, err
	}
	axes := make([]bool, rank)
	for _, a := range v {
		na, err := shapeNormAxis(a, rank)
		if err != nil {
			return nil, err
		}
		axes[na] = true
	}
	return axes, nil
}

func (k *reduceKernel) Prepare(ctx *Context, n *Node) error {
	if err := shapeInputs(n, 2, 2); err != nil {
		return err
	}
	in, axisT, out := n.Inputs[0], n.Inputs[1], n.Outputs[0]
	if len(in.Shape) > shapeMaxRank {
		return unsupportedf("reduction of rank %d", len(in.Shape))
	}
	if err := shapeCheckDims(in); err != nil {
		return err
	}
	if !shapeIsIndexType(axisT) || len(axisT.Shape) > 1 {
		return errorf("axis %v: want int32 or int64 scalar or vector", axisT)
	}
	if err := shapeSameType(in, out); err != nil {
		return err
	}
	rank := len(in.Shape)
	var axes []bool
	if rank > 0 {
		var err error
		if axes, err = reduceAxes(axisT, rank); err != nil {
			return err
		}
	}
	keep := false
	if o, ok := n.Options.(*model.ReducerOptions); ok && o != nil {
		keep = o.KeepDims
	}
	shape := []int{}
	for i, d := range in.Shape {
		switch {
		case !axes[i]:
			shape = append(shape, d)
		case keep:
			shape = append(shape, 1)
		}
	}
	out.Shape = shape
	k.typ = in.Type
	k.g.set(in.Shape, axes)
	k.units = 1
	if !k.g.reduced[0] {
		k.units = k.g.dims[0]
	}

	quantized := in.Type == model.Int8 || in.Type == model.Uint8 || in.Type == model.Int16
	switch {
	case in.Type == model.Float32:
	case in.Type == model.Int32 || in.Type == model.Int64:
	case quantized && (k.op == reduceMax || k.op == reduceMin):
		if in.Quantized() && !shapeSameQuant(in, out) {
			return unsupportedf("%s reduction with different input and output quantization", in.Type)
		}
	case quantized && (k.op == reduceSum || k.op == reduceMean):
		if !in.Quantized() || !out.Quantized() {
			return unsupportedf("unquantized %s %s", in.Type, n.Op)
		}
		if in.Type == model.Int16 && (in.ZeroPoint() != 0 || out.ZeroPoint() != 0) {
			return errorf("int16 reduction needs zero points of 0")
		}
		k.prepareQuant(in, out, axes, keep)
	default:
		return unsupportedf("%s of %s", n.Op, in.Type)
	}
	switch k.op {
	case reduceProd:
		k.finit, k.iinit = 1, 1
	case reduceMax:
		k.finit = -math.MaxFloat32
		k.iinit, _ = reduceIntRange(in.Type)
	case reduceMin:
		k.finit = math.MaxFloat32
		_, k.iinit = reduceIntRange(in.Type)
	}
	if k.quantMode != reduceQuantNone || (k.op == reduceMean && (in.Type == model.Int32 || in.Type == model.Int64)) {
		k.acc = make([]int64, k.g.outN)
	}
	k.run = k.runRange
	return nil
}

// reduceIntRange returns the smallest and largest values of integer type t.
func reduceIntRange(t model.TensorType) (lo, hi int64) {
	switch t {
	case model.Int64:
		return math.MinInt64, math.MaxInt64
	case model.Int32:
		return math.MinInt32, math.MaxInt32
	}
	l, h := QuantRange(t)
	return int64(l), int64(h)
}

// prepareQuant chooses how a quantized MEAN or SUM is finished.
func (k *reduceKernel) prepareQuant(in, out *Tensor, axes []bool, keep bool) {
	k.inZP, k.outZP = in.ZeroPoint(), out.ZeroPoint()
	k.qlo, k.qhi = QuantRange(out.Type)
	k.mult, k.shift = QuantizeMultiplier(in.Scale() / out.Scale())
	spatial := keep && len(axes) == 4 && !axes[0] && axes[1] && axes[2] && !axes[3]
	switch {
	case k.op == reduceMean && shapeSameQuant(in, out):
		k.quantMode = reduceQuantRounded
	case k.op == reduceMean && spatial:
		k.quantMode = reduceQuantSpatial
	default:
		k.quantMode = reduceQuantScaled
		if k.op == reduceMean && k.g.count > 0 {
			// Fold 1/count into the multiplier, keeping the shift within
			// what MultiplyByQuantizedMultiplier accepts.
			s := 63 - bits.LeadingZeros64(uint64(k.g.count))
			s = min(s, 32, 31+k.shift)
			k.mult = int32((int64(k.mult) << s) / int64(k.g.count))
			k.shift -= s
		}
	}
}

func (k *reduceKernel) Eval(ctx *Context, n *Node) error {
	k.in, k.out = n.Inputs[0].Data, n.Outputs[0].Data
	if k.units > 1 && k.g.count*k.g.outN >= 1<<15 {
		ctx.ParallelFor(k.units, k.run)
	} else {
		k.run(0, k.units)
	}
	k.in, k.out = nil, nil
	return nil
}

// runRange reduces dimension-0 indices [lo, hi), or everything when
// dimension 0 is reduced (units == 1).
func (k *reduceKernel) runRange(lo, hi int) {
	g := &k.g
	wlo, whi := lo, hi
	olo, ohi := lo*g.ostride[0], hi*g.ostride[0]
	if g.reduced[0] {
		wlo, whi = 0, g.dims[0]
		olo, ohi = 0, g.outN
	}
	switch k.typ {
	case model.Float32:
		out := shapeView[float32](k.out)[olo:ohi]
		reduceFill(out, k.finit)
		reduceWalk(g, k.op, shapeView[float32](k.in), shapeView[float32](k.out), wlo, whi)
		if k.op == reduceMean {
			c := float32(g.count)
			for i, v := range out {
				if g.count == 0 {
					v = float32(math.NaN())
				} else {
					v /= c
				}
				out[i] = v
			}
		}
	case model.Int32:
		reduceInt(k, shapeView[int32](k.in), shapeView[int32](k.out), wlo, whi, olo, ohi)
	case model.Int64:
		reduceInt(k, shapeView[int64](k.in), shapeView[int64](k.out), wlo, whi, olo, ohi)
	case model.Int8:
		reduceQuant(k, shapeView[int8](k.in), shapeView[int8](k.out), wlo, whi, olo, ohi)
	case model.Uint8:
		reduceQuant(k, k.in, k.out, wlo, whi, olo, ohi)
	case model.Int16:
		reduceQuant(k, shapeView[int16](k.in), shapeView[int16](k.out), wlo, whi, olo, ohi)
	}
}

// reduceIntoOrSum is the common start of the integer reductions: when
// direct, it reduces src straight into dst[olo:ohi] with the op and its
// initial value and reports done; otherwise it sums the window into
// k.acc and returns the sums for outputs olo..ohi.
func reduceIntoOrSum[T reduceNum](k *reduceKernel, direct bool, src, dst []T, wlo, whi, olo, ohi int) (acc []int64, done bool) {
	if direct {
		reduceFill(dst[olo:ohi], T(k.iinit))
		reduceWalk(&k.g, k.op, src, dst, wlo, whi)
		return nil, true
	}
	acc = k.acc[olo:ohi]
	clear(acc)
	reduceWalk(&k.g, reduceSum, src, k.acc, wlo, whi)
	return acc, false
}

// reduceInt reduces int32 and int64 tensors, wrapping like TFLite; MEAN
// sums in int64 and truncates the quotient.
func reduceInt[T ~int32 | ~int64](k *reduceKernel, src, dst []T, wlo, whi, olo, ohi int) {
	acc, done := reduceIntoOrSum(k, k.op != reduceMean, src, dst, wlo, whi, olo, ohi)
	if done {
		return
	}
	c := int64(max(k.g.count, 1))
	for i, v := range acc {
		dst[olo+i] = T(v / c)
	}
}

// reduceQuant reduces int8, uint8 and int16 tensors.
func reduceQuant[T ~int8 | ~uint8 | ~int16](k *reduceKernel, src, dst []T, wlo, whi, olo, ohi int) {
	acc, done := reduceIntoOrSum(k, k.quantMode == reduceQuantNone, src, dst, wlo, whi, olo, ohi)
	if done {
		return
	}
	count := int64(k.g.count)
	if count == 0 {
		clear(dst[olo:ohi])
		return
	}
	for i, sum := range acc {
		var v int32
		switch k.quantMode {
		case reduceQuantRounded:
			if sum > 0 {
				v = int32((sum + count/2) / count)
			} else {
				v = int32((sum - count/2) / count)
			}
		case reduceQuantSpatial:
			v = MultiplyByQuantizedMultiplier(int32(sum-int64(k.inZP)*count), k.mult, k.shift)
			c := int32(count)
			if v > 0 {
				v = (v + c/2) / c
			} else {
				v = (v - c/2) / c
			}
			v += k.outZP
		default:
			v = MultiplyByQuantizedMultiplier(int32(sum-int64(k.inZP)*count), k.mult, k.shift) + k.outZP
		}
		dst[olo+i] = T(Clamp32(v, k.qlo, k.qhi))
	}
}
