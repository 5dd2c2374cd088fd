package adapt

import (
	"math"
	"runtime"
	"sync"

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
	shards    []*shard
}

// lossShards is how many parts the samples are split into, whatever the
// number of cores, so that the sums — and the trained layer — are the same
// on every machine.
const lossShards = 4

// shard is one part's buffers: its gradient is summed into the total.
type shard struct {
	logits, dLogits []float32
	soft            []float64
	g               *ood.Head
	loss            float64
}

func newProblem(orig *ood.Head, train []Sample, outliers [][]float32, opts Options, mIn, mOut float64) *problem {
	p := &problem{orig: orig, train: train, outliers: outliers, lambda: opts.Lambda, l2: opts.L2, mIn: mIn, mOut: mOut}
	for range lossShards {
		p.shards = append(p.shards, &shard{logits: make([]float32, orig.Classes), dLogits: make([]float32, orig.Classes),
			soft: make([]float64, orig.Classes), g: cloneHead(orig)})
	}
	return p
}

// lossGrad returns the loss at h and writes its gradient into g (a head of
// the same shape). The shards run on up to GOMAXPROCS goroutines and are
// summed in a fixed order.
func (p *problem) lossGrad(h, g *ood.Head) float64 {
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for k, sh := range p.shards {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			p.shardLossGrad(h, sh, k)
		}()
	}
	wg.Wait()
	clear(g.W)
	clear(g.B)
	var loss float64
	for _, sh := range p.shards {
		loss += sh.loss
		axpy(g.W, 1, sh.g.W)
		axpy(g.B, 1, sh.g.B)
	}
	for i, w := range h.W {
		d := float64(w - p.orig.W[i])
		loss += p.l2 / 2 * d * d
		g.W[i] += float32(p.l2 * d)
	}
	return loss
}

// shardLossGrad adds the loss and gradient of samples k, k+lossShards, …
// into sh.
func (p *problem) shardLossGrad(h *ood.Head, sh *shard, k int) {
	clear(sh.g.W)
	clear(sh.g.B)
	sh.loss = 0
	nIn := float64(len(p.train))
	for i := k; i < len(p.train); i += lossShards {
		s := p.train[i]
		sh.forward(h, s.Features)
		lse := sh.softmax()
		sh.loss += (lse - float64(sh.logits[s.Label])) / nIn
		for c := range sh.dLogits {
			sh.dLogits[c] = float32(sh.soft[c] / nIn)
		}
		sh.dLogits[s.Label] -= float32(1 / nIn)
		// Energy is −lse; dE/dlogit = −softmax.
		if hinge := -lse - p.mIn; hinge > 0 && p.lambda > 0 {
			sh.loss += p.lambda * hinge * hinge / nIn
			for c := range sh.dLogits {
				sh.dLogits[c] += float32(p.lambda * 2 * hinge * -sh.soft[c] / nIn)
			}
		}
		sh.backward(h, s.Features)
	}
	nOut := float64(len(p.outliers))
	for i := k; i < len(p.outliers); i += lossShards {
		f := p.outliers[i]
		sh.forward(h, f)
		lse := sh.softmax()
		hinge := p.mOut + lse // MOut − E
		if hinge <= 0 || p.lambda == 0 {
			continue
		}
		sh.loss += p.lambda * hinge * hinge / nOut
		for c := range sh.dLogits {
			sh.dLogits[c] = float32(p.lambda * 2 * hinge * sh.soft[c] / nOut)
		}
		sh.backward(h, f)
	}
}

// forward computes the pre-activation logits W·f + B. The head's clamp is
// not applied while training: a clamped logit has no gradient, and heads
// with an activation before the softmax are rare.
func (sh *shard) forward(h *ood.Head, f []float32) {
	for c := 0; c < h.Classes; c++ {
		sh.logits[c] = ood.Dot(h.W[c*h.Dim:(c+1)*h.Dim], f) + h.B[c]
	}
}

// softmax fills sh.soft and returns log Σ exp(logits).
func (sh *shard) softmax() float64 {
	m := float64(sh.logits[0])
	for _, v := range sh.logits {
		m = max(m, float64(v))
	}
	var sum float64
	for c, v := range sh.logits {
		sh.soft[c] = math.Exp(float64(v) - m)
		sum += sh.soft[c]
	}
	for c := range sh.soft {
		sh.soft[c] /= sum
	}
	return m + math.Log(sum)
}

// backward adds dLogits ⊗ f to the weight gradient and dLogits to the bias.
func (sh *shard) backward(h *ood.Head, f []float32) {
	for c, d := range sh.dLogits {
		if d == 0 {
			continue
		}
		axpy(sh.g.W[c*h.Dim:(c+1)*h.Dim], d, f)
		sh.g.B[c] += d
	}
}

// axpy adds d·x to y.
func axpy(y []float32, d float32, x []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y[i] += d * x[i]
		y[i+1] += d * x[i+1]
		y[i+2] += d * x[i+2]
		y[i+3] += d * x[i+3]
	}
	for ; i < len(y); i++ {
		y[i] += d * x[i]
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
