package kernels

import "math"

// Float BATCH_MATMUL on the SIMD float matrix product (gemm_f32_wide.go):
// each right-hand matrix is packed into blocks of f32WideNR columns laid
// out [k][f32WideNR] (once in Prepare when constant), left-hand rows four
// at a time into a panel. The tile sums every output from zero in k order
// as floatBlocks does; adding the zero bias then changes nothing (a sum
// started at +0 is never −0), so the bytes are the generic kernel's.

type matmulWide struct {
	gemm    f32Gemm // k and n, for f32Wide.tile
	nb      int     // column blocks per right-hand matrix
	packed  []float32
	biasPad []float32 // zeros
	panels  [][]float32
	tmps    [][]float32
}

func newMatmulWide(threads, rhsCount, k, n int) *matmulWide {
	w := &matmulWide{gemm: f32Gemm{k: k, n: n}, nb: (n + f32WideNR - 1) / f32WideNR}
	w.packed = make([]float32, rhsCount*w.nb*k*f32WideNR)
	w.biasPad = make([]float32, w.nb*f32WideNR)
	for range max(threads, 1) {
		w.panels = append(w.panels, make([]float32, k*q8MR+q8MR))
		w.tmps = append(w.tmps, make([]float32, q8MR*w.nb*f32WideNR))
	}
	return w
}

// pack lays out count k×n row-major matrices of b in column blocks.
func (w *matmulWide) pack(b []float32, count int) {
	k, n := w.gemm.k, w.gemm.n
	for mtx := range count {
		src := b[mtx*k*n : (mtx+1)*k*n]
		dst := w.packed[mtx*w.nb*k*f32WideNR:]
		for blk := range w.nb {
			c0 := blk * f32WideNR
			cols := min(f32WideNR, n-c0)
			for kk := range k {
				d := dst[(blk*k+kk)*f32WideNR : (blk*k+kk+1)*f32WideNR]
				copy(d, src[kk*n+c0:kk*n+c0+cols])
				clear(d[cols:])
			}
		}
	}
}

// rows computes row blocks [lo, hi) of all output matrices with
// participant p's scratch.
func (w *matmulWide) rows(k *batchMatMulKernel, p, lo, hi int) {
	m, kk, nn := k.m, k.k, k.n
	panel, tmp := w.panels[p], w.tmps[p]
	blockLen := w.nb * kk * f32WideNR
	inf := float32(math.Inf(1))
	for u := lo; u < hi; u++ {
		bo, i0, i1, lhs, _ := k.block(u)
		gemmPackRows(panel, k.a[lhs+i0*kk:], kk, i1-i0)
		x := f32Wide{nb: w.nb, w: w.packed[k.rhsIdx[bo]*blockLen:][:blockLen], lohi: [2]float32{-inf, inf}, biasPad: w.biasPad}
		x.tile(&w.gemm, panel, i1-i0, k.c[bo*m*nn+i0*nn:], nn, tmp)
	}
}
