package kernels

import "github.com/ood-agent/ood-agent/model"

// BATCH_MATMUL: out[b] = op(x[b]) · op(y[b]) with op the optional adjoint
// (transpose) and the leading batch dimensions broadcast NumPy-style.
//
// The float kernel wants x as [M,K] and y as [K,N] row-major: transposed
// operands are packed into scratch (once in Prepare when constant), and
// output rows accumulate four at a time so each row of y is loaded once per
// four rows. The integer kernels want x as [M,K] and y as [N,K] so every
// output is a dot product of two contiguous rows, offset by the zero
// points, accumulated in int32 (int8) or int64 (int16) and requantized as
// reference/batch_matmul.h does.

// matmulRowBlock is the number of output rows computed together.
const matmulRowBlock = 4

type batchMatMulKernel struct {
	typ        model.TensorType
	adjX, adjY bool
	m, k, n    int
	lhsIdx     []int // per output batch: lhs matrix index
	rhsIdx     []int // per output batch: rhs matrix index
	lhsCount   int
	rhsCount   int

	// Float: packed operands (nil when used in place).
	packA, packB   []float32
	constA, constB bool // packed once in Prepare
	// wide is the SIMD float path (levels above generic), or nil;
	// wideRows runs its rows (made once: a closure made at Eval would
	// allocate).
	wide     *matmulWide
	wideRows func(p, lo, hi int)

	// Integer: operands with zero points removed.
	ia, ib           []int32
	za, zb           int32
	outZP            int32
	mult             int32
	shift            int
	qlo, qhi         int32
	constIA, constIB bool

	a, b   []float32 // float operands in [M,K] and [K,N] layouts
	c      []float32
	o8     []int8
	o16    []int16
	blocks int // row blocks per matrix
	run    func(lo, hi int)
}

// matmulBroadcast right-aligns the batch dimensions of x and y and returns
// the output batch shape with, per output batch, the source matrix indices.
func matmulBroadcast(x, y []int) (shape, xi, yi []int, err error) {
	r := max(len(x), len(y))
	shape = make([]int, r)
	get := func(d []int, i int) int {
		if j := i - (r - len(d)); j >= 0 {
			return d[j]
		}
		return 1
	}
	for i := 0; i < r; i++ {
		a, b := get(x, i), get(y, i)
		switch {
		case a == b || b == 1:
			shape[i] = a
		case a == 1:
			shape[i] = b
		default:
			return nil, nil, nil, errorf("batch dimensions %v and %v do not broadcast", x, y)
		}
	}
	total := shapeProd(shape, 0, r)
	xi, yi = make([]int, total), make([]int, total)
	idx := make([]int, r)
	for o := 0; o < total; o++ {
		xo, yo := 0, 0
		for i := 0; i < r; i++ {
			if d := get(x, i); i >= r-len(x) {
				xo = xo*d + min(idx[i], d-1)
			}
			if d := get(y, i); i >= r-len(y) {
				yo = yo*d + min(idx[i], d-1)
			}
		}
		xi[o], yi[o] = xo, yo
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return shape, xi, yi, nil
}

func (k *batchMatMulKernel) Prepare(ctx *Context, n *Node) error {
	if err := shapeInputs(n, 2, 2); err != nil {
		return err
	}
	lhs, rhs, out := n.Inputs[0], n.Inputs[1], n.Outputs[0]
	if len(lhs.Shape) < 2 || len(rhs.Shape) < 2 {
		return errorf("operands %v and %v: want rank 2 or more", lhs, rhs)
	}
	if o, ok := n.Options.(*model.BatchMatMulOptions); ok && o != nil {
		k.adjX, k.adjY = o.AdjX, o.AdjY
	}
	lr, rr := len(lhs.Shape), len(rhs.Shape)
	m, kx := lhs.Shape[lr-2], lhs.Shape[lr-1]
	if k.adjX {
		m, kx = kx, m
	}
	ky, nn := rhs.Shape[rr-2], rhs.Shape[rr-1]
	if k.adjY {
		ky, nn = nn, ky
	}
	if kx != ky {
		return errorf("inner dimensions differ: %v (adj_x=%t) and %v (adj_y=%t)", lhs.Shape, k.adjX, rhs.Shape, k.adjY)
	}
	k.m, k.k, k.n = m, kx, nn
	batch, xi, yi, err := matmulBroadcast(lhs.Shape[:lr-2], rhs.Shape[:rr-2])
	if err != nil {
		return err
	}
	k.lhsIdx, k.rhsIdx = xi, yi
	k.lhsCount = shapeProd(lhs.Shape, 0, lr-2)
	k.rhsCount = shapeProd(rhs.Shape, 0, rr-2)
	out.Shape = append(batch, m, nn)
	k.typ = lhs.Type
	if rhs.Type != lhs.Type || out.Type != lhs.Type {
		return unsupportedf("BATCH_MATMUL of %s x %s -> %s", lhs.Type, rhs.Type, out.Type)
	}
	k.blocks = (m + matmulRowBlock - 1) / matmulRowBlock
	switch lhs.Type {
	case model.Float32:
		if k.adjX {
			k.packA = make([]float32, k.lhsCount*m*kx)
			if lhs.Const {
				matmulPackT(k.packA, lhs.F32(), k.lhsCount, kx, m)
				k.constA = true
			}
		}
		if k.adjY {
			k.packB = make([]float32, k.rhsCount*kx*nn)
			if rhs.Const {
				matmulPackT(k.packB, rhs.F32(), k.rhsCount, nn, kx)
				k.constB = true
			}
		}
		k.run = k.floatBlocks
		if ctx.level().runs(familyFloat) {
			threads := 1
			if ctx != nil {
				threads = max(ctx.Threads, 1)
			}
			k.wide = newMatmulWide(threads, k.rhsCount, kx, nn)
			k.wideRows = func(p, lo, hi int) { k.wide.rows(k, p, lo, hi) }
			if rhs.Const {
				b := rhs.F32()
				if k.adjY {
					b = k.packB
				}
				k.wide.pack(b, k.rhsCount)
			}
		}
	case model.Int8, model.Int16:
		if !lhs.Quantized() || !rhs.Quantized() || !out.Quantized() {
			return errorf("quantized BATCH_MATMUL needs scales on all tensors")
		}
		if len(rhs.Quant.Scale) > 1 {
			return unsupportedf("per-channel BATCH_MATMUL")
		}
		k.za, k.zb, k.outZP = lhs.ZeroPoint(), rhs.ZeroPoint(), out.ZeroPoint()
		if lhs.Type == model.Int16 && (k.za != 0 || k.zb != 0 || k.outZP != 0) {
			return errorf("int16 BATCH_MATMUL needs zero points of 0")
		}
		k.mult, k.shift = QuantizeMultiplier(lhs.Scale() * rhs.Scale() / out.Scale())
		k.qlo, k.qhi = QuantRange(out.Type)
		k.ia = make([]int32, k.lhsCount*m*kx)
		k.ib = make([]int32, k.rhsCount*nn*kx)
		if lhs.Const {
			k.packIntA(lhs)
			k.constIA = true
		}
		if rhs.Const {
			k.packIntB(rhs)
			k.constIB = true
		}
		k.run = k.intBlocks
	default:
		return unsupportedf("BATCH_MATMUL of %s", lhs.Type)
	}
	return nil
}

// matmulPackT transposes count r×c matrices of src into c×r matrices of dst.
func matmulPackT(dst, src []float32, count, r, c int) {
	for b := 0; b < count; b++ {
		transpose2DBlock(dst[b*r*c:(b+1)*r*c], src[b*r*c:(b+1)*r*c], r, c, 0, c)
	}
}

// packIntA writes the lhs as [M,K] matrices minus its zero point.
func (k *batchMatMulKernel) packIntA(t *Tensor) {
	matmulPackInt(k.ia, t, k.lhsCount, k.m, k.k, k.adjX, k.za)
}

// packIntB writes the rhs as [N,K] matrices minus its zero point.
func (k *batchMatMulKernel) packIntB(t *Tensor) {
	matmulPackInt(k.ib, t, k.rhsCount, k.n, k.k, !k.adjY, k.zb)
}

// matmulPackInt writes count rows×kk matrices of t minus zp to dst, each
// laid out [rows][kk]; t holds them the same way, or as [kk][rows] when
// transposed.
func matmulPackInt(dst []int32, t *Tensor, count, rows, kk int, transposed bool, zp int32) {
	size := rows * kk
	for b := 0; b < count; b++ {
		d := dst[b*size : (b+1)*size]
		for i := 0; i < rows; i++ {
			for p := 0; p < kk; p++ {
				src := b*size + i*kk + p
				if transposed {
					src = b*size + p*rows + i
				}
				d[i*kk+p] = matmulIntAt(t, src) - zp
			}
		}
	}
}

func matmulIntAt(t *Tensor, i int) int32 {
	if t.Type == model.Int16 {
		return int32(t.I16()[i])
	}
	return int32(t.I8()[i])
}

func (k *batchMatMulKernel) Eval(ctx *Context, n *Node) error {
	lhs, rhs, out := n.Inputs[0], n.Inputs[1], n.Outputs[0]
	units := len(k.lhsIdx) * k.blocks
	if k.typ == model.Float32 {
		k.a, k.b, k.c = lhs.F32(), rhs.F32(), out.F32()
		if k.packA != nil {
			if !k.constA {
				matmulPackT(k.packA, k.a, k.lhsCount, k.k, k.m)
			}
			k.a = k.packA
		}
		if k.packB != nil {
			if !k.constB {
				matmulPackT(k.packB, k.b, k.rhsCount, k.n, k.k)
			}
			k.b = k.packB
		}
	} else {
		if !k.constIA {
			k.packIntA(lhs)
		}
		if !k.constIB {
			k.packIntB(rhs)
		}
		k.o8, k.o16 = out.I8(), out.I16()
	}
	parallel := units > 1 && len(k.lhsIdx)*k.m*k.n*k.k >= 1<<16
	switch {
	case k.wide != nil:
		if !rhs.Const {
			k.wide.pack(k.b, k.rhsCount)
		}
		threads := 1
		if parallel {
			threads = len(k.wide.panels)
		}
		ctx.ParallelParts(threads, units, (units+4*threads-1)/(4*threads), k.wideRows)
	case parallel:
		ctx.ParallelFor(units, k.run)
	default:
		k.run(0, units)
	}
	k.a, k.b, k.c, k.o8, k.o16 = nil, nil, nil, nil, nil
	return nil
}

// block returns work unit u's output matrix, its rows [i0, i1), and where
// its left and right operands start (both hold m·k and k·n values).
func (k *batchMatMulKernel) block(u int) (bo, i0, i1, lhs, rhs int) {
	bo, blk := u/k.blocks, u%k.blocks
	i0 = blk * matmulRowBlock
	return bo, i0, min(i0+matmulRowBlock, k.m), k.lhsIdx[bo] * k.m * k.k, k.rhsIdx[bo] * k.k * k.n
}

// floatBlocks computes row blocks [lo, hi) over all output matrices.
func (k *batchMatMulKernel) floatBlocks(lo, hi int) {
	m, kk, nn := k.m, k.k, k.n
	for u := lo; u < hi; u++ {
		bo, i0, i1, lhs, rhs := k.block(u)
		a, b := k.a[lhs:][:m*kk], k.b[rhs:][:kk*nn]
		c := k.c[bo*m*nn:][:m*nn]
		clear(c[i0*nn : i1*nn])
		if i1-i0 == matmulRowBlock {
			matmulRows4(c[i0*nn:i1*nn], a[i0*kk:i1*kk], b, kk, nn)
			continue
		}
		for i := i0; i < i1; i++ {
			ci := c[i*nn : (i+1)*nn]
			for p, av := range a[i*kk : (i+1)*kk] {
				bp := b[p*nn : (p+1)*nn]
				for j, bv := range bp {
					ci[j] += av * bv
				}
			}
		}
	}
}

// matmulRows4 accumulates four output rows c (4×n) += a (4×k) · b (k×n).
func matmulRows4(c, a, b []float32, k, n int) {
	c0, c1, c2, c3 := c[:n], c[n:2*n], c[2*n:3*n], c[3*n:4*n]
	for p := 0; p < k; p++ {
		a0, a1, a2, a3 := a[p], a[k+p], a[2*k+p], a[3*k+p]
		bp := b[p*n : (p+1)*n]
		c0, c1, c2, c3 := c0[:len(bp)], c1[:len(bp)], c2[:len(bp)], c3[:len(bp)]
		for j, bv := range bp {
			c0[j] += a0 * bv
			c1[j] += a1 * bv
			c2[j] += a2 * bv
			c3[j] += a3 * bv
		}
	}
}

// intBlocks computes row blocks [lo, hi) of a quantized product.
func (k *batchMatMulKernel) intBlocks(lo, hi int) {
	m, kk, nn := k.m, k.k, k.n
	for u := lo; u < hi; u++ {
		bo, i0, i1, lhs, rhs := k.block(u)
		a, b := k.ia[lhs:][:m*kk], k.ib[rhs:][:nn*kk] // b transposed: n rows of k
		for i := i0; i < i1; i++ {
			ai := a[i*kk : (i+1)*kk]
			o := bo*m*nn + i*nn
			for j := 0; j < nn; j++ {
				bj := b[j*kk : (j+1)*kk]
				bj = bj[:len(ai)]
				var v int32
				if k.typ == model.Int16 {
					var acc int64
					for p, x := range ai {
						acc += int64(x) * int64(bj[p])
					}
					v = MultiplyByQuantizedMultiplier64(acc, k.mult, k.shift)
					v = Clamp32(v, k.qlo, k.qhi)
					k.o16[o+j] = int16(v)
					continue
				}
				var acc int32
				for p, x := range ai {
					acc += x * bj[p]
				}
				v = MultiplyByQuantizedMultiplier(acc, k.mult, k.shift) + k.outZP
				k.o8[o+j] = int8(Clamp32(v, k.qlo, k.qhi))
			}
		}
	}
}
