package adapt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/ood-agent/ood-agent/model/ood"
)

// ErrAccuracyDrop is returned when the retrained layer loses more held-out
// in-distribution accuracy than Options.MaxAccuracyDrop allows.
var ErrAccuracyDrop = errors.New("adapt: held-out accuracy dropped")

// Sample is one in-distribution training sample: penultimate features and
// the class.
type Sample struct {
	Features []float32
	Label    int
}

// Options tune Train; zero values take the defaults.
type Options struct {
	// Epochs of full-batch Adam (default 300).
	Epochs int
	// LearningRate of Adam (default 0.001: the layer starts near its
	// optimum for the training data, and larger steps overfit the few
	// hundred field samples).
	LearningRate float64
	// Lambda weighs the energy hinge (default 0.1, as in Liu et al.).
	// When the layer trained with it fails the held-out check, Train
	// tries again with Lambda/3 and then Lambda/9 before refusing: a
	// pretrained layer can need a gentler hinge than one fine-tuned
	// with it, and the held-out labels — not a test set — decide.
	Lambda float64
	// L2 pulls the weights toward the original layer (default 0.1).
	L2 float64
	// MIn and MOut are the energy margins; zero means from the data: MIn is
	// the mean energy of the training samples under the original layer and
	// MOut its 99th percentile plus the distance to MIn.
	MIn, MOut float64
	// HoldOut is the fraction of ID samples kept for the accuracy check
	// (default 0.2).
	HoldOut float64
	// MaxAccuracyDrop is the largest allowed drop of held-out accuracy
	// (default 0.01: one point).
	MaxAccuracyDrop float64
	// Seed of the train/held-out split.
	Seed uint64
}

func (o *Options) defaults() {
	if o.Epochs == 0 {
		o.Epochs = 300
	}
	if o.LearningRate == 0 {
		o.LearningRate = 1e-3
	}
	if o.Lambda == 0 {
		o.Lambda = 0.1
	}
	if o.L2 == 0 {
		o.L2 = 0.1
	}
	if o.HoldOut == 0 {
		o.HoldOut = 0.2
	}
	if o.MaxAccuracyDrop == 0 {
		o.MaxAccuracyDrop = 0.01
	}
}

// Report says what Train did.
type Report struct {
	Train, HeldOut, Outliers int
	// AccuracyBefore and AccuracyAfter are held-out ID accuracies.
	AccuracyBefore, AccuracyAfter float64
	MIn, MOut                     float64
	// Lambda is the hinge weight of the layer returned (or of the last
	// attempt), Attempts how many layers were trained.
	Lambda   float64
	Attempts int
	// Loss is the final training loss.
	Loss float64
}

// lambdaSteps is how many times Train divides the hinge weight by
// lambdaDivisor after a failed held-out check.
const (
	lambdaSteps   = 2
	lambdaDivisor = 3
)

// MaxAttempts is how many layers Train trains at most.
const MaxAttempts = lambdaSteps + 1

// Train fits a new last layer. id are labeled in-distribution samples
// (balanced per class by Train), outliers are features of confirmed OOD
// inputs. The returned head has the original's shape and activation. When
// held-out accuracy drops by more than MaxAccuracyDrop at every hinge
// weight tried (see Options.Lambda) it returns the report and an error
// wrapping ErrAccuracyDrop, with no head.
func Train(ctx context.Context, orig *ood.Head, id []Sample, outliers [][]float32, opts Options) (*ood.Head, Report, error) {
	opts.defaults()
	if err := check(orig, id, outliers); err != nil {
		return nil, Report{}, err
	}
	train, held := split(id, orig.Classes, opts.HoldOut, opts.Seed)
	if len(train) == 0 || len(held) == 0 {
		return nil, Report{}, fmt.Errorf("adapt: %d ID samples are too few to train and hold out", len(id))
	}
	rep := Report{Train: len(train), HeldOut: len(held), Outliers: len(outliers), AccuracyBefore: Accuracy(orig, held)}
	rep.MIn, rep.MOut = opts.MIn, opts.MOut
	if rep.MIn == 0 && rep.MOut == 0 {
		rep.MIn, rep.MOut = margins(orig, train)
	}
	p, err := newProblem(orig, train, outliers, opts, rep.MIn, rep.MOut)
	if err != nil {
		return nil, rep, err
	}
	defer p.close()
	for attempt := 0; attempt <= lambdaSteps; attempt++ {
		p.lambda = opts.Lambda / math.Pow(lambdaDivisor, float64(attempt))
		rep.Lambda, rep.Attempts = p.lambda, attempt+1
		var h *ood.Head
		if h, rep.Loss, err = p.train(ctx, opts); err != nil {
			return nil, rep, err
		}
		rep.AccuracyAfter = Accuracy(h, held)
		if err = checkAccuracy(rep.AccuracyBefore, rep.AccuracyAfter, opts.MaxAccuracyDrop); err == nil {
			return h, rep, nil
		}
	}
	return nil, rep, err
}

// train runs opts.Epochs steps of Adam from the original layer and
// returns the layer and its final loss.
func (p *problem) train(ctx context.Context, opts Options) (*ood.Head, float64, error) {
	h := cloneHead(p.orig)
	g := cloneHead(p.orig)
	ad := newAdam(len(h.W)+len(h.B), opts.LearningRate)
	var loss float64
	for epoch := 0; epoch < opts.Epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("adapt: %w", err)
		}
		loss = p.lossGrad(h, g)
		ad.step(h, g)
	}
	return h, loss, nil
}

// checkAccuracy refuses a layer that loses more than maxDrop of held-out
// accuracy.
func checkAccuracy(before, after, maxDrop float64) error {
	if before-after > maxDrop {
		return fmt.Errorf("%w: %.2f%% → %.2f%% (at most %.2f points allowed); keeping the current model",
			ErrAccuracyDrop, 100*before, 100*after, 100*maxDrop)
	}
	return nil
}

func check(h *ood.Head, id []Sample, outliers [][]float32) error {
	if h == nil {
		return errors.New("adapt: no last layer")
	}
	for i, s := range id {
		if len(s.Features) != h.Dim {
			return fmt.Errorf("adapt: ID sample %d has %d features, want %d", i, len(s.Features), h.Dim)
		}
		if s.Label < 0 || s.Label >= h.Classes {
			return fmt.Errorf("adapt: ID sample %d has class %d, want [0, %d)", i, s.Label, h.Classes)
		}
	}
	for i, f := range outliers {
		if len(f) != h.Dim {
			return fmt.Errorf("adapt: outlier %d has %d features, want %d", i, len(f), h.Dim)
		}
	}
	return nil
}

// split holds out a fraction of every class and balances the rest by
// repeating the samples of the smaller classes (DFR trains on a
// class-balanced set).
func split(id []Sample, classes int, holdOut float64, seed uint64) (train, held []Sample) {
	rng := rand.New(rand.NewPCG(seed, 0xada))
	byClass := make([][]Sample, classes)
	for _, i := range rng.Perm(len(id)) {
		byClass[id[i].Label] = append(byClass[id[i].Label], id[i])
	}
	most := 0
	var kept [][]Sample
	for _, s := range byClass {
		n := int(math.Round(holdOut * float64(len(s))))
		if len(s) >= 2 {
			n = max(n, 1)
		}
		held = append(held, s[:n]...)
		kept = append(kept, s[n:])
		most = max(most, len(s)-n)
	}
	for _, s := range kept {
		for i := 0; len(s) > 0 && i < most; i++ {
			train = append(train, s[i%len(s)])
		}
	}
	return train, held
}

// margins derives the energy margins from the original layer.
func margins(h *ood.Head, train []Sample) (mIn, mOut float64) {
	logits := make([]float32, h.Classes)
	es := make([]float64, len(train))
	for i, s := range train {
		h.Logits(logits, s.Features)
		e, _ := ood.Energy(logits, 1)
		es[i] = e
		mIn += e
	}
	mIn /= float64(len(train))
	slices.Sort(es)
	p99 := es[min(len(es)-1, int(0.99*float64(len(es))))]
	return mIn, p99 + (p99 - mIn)
}

// Accuracy is the fraction of samples h classifies correctly.
func Accuracy(h *ood.Head, samples []Sample) float64 {
	if len(samples) == 0 {
		return 0
	}
	logits := make([]float32, h.Classes)
	correct := 0
	for _, s := range samples {
		h.Logits(logits, s.Features)
		if l, _ := ood.Argmax(logits); l == s.Label {
			correct++
		}
	}
	return float64(correct) / float64(len(samples))
}

func cloneHead(h *ood.Head) *ood.Head {
	c := *h
	c.W = slices.Clone(h.W)
	c.B = slices.Clone(h.B)
	return &c
}
