package adapt

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/ood-agent/ood-agent/model/kernels"
	"github.com/ood-agent/ood-agent/model/ood"
)

// problem is the training objective:
//
//	mean CE(ID) + λ·(mean max(0, E(x_in) − MIn)² + mean max(0, MOut − E(x_out))²)
//	+ L2/2·‖W − W₀‖²
//
// with E the free energy at T = 1. The hinge is Liu et al.'s; the L2 term
// keeps the layer near the one the backbone was trained with, since a few
// hundred field samples cannot pin down all of it.
type problem struct {
	orig      *ood.Head
	lambda    float64
	l2        float64
	mIn, mOut float64

	// The samples are the columns of the products: the distinct ID
	// samples first (split repeats samples to balance the classes; each
	// is computed once and weighs as often as it was repeated), then the
	// outliers.
	n, nID  int
	labels  []int     // class of each ID column
	weights []float32 // per column: its count / number of samples of its kind

	fwd, bwd   *kernels.ProductF32          // b = F (n×dim): logitsᵀ = W·Fᵀ; b = Fᵀ: ∇W = dLᵀ·F
	pool       *kernels.Context             // its workers run the chunks
	scratch    [][2]*kernels.ProductScratch // per participant
	logits, dL []float32                    // classes×n: logits, then ∂loss/∂logit
	colLoss    []float64                    // loss per column chunk
	rowLoss    []float64                    // L2 loss per row chunk
}

// Chunks of work: rows (classes) in multiples of the product's four-row
// tiles, columns (samples) in runs long enough to stream. The chunking is
// fixed, whatever the number of cores, so that the sums — and the trained
// layer — are the same on every machine.
const (
	rowChunk = 16
	colChunk = 64
)

func newProblem(orig *ood.Head, train []Sample, outliers [][]float32, opts Options, mIn, mOut float64) (*problem, error) {
	p := &problem{orig: orig, lambda: opts.Lambda, l2: opts.L2, mIn: mIn, mOut: mOut}
	var cols [][]float32
	index := make(map[*float32]int)
	for _, s := range train {
		key := unsafe.SliceData(s.Features)
		if i, ok := index[key]; ok {
			p.weights[i]++
			continue
		}
		index[key] = len(cols)
		cols = append(cols, s.Features)
		p.labels = append(p.labels, s.Label)
		p.weights = append(p.weights, 1)
	}
	p.nID = len(cols)
	for i := range p.weights {
		p.weights[i] /= float32(len(train))
	}
	for _, f := range outliers {
		cols = append(cols, f)
		p.weights = append(p.weights, 1/float32(len(outliers)))
	}
	p.n = len(cols)
	dim := orig.Dim
	f := make([]float32, p.n*dim)
	ft := make([]float32, dim*p.n)
	for j, c := range cols {
		copy(f[j*dim:], c)
		for d, v := range c {
			ft[d*p.n+j] = v
		}
	}
	var err error
	if p.fwd, err = kernels.NewProductF32(kernels.LevelAuto, f, p.n, dim); err != nil {
		return nil, fmt.Errorf("adapt: %w", err)
	}
	if p.bwd, err = kernels.NewProductF32(kernels.LevelAuto, ft, dim, p.n); err != nil {
		return nil, fmt.Errorf("adapt: %w", err)
	}
	p.pool = kernels.NewContext(opts.Threads)
	p.scratch = make([][2]*kernels.ProductScratch, p.pool.Threads)
	for i := range p.scratch {
		p.scratch[i] = [2]*kernels.ProductScratch{p.fwd.NewScratch(), p.bwd.NewScratch()}
	}
	p.logits = make([]float32, orig.Classes*p.n)
	p.dL = make([]float32, orig.Classes*p.n)
	p.colLoss = make([]float64, chunks(p.n, colChunk))
	p.rowLoss = make([]float64, chunks(orig.Classes, rowChunk))
	return p, nil
}

func chunks(n, size int) int { return (n + size - 1) / size }

// parallel runs f on chunks [0, count) on the interpreter's worker pool,
// passing each call its participant's number (which scratch to use).
func (p *problem) parallel(count int, f func(worker, chunk int)) {
	p.pool.ParallelParts(len(p.scratch), count, 1, func(w, lo, hi int) {
		for c := lo; c < hi; c++ {
			f(w, c)
		}
	})
}

// close stops the pool's workers.
func (p *problem) close() { p.pool.Close() }

// lossGrad returns the loss at h and writes its gradient into g (a head of
// the same shape).
func (p *problem) lossGrad(h, g *ood.Head) float64 {
	classes, n := h.Classes, p.n
	rows := chunks(classes, rowChunk)
	p.parallel(rows, func(w, c int) {
		lo, hi := c*rowChunk, min(classes, (c+1)*rowChunk)
		p.fwd.Rows(p.logits, h.W, lo, hi, p.scratch[w][0])
		for r := lo; r < hi; r++ {
			l := p.logits[r*n : (r+1)*n]
			for j := range l {
				l[j] += h.B[r]
			}
		}
	})
	p.parallel(len(p.colLoss), func(_, c int) {
		p.colLoss[c] = p.columns(c*colChunk, min(n, (c+1)*colChunk), classes)
	})
	p.parallel(rows, func(w, c int) {
		lo, hi := c*rowChunk, min(classes, (c+1)*rowChunk)
		p.bwd.Rows(g.W, p.dL, lo, hi, p.scratch[w][1])
		var loss float64
		for r := lo; r < hi; r++ {
			var b float32
			for _, d := range p.dL[r*n : (r+1)*n] {
				b += d
			}
			g.B[r] = b
			dim := h.Dim
			for i := r * dim; i < (r+1)*dim; i++ {
				d := float64(h.W[i] - p.orig.W[i])
				loss += p.l2 / 2 * d * d
				g.W[i] += float32(p.l2 * d)
			}
		}
		p.rowLoss[c] = loss
	})
	var loss float64
	for _, l := range p.colLoss {
		loss += l
	}
	for _, l := range p.rowLoss {
		loss += l
	}
	return loss
}

// columns turns the logits of samples [lo, hi) into their loss and
// ∂loss/∂logit:
//
//	ID:      CE = lse − logit[label], hinge λ·max(0, E − MIn)²
//	outlier: hinge λ·max(0, MOut − E)²
//
// with E = −lse and ∂E/∂logit = −softmax. It walks the classes in the
// outer loop, so that every pass reads rows of the class-major matrices.
func (p *problem) columns(lo, hi, classes int) float64 {
	n := p.n
	var mx, sum [colChunk]float64
	for j := range hi - lo {
		mx[j] = math.Inf(-1)
	}
	for c := range classes {
		for j, v := range p.logits[c*n+lo : c*n+hi] {
			mx[j] = max(mx[j], float64(v))
		}
	}
	for c := range classes {
		row := p.logits[c*n+lo : c*n+hi]
		e := p.dL[c*n+lo : c*n+hi]
		for j, v := range row {
			x := math.Exp(float64(v) - mx[j])
			sum[j] += x
			e[j] = float32(x)
		}
	}
	// scale[j] turns exp(logit − max) into the column's ∂loss/∂logit.
	var scale [colChunk]float32
	var loss float64
	for j := range hi - lo {
		col := lo + j
		lse := mx[j] + math.Log(sum[j])
		w := float64(p.weights[col])
		if col < p.nID {
			label := p.labels[col]
			loss += w * (lse - float64(p.logits[label*n+col]))
			coef := 1.0
			if hinge := -lse - p.mIn; hinge > 0 && p.lambda > 0 {
				loss += w * p.lambda * hinge * hinge
				coef -= 2 * p.lambda * hinge
			}
			scale[j] = float32(w * coef / sum[j])
			continue
		}
		if hinge := p.mOut + lse; hinge > 0 && p.lambda > 0 {
			loss += w * p.lambda * hinge * hinge
			scale[j] = float32(w * 2 * p.lambda * hinge / sum[j])
		}
	}
	for c := range classes {
		e := p.dL[c*n+lo : c*n+hi]
		for j := range e {
			e[j] *= scale[j]
		}
	}
	for j := 0; j < min(hi, p.nID)-lo; j++ {
		col := lo + j
		p.dL[p.labels[col]*n+col] -= p.weights[col]
	}
	return loss
}

// adam is Adam over the concatenation of W and B.
type adam struct {
	m, v []float64
	t    int
	lr   float64
}

func newAdam(n int, lr float64) *adam {
	return &adam{m: make([]float64, n), v: make([]float64, n), lr: lr}
}

func (a *adam) step(h, g *ood.Head) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	lr := a.lr * math.Sqrt(1-math.Pow(b2, float64(a.t))) / (1 - math.Pow(b1, float64(a.t)))
	update := func(off int, w, gs []float32) {
		for i, gi := range gs {
			k := off + i
			a.m[k] = b1*a.m[k] + (1-b1)*float64(gi)
			a.v[k] = b2*a.v[k] + (1-b2)*float64(gi)*float64(gi)
			w[i] -= float32(lr * a.m[k] / (math.Sqrt(a.v[k]) + eps))
		}
	}
	update(0, h.W, g.W)
	update(len(h.W), h.B, g.B)
}
