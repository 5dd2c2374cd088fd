package kernels

import (
	"fmt"
)

// Broadcasting for the elementwise group (binary arithmetic, PRELU,
// SELECT/SELECT_V2): numpy rules up to rank ewMaxRank. Shapes are collapsed
// once in Prepare so that Eval walks the output in contiguous rows whose
// inputs advance with stride 1 (full) or 0 (broadcast).

// ewMaxRank is the highest rank the elementwise kernels broadcast.
const ewMaxRank = 6

// ewBlock is the number of elements one work unit covers when the whole
// output collapses to a single row.
const ewBlock = 1 << 13

// ewParallelMin is the output size from which elementwise kernels split
// their work across threads; below it the hand-off costs more than it saves.
const ewParallelMin = 1 << 13

// ewBroadcastShape returns the numpy broadcast of shapes, or an error naming
// the first incompatible dimension.
func ewBroadcastShape(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for k, s := range shapes {
		for i, d := range s {
			a := rank - len(s) + i
			switch {
			case d == out[a]:
			case d == 1:
			case out[a] == 1:
				out[a] = d
			default:
				return nil, fmt.Errorf("input %d shape %v does not broadcast to %v", k, s, out)
			}
		}
	}
	return out, nil
}

// ewPlan is the collapsed description of how up to three inputs map onto a
// contiguous output.
type ewPlan struct {
	n      int // number of inputs
	rank   int // collapsed rank, at least 1
	dims   [ewMaxRank]int
	stride [3][ewMaxRank]int // element strides per input; 0 where broadcast
	total  int
	rows   int // product of dims[:rank-1]
	inner  int // dims[rank-1]
}

// ewNewPlan collapses the broadcast of ins onto out (which must be their
// broadcast shape).
func ewNewPlan(out []int, ins ...[]int) (ewPlan, error) {
	var p ewPlan
	if len(ins) == 0 || len(ins) > 3 {
		return p, fmt.Errorf("broadcast of %d inputs", len(ins))
	}
	p.n = len(ins)
	r := len(out)
	// Full-rank views, right-aligned, with each input's natural strides.
	var inDims [3][]int
	var inStride [3][]int
	for k, s := range ins {
		if len(s) > r {
			return p, fmt.Errorf("input %d rank %d exceeds output rank %d", k, len(s), r)
		}
		d := make([]int, r)
		for i := range d {
			d[i] = 1
		}
		copy(d[r-len(s):], s)
		for i := range d {
			if d[i] != out[i] && d[i] != 1 {
				return p, fmt.Errorf("input %d shape %v does not broadcast to %v", k, s, out)
			}
		}
		st := make([]int, r)
		acc := 1
		for i := r - 1; i >= 0; i-- {
			st[i] = acc
			acc *= d[i]
		}
		inDims[k], inStride[k] = d, st
	}
	p.total = NumElements(out)
	bcast := func(k, axis int) bool { return inDims[k][axis] == 1 && out[axis] != 1 }
	rank := 0
	var lastAxis [ewMaxRank + 1]int
	for a := 0; a < r; a++ {
		if out[a] == 1 {
			continue
		}
		merge := rank > 0
		if merge {
			prev := lastAxis[rank-1]
			for k := range ins {
				if bcast(k, a) != bcast(k, prev) {
					merge = false
					break
				}
			}
		}
		if merge {
			p.dims[rank-1] *= out[a]
			lastAxis[rank-1] = a
			continue
		}
		if rank == ewMaxRank {
			return p, unsupportedf("broadcast of %d dimensions beyond rank %d", r, ewMaxRank)
		}
		p.dims[rank] = out[a]
		lastAxis[rank] = a
		rank++
	}
	if rank == 0 {
		p.dims[0] = 1
		lastAxis[0] = -1
		rank = 1
	}
	p.rank = rank
	for k := range ins {
		for d := 0; d < rank; d++ {
			a := lastAxis[d]
			if a < 0 || bcast(k, a) {
				p.stride[k][d] = 0
			} else {
				p.stride[k][d] = inStride[k][a]
			}
		}
	}
	p.inner = p.dims[rank-1]
	p.rows = 1
	for d := 0; d < rank-1; d++ {
		p.rows *= p.dims[d]
	}
	return p, nil
}

// innerStride is input k's stride along the contiguous output row: 1 or 0.
func (p *ewPlan) innerStride(k int) int { return p.stride[k][p.rank-1] }

// units is the number of independent work units visit accepts.
func (p *ewPlan) units() int {
	if p.total == 0 {
		return 0
	}
	if p.rank == 1 {
		return (p.total + ewBlock - 1) / ewBlock
	}
	return p.rows
}

// ewSegment handles n contiguous output elements from offset o, whose inputs
// start at off[k] and advance by the plan's inner strides.
type ewSegment func(o, n int, off [3]int)

// visit calls seg for work units [lo, hi).
func (p *ewPlan) visit(lo, hi int, seg ewSegment) {
	if lo >= hi {
		return
	}
	var off [3]int
	if p.rank == 1 {
		for u := lo; u < hi; u++ {
			s := u * ewBlock
			n := min(ewBlock, p.total-s)
			for k := 0; k < p.n; k++ {
				off[k] = s * p.stride[k][0]
			}
			seg(s, n, off)
		}
		return
	}
	var idx [ewMaxRank]int
	outer := p.rank - 1
	row := lo
	for d := outer - 1; d >= 0; d-- {
		i := row % p.dims[d]
		row /= p.dims[d]
		idx[d] = i
		for k := 0; k < p.n; k++ {
			off[k] += i * p.stride[k][d]
		}
	}
	for r := lo; r < hi; r++ {
		seg(r*p.inner, p.inner, off)
		for d := outer - 1; d >= 0; d-- {
			idx[d]++
			for k := 0; k < p.n; k++ {
				off[k] += p.stride[k][d]
			}
			if idx[d] < p.dims[d] {
				break
			}
			for k := 0; k < p.n; k++ {
				off[k] -= p.dims[d] * p.stride[k][d]
			}
			idx[d] = 0
		}
	}
}

// ewRunner runs a plan's segments, splitting big outputs across threads.
// Its closures are built once so that Eval does not allocate.
type ewRunner struct {
	plan ewPlan
	seg  ewSegment
	body func(lo, hi int)
}

func (r *ewRunner) init(p ewPlan, seg ewSegment) {
	r.plan = p
	r.seg = seg
	r.body = func(lo, hi int) { r.plan.visit(lo, hi, r.seg) }
}

func (r *ewRunner) run(ctx *Context) {
	u := r.plan.units()
	if ctx != nil && ctx.Threads > 1 && r.plan.total >= ewParallelMin && u > 1 {
		ctx.ParallelFor(u, r.body)
		return
	}
	r.body(0, u)
}

// ewRunBlocks runs body over the units of ewBlock elements that cover size
// elements, split across threads when the op is costly enough per element
// (heavy) and the tensor big enough.
func ewRunBlocks(ctx *Context, size int, heavy bool, body func(lo, hi int)) {
	units := (size + ewBlock - 1) / ewBlock
	if ctx != nil && ctx.Threads > 1 && size >= ewParallelMin && heavy {
		ctx.ParallelFor(units, body)
	} else {
		body(0, units)
	}
}

// ewBlocks runs a kernel with one input and one output of the same size
// in units of ewBlock elements.
type ewBlocks struct {
	in, out []byte // the data of the Eval in progress
	size    int    // elements
	span    func(s, e int)
	body    func(lo, hi int)
}

// setBlocks sets the element count and the function that computes
// elements [s, e) from in to out.
func (b *ewBlocks) setBlocks(size int, span func(s, e int)) {
	b.size, b.span = size, span
	b.body = b.units
}

// runBlocks computes n's output, on ctx's threads when heavy.
func (b *ewBlocks) runBlocks(ctx *Context, n *Node, heavy bool) {
	b.in, b.out = n.Inputs[0].Data, n.Outputs[0].Data
	ewRunBlocks(ctx, b.size, heavy, b.body)
}

// units computes work units [lo, hi).
func (b *ewBlocks) units(lo, hi int) {
	if s, e := lo*ewBlock, min(hi*ewBlock, b.size); s < e {
		b.span(s, e)
	}
}

// ewSetShape sets t's shape to a copy of s.
func ewSetShape(t *Tensor, s []int) {
	t.Shape = append(t.Shape[:0:0], s...)
}

// ewCheckIO checks the input and output counts of a node.
func ewCheckIO(n *Node, ins, outs int) error {
	for i := 0; i < ins; i++ {
		if n.Input(i) == nil {
			return errorf("want %d inputs, input %d is missing", ins, i)
		}
	}
	if len(n.Outputs) < outs || n.Outputs[0] == nil {
		return errorf("want %d outputs, got %d", outs, len(n.Outputs))
	}
	return nil
}

// ewCheckQuantized rejects a quantized-type tensor without a usable scale.
func ewCheckQuantized(name string, t *Tensor) error {
	if !t.Quantized() || t.Scale() <= 0 {
		return errorf("%s %s: %s tensor needs a positive quantization scale", name, t.Name, t.Type)
	}
	return nil
}
