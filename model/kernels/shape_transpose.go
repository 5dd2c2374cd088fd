package kernels

// TRANSPOSE. Prepare drops unit dimensions and merges axes that stay
// adjacent, so NHWC<->NCHW and most other real permutations become a plain
// copy, a (batched) 2-D transpose, or a strided copy with contiguous rows.

const (
	transposeCopy    = iota // permutation is the identity after merging
	transposeRows           // innermost axis kept: strided copy of rows
	transpose2D             // batched 2-D transpose [B, R, C] -> [B, C, R]
	transposeGeneric        // element-wise strided copy
)

// transposeTile is the square block edge of the 2-D transpose; 16 elements
// keep a block of source rows and destination rows in L1 for every type.
const transposeTile = 16

// transposeParallelMin is the element count above which Eval splits work
// across threads.
const transposeParallelMin = 1 << 15

type transposeKernel struct {
	mode    int
	es      int
	plan    shapeStridedCopy
	b, r, c int // 2-D mode: batches, source rows, source columns
	units   int // ParallelFor range

	dst, src []byte
	run      func(lo, hi int)
}

// transposeSimplify drops unit input dimensions and merges runs of output
// axes that are consecutive in the input. It returns the merged input
// dimensions and the permutation over them.
func transposeSimplify(inDims, perm []int) (dims, p []int) {
	// Renumber the non-unit input axes.
	newIndex := make([]int, len(inDims))
	var kept []int
	for a, d := range inDims {
		newIndex[a] = -1
		if d != 1 {
			newIndex[a] = len(kept)
			kept = append(kept, d)
		}
	}
	var p1 []int
	for _, a := range perm {
		if newIndex[a] >= 0 {
			p1 = append(p1, newIndex[a])
		}
	}
	if len(p1) == 0 {
		return nil, nil
	}
	// Group output axes whose input axes are consecutive.
	type group struct{ first, last int }
	var groups []group
	for _, a := range p1 {
		if g := len(groups) - 1; g >= 0 && groups[g].last+1 == a {
			groups[g].last = a
			continue
		}
		groups = append(groups, group{a, a})
	}
	// Groups in input order give the merged input dimensions.
	order := make([]int, len(kept)) // input axis -> group index, for group starts
	for i := range order {
		order[i] = -1
	}
	for gi, g := range groups {
		order[g.first] = gi
	}
	rankOf := make([]int, len(groups))
	for a := range kept {
		if gi := order[a]; gi >= 0 {
			g := groups[gi]
			rankOf[gi] = len(dims)
			dims = append(dims, shapeProd(kept, g.first, g.last+1))
		}
	}
	p = make([]int, len(groups))
	for gi := range groups {
		p[gi] = rankOf[gi]
	}
	return dims, p
}

func (k *transposeKernel) Prepare(ctx *Context, n *Node) error {
	in, out, err := shapeMoveIO(n, 2)
	if err != nil {
		return err
	}
	permT := n.Inputs[1]
	perm, err := shapeConstInts(permT, "perm")
	if err != nil {
		return err
	}
	rank := len(in.Shape)
	if len(perm) != rank {
		return errorf("perm %v has %d entries, input rank is %d", perm, len(perm), rank)
	}
	seen := make([]bool, rank)
	for i, a := range perm {
		if a < 0 {
			a += rank
		}
		if a < 0 || a >= rank || seen[a] {
			return errorf("perm %v is not a permutation of %d axes", perm, rank)
		}
		seen[a] = true
		perm[i] = a
	}
	shape := make([]int, rank)
	for i, a := range perm {
		shape[i] = in.Shape[a]
	}
	out.Shape = shape
	k.es = in.Type.Size()

	dims, p := transposeSimplify(in.Shape, perm)
	r := len(dims)
	identity := true
	for i, a := range p {
		identity = identity && i == a
	}
	switch {
	case in.NumElements() == 0 || identity:
		k.mode = transposeCopy
	case r == 2 || (r == 3 && p[0] == 0 && p[1] == 2 && p[2] == 1):
		k.mode = transpose2D
		k.b, k.r, k.c = 1, dims[r-2], dims[r-1]
		if r == 3 {
			k.b = dims[0]
		}
		k.units = k.b * k.c
	default:
		strides := make([]int, r)
		shapeStrides(dims, strides)
		od := make([]int, r)
		os := make([]int, r)
		for i, a := range p {
			od[i] = dims[a]
			os[i] = strides[a]
		}
		k.plan.set(od, os, 0)
		k.units = k.plan.dims[0]
		k.mode = transposeGeneric
		if p[r-1] == r-1 {
			k.mode = transposeRows
		}
	}
	k.run = k.runRange
	return nil
}

func (k *transposeKernel) Eval(ctx *Context, n *Node) error {
	k.dst, k.src = n.Outputs[0].Data, n.Inputs[0].Data
	if k.mode == transposeCopy {
		copy(k.dst, k.src)
		return nil
	}
	if len(k.src)/k.es >= transposeParallelMin {
		ctx.ParallelFor(k.units, k.run)
	} else {
		k.run(0, k.units)
	}
	k.dst, k.src = nil, nil
	return nil
}

func (k *transposeKernel) runRange(lo, hi int) {
	if k.mode != transpose2D {
		k.plan.runRange(k.dst, k.src, k.es, lo, hi)
		return
	}
	switch k.es {
	case 1:
		transposeBatched(shapeView[uint8](k.dst), shapeView[uint8](k.src), k.r, k.c, lo, hi)
	case 2:
		transposeBatched(shapeView[uint16](k.dst), shapeView[uint16](k.src), k.r, k.c, lo, hi)
	case 4:
		transposeBatched(shapeView[uint32](k.dst), shapeView[uint32](k.src), k.r, k.c, lo, hi)
	case 8:
		transposeBatched(shapeView[uint64](k.dst), shapeView[uint64](k.src), k.r, k.c, lo, hi)
	}
}

// transposeBatched writes destination rows [lo, hi) of a batch of r×c
// matrices transposed to c×r; destination row u is column u%c of batch u/c.
func transposeBatched[T any](dst, src []T, r, c, lo, hi int) {
	for lo < hi {
		b := lo / c
		j0 := lo % c
		j1 := min(c, j0+(hi-lo))
		transpose2DBlock(dst[b*r*c:(b+1)*r*c], src[b*r*c:(b+1)*r*c], r, c, j0, j1)
		lo += j1 - j0
	}
}

// transpose2DBlock writes rows [j0, j1) of the transpose of the r×c matrix
// src into dst, in square tiles.
func transpose2DBlock[T any](dst, src []T, r, c, j0, j1 int) {
	for jt := j0; jt < j1; jt += transposeTile {
		je := min(jt+transposeTile, j1)
		for it := 0; it < r; it += transposeTile {
			ie := min(it+transposeTile, r)
			for j := jt; j < je; j++ {
				d := dst[j*r+it : j*r+ie]
				s := it*c + j
				for i := range d {
					d[i] = src[s]
					s += c
				}
			}
		}
	}
}
