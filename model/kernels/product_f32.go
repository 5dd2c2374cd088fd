package kernels

import (
	"fmt"

	"github.com/ood-agent/ood-agent/model"
)

// ProductF32 multiplies row-major float matrices by one fixed matrix:
// out = a·bᵀ, with a m×k, b n×k and out m×n. It is the float product
// behind FULLY_CONNECTED, offered to code outside the interpreter that
// multiplies large float matrices (retraining a last layer on the device).
// Every output is summed in k order, so the result does not depend on the
// level, nor on how callers split the rows between goroutines.
type ProductF32 struct {
	gemm *f32Gemm
}

// NewProductF32 packs b (n rows of k) for the given level (LevelAuto: the
// level in use). b is copied: the caller may change it afterwards.
func NewProductF32(level Level, b []float32, n, k int) (*ProductF32, error) {
	level, err := ResolveLevel(level)
	if err != nil {
		return nil, err
	}
	if n <= 0 || k <= 0 || len(b) < n*k {
		return nil, fmt.Errorf("float product: b has %d values, want n×k = %d×%d", len(b), n, k)
	}
	if !level.runs(familyFloat) {
		return &ProductF32{gemm: newF32Gemm(b, n, k, model.ActNone)}, nil
	}
	// Only the SIMD layout: Rows never runs the generic tiles then, and
	// their copy of b would double the memory (newF32GemmAt keeps both
	// for the interpreter's one-row products).
	lo, hi := ActivationRangeFloat(model.ActNone)
	g := &f32Gemm{k: k, n: n, zeroBias: make([]float32, n), lo: lo, hi: hi, wide: newF32Wide(b, n, k, lo, hi)}
	return &ProductF32{gemm: g}, nil
}

// ProductScratch is one goroutine's working memory for ProductF32.Rows.
type ProductScratch struct {
	panel, tmp []float32
}

// NewScratch returns working memory for one goroutine.
func (p *ProductF32) NewScratch() *ProductScratch {
	s := &ProductScratch{panel: p.gemm.newPanel()}
	if p.gemm.wide != nil {
		s.tmp = make([]float32, q8MR*p.gemm.wide.nb*f32WideNR)
	}
	return s
}

// Rows computes rows [lo, hi) of out (m×n) from a (m×k).
func (p *ProductF32) Rows(out, a []float32, lo, hi int, s *ProductScratch) {
	g := p.gemm
	n, k := g.n, g.k
	for m0 := lo; m0 < hi; m0 += q8MR {
		rows := min(q8MR, hi-m0)
		gemmPackRows(s.panel, a[m0*k:], k, rows)
		if g.wide != nil {
			g.wide.tile(g, s.panel, rows, out[m0*n:], n, s.tmp)
		} else {
			g.tile4(s.panel, rows, out[m0*n:], n, g.zeroBias)
		}
	}
}
