package kernels

import (
	"unsafe"

	"github.com/ood-agent/ood-agent/model"
)

// The float matrix product behind float CONV_2D and FULLY_CONNECTED:
// out[m][n] = clamp(Σ_k a[m][k]·w[n][k] + bias[n]). Weights are packed in
// panels of four channels laid out [k][4]; activations arrive packed four
// rows at a time, [k][4], so a 4×4 register tile does 16 multiply-adds per
// eight loads.

const f32NR = 4 // channels per weight panel

type f32Gemm struct {
	k, n     int
	panels   int
	w        []float32 // panels [k][4], then one spare step
	lo, hi   float32
	zeroBias []float32
	wide     *f32Wide // the SIMD layout (levels above generic), or nil
}

func newF32Gemm(w []float32, n, k int, act model.Activation) *f32Gemm {
	g := &f32Gemm{k: k, n: n, panels: (n + f32NR - 1) / f32NR, zeroBias: make([]float32, n)}
	g.lo, g.hi = ActivationRangeFloat(act)
	g.w = make([]float32, g.panels*k*f32NR+f32NR)
	for p := 0; p < g.panels; p++ {
		for kk := 0; kk < k; kk++ {
			for j := 0; j < f32NR; j++ {
				if c := p*f32NR + j; c < n {
					g.w[(p*k+kk)*f32NR+j] = w[c*k+kk]
				}
			}
		}
	}
	return g
}

// newF32GemmAt is newF32Gemm plus the SIMD layout where level has one and
// the product has more than one row (m): a single row runs faster on the
// generic one-row kernel than on four-row tiles.
func newF32GemmAt(level Level, w []float32, m, n, k int, act model.Activation) *f32Gemm {
	g := newF32Gemm(w, n, k, act)
	if level.runs(familyFloat) && m > 1 {
		g.wide = newF32Wide(w, n, k, g.lo, g.hi)
	}
	return g
}

// newPanel returns scratch for one packed four-row panel.
func (g *f32Gemm) newPanel() []float32 { return make([]float32, g.k*q8MR+q8MR) }

// tile4 computes up to four rows from a panel packed [k][4] into out, rows
// outStride elements apart.
func (g *f32Gemm) tile4(panel []float32, rows int, out []float32, outStride int, bias []float32) {
	k := g.k
	_ = panel[k*q8MR-1]
	pa := unsafe.Pointer(unsafe.SliceData(panel))
	var acc [q8MR][f32NR]float32
	for p := 0; p < g.panels; p++ {
		w := g.w[p*k*f32NR : (p+1)*k*f32NR]
		pw := unsafe.Pointer(unsafe.SliceData(w))
		acc[0][0], acc[0][1], acc[1][0], acc[1][1] = f32Kernel2x2(pa, pw, k)
		acc[0][2], acc[0][3], acc[1][2], acc[1][3] = f32Kernel2x2(pa, unsafe.Add(pw, 8), k)
		if rows > 2 {
			pb := unsafe.Add(pa, 8)
			acc[2][0], acc[2][1], acc[3][0], acc[3][1] = f32Kernel2x2(pb, pw, k)
			acc[2][2], acc[2][3], acc[3][2], acc[3][3] = f32Kernel2x2(pb, unsafe.Add(pw, 8), k)
		}
		ch0 := p * f32NR
		cnt := min(f32NR, g.n-ch0)
		b := bias[ch0 : ch0+cnt]
		for r := 0; r < rows; r++ {
			o := out[r*outStride+ch0 : r*outStride+ch0+cnt]
			a := acc[r][:cnt]
			for j := range o {
				o[j] = min(max(a[j]+b[j], g.lo), g.hi)
			}
		}
	}
}

// row1 computes one row of k activations into out.
func (g *f32Gemm) row1(a []float32, out []float32, bias []float32) {
	k := g.k
	_ = a[k-1]
	pa := unsafe.Pointer(unsafe.SliceData(a))
	for p := 0; p < g.panels; p++ {
		w := g.w[p*k*f32NR : (p+1)*k*f32NR]
		acc := f32Kernel1x4(pa, unsafe.Pointer(unsafe.SliceData(w)), k)
		ch0 := p * f32NR
		cnt := min(f32NR, g.n-ch0)
		b := bias[ch0 : ch0+cnt]
		o := out[ch0 : ch0+cnt]
		for j := range o {
			o[j] = min(max(acc[j]+b[j], g.lo), g.hi)
		}
	}
}

// f32Kernel2x2 accumulates k steps of two rows of a [k][4] activation
// panel (pa points at the first) times two channels of a [k][4] weight
// panel (pw points at the first). Four such quarters make a 4×4 tile: Go
// keeps 15 float registers, and larger tiles spill a sum to the stack,
// which halves their speed. Like the 8-bit kernels it addresses memory by
// unsafe offsets; callers guarantee k steps of both.
//
//go:noinline
func f32Kernel2x2(pa, pw unsafe.Pointer, k int) (c00, c01, c10, c11 float32) {
	for i := 0; i < k; i++ {
		b0 := *(*float32)(unsafe.Add(pw, 16*i))
		b1 := *(*float32)(unsafe.Add(pw, 16*i+4))
		a0 := *(*float32)(unsafe.Add(pa, 16*i))
		a1 := *(*float32)(unsafe.Add(pa, 16*i+4))
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
	}
	return
}

//go:noinline
func f32Kernel1x4(pa, pw unsafe.Pointer, k int) (acc [f32NR]float32) {
	var c0, c1, c2, c3 float32
	for i := 0; i < k; i++ {
		a := *(*float32)(unsafe.Add(pa, 4*i))
		c0 += a * *(*float32)(unsafe.Add(pw, 16*i))
		c1 += a * *(*float32)(unsafe.Add(pw, 16*i+4))
		c2 += a * *(*float32)(unsafe.Add(pw, 16*i+8))
		c3 += a * *(*float32)(unsafe.Add(pw, 16*i+12))
	}
	return [f32NR]float32{c0, c1, c2, c3}
}

// forRun returns a copy of g for one interpreter: weights shared, the
// padded bias (rewritten at Eval) its own.
func (g *f32Gemm) forRun() *f32Gemm {
	c := *g
	if g.wide != nil {
		w := *g.wide
		w.biasPad = make([]float32, len(g.wide.biasPad))
		c.wide = &w
	}
	return &c
}
