package kernels

// The SIMD float matrix product (AVX2, NEON): weights in blocks of
// f32WideNR channels laid out [k][f32WideNR], activations in the generic
// kernel's [k][4] panels. The kernel keeps the generic summation order, so
// its results are bit for bit the generic kernel's.

const f32WideNR = 16

type f32Wide struct {
	nb      int
	w       []float32
	lohi    [2]float32
	biasPad []float32 // the bias, padded to whole blocks (refreshed at Eval)
}

func newF32Wide(w []float32, n, k int, lo, hi float32) *f32Wide {
	x := &f32Wide{nb: (n + f32WideNR - 1) / f32WideNR, lohi: [2]float32{lo, hi}}
	x.w = make([]float32, x.nb*k*f32WideNR)
	x.biasPad = make([]float32, x.nb*f32WideNR)
	for c := 0; c < n; c++ {
		blk, j := c/f32WideNR, c%f32WideNR
		for kk, v := range w[c*k : c*k+k] {
			x.w[(blk*k+kk)*f32WideNR+j] = v
		}
	}
	return x
}

// tile computes rows rows (at most four) of a packed panel into out, rows
// outStride apart, through tmp (4·nb·f32WideNR values) where a block is
// partial.
func (x *f32Wide) tile(g *f32Gemm, panel []float32, rows int, out []float32, outStride int, tmp []float32) {
	const nr = f32WideNR
	k := g.k
	full := g.n / nr
	if rows == q8MR && full > 0 {
		f32WideTile(panel, x.w, k, full, x.biasPad, &x.lohi, out, outStride)
	} else {
		full = 0
	}
	if full == x.nb {
		return
	}
	width := (x.nb - full) * nr
	f32WideTile(panel, x.w[full*k*nr:], k, x.nb-full, x.biasPad[full*nr:], &x.lohi, tmp, width)
	for r := 0; r < rows; r++ {
		copy(out[r*outStride+full*nr:r*outStride+g.n], tmp[r*width:])
	}
}
