package adapt

import (
	"math"

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
	train     []Sample
	outliers  [][]float32
	lambda    float64
	l2        float64
	mIn, mOut float64
	logits    []float32
	dLogits   []float32
	soft      []float64
}

func newProblem(orig *ood.Head, train []Sample, outliers [][]float32, opts Options, mIn, mOut float64) *problem {
	return &problem{orig: orig, train: train, outliers: outliers, lambda: opts.Lambda, l2: opts.L2, mIn: mIn, mOut: mOut,
		logits: make([]float32, orig.Classes), dLogits: make([]float32, orig.Classes), soft: make([]float64, orig.Classes)}
}

// lossGrad returns the loss at h and writes its gradient into g (a head of
// the same shape).
func (p *problem) lossGrad(h, g *ood.Head) float64 {
	clear(g.W)
	clear(g.B)
	var loss float64
	nIn := float64(len(p.train))
	for _, s := range p.train {
		p.forward(h, s.Features)
		lse := p.softmax()
		loss += (lse - float64(p.logits[s.Label])) / nIn
		for c := range p.dLogits {
			p.dLogits[c] = float32(p.soft[c] / nIn)
		}
		p.dLogits[s.Label] -= float32(1 / nIn)
		// Energy is −lse; dE/dlogit = −softmax.
		if hinge := -lse - p.mIn; hinge > 0 && p.lambda > 0 {
			loss += p.lambda * hinge * hinge / nIn
			for c := range p.dLogits {
				p.dLogits[c] += float32(p.lambda * 2 * hinge * -p.soft[c] / nIn)
			}
		}
		p.backward(h, g, s.Features)
	}
	nOut := float64(len(p.outliers))
	for _, f := range p.outliers {
		p.forward(h, f)
		lse := p.softmax()
		hinge := p.mOut + lse // MOut − E
		if hinge <= 0 || p.lambda == 0 {
			continue
		}
		loss += p.lambda * hinge * hinge / nOut
		for c := range p.dLogits {
			p.dLogits[c] = float32(p.lambda * 2 * hinge * p.soft[c] / nOut)
		}
		p.backward(h, g, f)
	}
	for i, w := range h.W {
		d := float64(w - p.orig.W[i])
		loss += p.l2 / 2 * d * d
		g.W[i] += float32(p.l2 * d)
	}
	return loss
}

// forward computes the pre-activation logits W·f + B. The head's clamp is
// not applied while training: a clamped logit has no gradient, and heads
// with an activation before the softmax are rare.
func (p *problem) forward(h *ood.Head, f []float32) {
	for c := 0; c < h.Classes; c++ {
		row := h.W[c*h.Dim : (c+1)*h.Dim]
		var s float32
		for i, w := range row {
			s += w * f[i]
		}
		p.logits[c] = s + h.B[c]
	}
}

// softmax fills p.soft and returns log Σ exp(logits).
func (p *problem) softmax() float64 {
	m := float64(p.logits[0])
	for _, v := range p.logits {
		m = max(m, float64(v))
	}
	var sum float64
	for c, v := range p.logits {
		p.soft[c] = math.Exp(float64(v) - m)
		sum += p.soft[c]
	}
	for c := range p.soft {
		p.soft[c] /= sum
	}
	return m + math.Log(sum)
}

// backward adds dLogits ⊗ f to the weight gradient and dLogits to the bias.
func (p *problem) backward(h, g *ood.Head, f []float32) {
	for c, d := range p.dLogits {
		if d == 0 {
			continue
		}
		row := g.W[c*h.Dim : (c+1)*h.Dim]
		for i, x := range f {
			row[i] += d * x
		}
		g.B[c] += d
	}
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
