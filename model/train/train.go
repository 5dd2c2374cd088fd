package train

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/ood-agent/ood-agent/model/dataset"
)

// Options configures training.
type Options struct {
	Epochs    int
	BatchSize int
	LR        float64 // Adam step size
	Seed      uint64
	Workers   int // goroutines sharing each batch
	// Energy-bounded fine-tuning (Liu et al. §3). When Outliers is set the
	// loss is CE + Lambda·(max(0, E_in − MIn)² + max(0, MOut − E_out)²),
	// with one outlier batch of the same size per in-distribution batch.
	Outliers *dataset.Images
	Lambda   float64
	MIn      float64
	MOut     float64
	Logger   *slog.Logger
}

// Sample is one labelled image.
type Sample struct {
	Pixels []uint8
	Label  int
}

// logSumExp returns log Σ exp(f), shifted by the maximum for stability.
func logSumExp(logits []float32) float64 {
	m := logits[0]
	for _, v := range logits[1:] {
		m = max(m, v)
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - m))
	}
	return float64(m) + math.Log(sum)
}

// crossEntropyGrad returns the softmax cross-entropy of logits for label and
// writes its gradient with respect to the logits (softmax − one-hot) into
// dLogits.
func crossEntropyGrad(logits []float32, label int, dLogits []float32) float64 {
	lse := logSumExp(logits)
	for i, v := range logits {
		dLogits[i] = float32(math.Exp(float64(v) - lse))
	}
	dLogits[label]--
	return lse - float64(logits[label])
}

// energy returns E = −log Σ exp(f) (T = 1) and writes dE/df = −softmax(f)
// into dE.
func energy(logits []float32, dE []float32) float64 {
	lse := logSumExp(logits)
	for i, v := range logits {
		dE[i] = -float32(math.Exp(float64(v) - lse))
	}
	return -lse
}

// energyHingeGrad adds the gradient of lambda·max(0, sign·(E − margin))² to
// dLogits and returns the term. sign is +1 for in-distribution samples (push
// energy below MIn) and −1 for outliers (push it above MOut).
func energyHingeGrad(logits []float32, sign, margin, lambda float64, dLogits, scratch []float32) float64 {
	e := energy(logits, scratch)
	h := sign * (e - margin)
	if h <= 0 {
		return 0
	}
	for i := range dLogits {
		dLogits[i] += float32(lambda * 2 * h * sign * float64(scratch[i]))
	}
	return lambda * h * h
}

type adam struct {
	m, v   [][]float32
	t      int
	lr     float64
	b1, b2 float64
}

func newAdam(p *Params, lr float64) *adam {
	a := &adam{lr: lr, b1: 0.9, b2: 0.999}
	for _, s := range p.slices() {
		a.m = append(a.m, make([]float32, len(s)))
		a.v = append(a.v, make([]float32, len(s)))
	}
	return a
}

func (a *adam) step(p, g *Params, scale float32) {
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	lr := float32(a.lr * math.Sqrt(c2) / c1)
	b1, b2 := float32(a.b1), float32(a.b2)
	for k, w := range p.slices() {
		gs, m, v := g.slices()[k], a.m[k], a.v[k]
		for i := range w {
			gi := gs[i] * scale
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			w[i] -= lr * m[i] / (float32(math.Sqrt(float64(v[i]))) + 1e-8)
		}
	}
}

type worker struct {
	act     *activations
	grad    *Params
	dLogits []float32
	scratch []float32
	loss    float64
	correct int
}

// Train optimizes p on samples and returns the mean training loss of the last
// epoch.
func Train(ctx context.Context, p *Params, samples []Sample, opts Options) (float64, error) {
	if opts.BatchSize < 1 || opts.Epochs < 1 || len(samples) == 0 {
		return 0, fmt.Errorf("train: need samples, epochs and a batch size")
	}
	workers := max(opts.Workers, 1)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed+1))
	opt := newAdam(p, opts.LR)
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = &worker{act: newActivations(), grad: newParams(), dLogits: make([]float32, Classes), scratch: make([]float32, Classes)}
	}
	order := make([]int, len(samples))
	for i := range order {
		order[i] = i
	}
	var epochLoss float64
	for epoch := 0; epoch < opts.Epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		epochLoss = 0
		correct := 0
		for start := 0; start < len(order); start += opts.BatchSize {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			batch := order[start:min(start+opts.BatchSize, len(order))]
			var outliers []int
			if opts.Outliers != nil {
				outliers = make([]int, len(batch))
				for i := range outliers {
					outliers[i] = rng.IntN(opts.Outliers.N)
				}
			}
			var wg sync.WaitGroup
			for wi, w := range ws {
				wg.Add(1)
				go func() {
					defer wg.Done()
					w.run(p, samples, batch, outliers, wi, workers, opts)
				}()
			}
			wg.Wait()
			for _, w := range ws[1:] {
				for k, s := range ws[0].grad.slices() {
					for i, v := range w.grad.slices()[k] {
						s[i] += v
					}
				}
			}
			for _, w := range ws {
				epochLoss += w.loss
				correct += w.correct
			}
			opt.step(p, ws[0].grad, 1/float32(len(batch)))
		}
		epochLoss /= float64(len(samples))
		log.Info("epoch", "epoch", epoch+1, "loss", fmt.Sprintf("%.4f", epochLoss),
			"train_accuracy", fmt.Sprintf("%.4f", float64(correct)/float64(len(samples))))
	}
	return epochLoss, nil
}

// run processes this worker's share of a batch into its gradient buffer.
func (w *worker) run(p *Params, samples []Sample, batch, outliers []int, wi, workers int, opts Options) {
	for _, s := range w.grad.slices() {
		clear(s)
	}
	w.loss, w.correct = 0, 0
	for k := wi; k < len(batch); k += workers {
		s := samples[batch[k]]
		normalize(s.Pixels, w.act.input)
		p.forward(w.act)
		if argmax(w.act.logits) == s.Label {
			w.correct++
		}
		w.loss += crossEntropyGrad(w.act.logits, s.Label, w.dLogits)
		if outliers != nil {
			w.loss += energyHingeGrad(w.act.logits, +1, opts.MIn, opts.Lambda, w.dLogits, w.scratch)
		}
		p.backward(w.act, w.dLogits, w.grad)
		if outliers != nil {
			normalize(opts.Outliers.At(outliers[k]), w.act.input)
			p.forward(w.act)
			clear(w.dLogits)
			w.loss += energyHingeGrad(w.act.logits, -1, opts.MOut, opts.Lambda, w.dLogits, w.scratch)
			p.backward(w.act, w.dLogits, w.grad)
		}
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// Accuracy is the fraction of samples whose argmax logit is their label.
func Accuracy(p *Params, samples []Sample) float64 {
	a := newActivations()
	correct := 0
	for _, s := range samples {
		normalize(s.Pixels, a.input)
		p.forward(a)
		if argmax(a.logits) == s.Label {
			correct++
		}
	}
	return float64(correct) / float64(len(samples))
}

// MeanEnergy is the mean energy (T = 1) of the network on images.
func MeanEnergy(p *Params, images *dataset.Images, limit int) float64 {
	a := newActivations()
	scratch := make([]float32, Classes)
	n := min(images.N, limit)
	var sum float64
	for i := 0; i < n; i++ {
		normalize(images.At(i), a.input)
		p.forward(a)
		sum += energy(a.logits, scratch)
	}
	return sum / float64(n)
}
