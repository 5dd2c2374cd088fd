package adapt

import (
	"cmp"
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
	// Key names the sample (a frame, a record, an image index) for the
	// held-out split: with keys, whether a sample is held out depends on
	// its key and the seed alone, not on which other samples come along,
	// so two runs over nearly the same data — the next adapt on a device,
	// a float model and its int8 twin — check accuracy on nearly the same
	// samples. Zero keys fall back to a permutation by position.
	Key uint64
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
	// Lambda is the hinge weight trained with.
	Lambda float64
	// Step is the fraction of the change from the original layer kept:
	// 1, or less where the trained layer failed the held-out check (see
	// Train).
	Step float64
	// Loss is the final training loss.
	Loss float64
}

// The back-off of a layer that fails the held-out check: backoffSteps
// halvings of the interval of steps, and the smallest step worth keeping.
const (
	backoffSteps = 8
	MinStep      = 1.0 / 8
)

// Train fits a new last layer. id are labeled in-distribution samples
// (balanced per class by Train), outliers are features of confirmed OOD
// inputs. The returned head has the original's shape and activation.
//
// When the trained layer loses more held-out accuracy than
// MaxAccuracyDrop allows, Train backs off toward the original layer: it
// keeps the largest fraction of the change (found by bisection, to
// 1/256) that passes the check, as a line search shortens a step. The
// kept fraction varies smoothly with the data, so two nearly equal runs
// — a float model and its int8 twin, or this week's labels and last
// week's — end up nearly equal, where retraining with a smaller hinge
// weight jumped between weights at the edge of the check. Below MinStep
// it returns the report and an error wrapping ErrAccuracyDrop, with no
// head.
func Train(ctx context.Context, orig *ood.Head, id []Sample, outliers [][]float32, opts Options) (*ood.Head, Report, error) {
	opts.defaults()
	if err := check(orig, id, outliers); err != nil {
		return nil, Report{}, err
	}
	train, held := split(id, orig.Classes, opts.HoldOut, opts.Seed)
	if len(train) == 0 || len(held) == 0 {
		return nil, Report{}, fmt.Errorf("adapt: %d ID samples are too few to train and hold out", len(id))
	}
	rep := Report{Train: len(train), HeldOut: len(held), Outliers: len(outliers), AccuracyBefore: Accuracy(orig, held), Lambda: opts.Lambda}
	rep.MIn, rep.MOut = opts.MIn, opts.MOut
	if rep.MIn == 0 && rep.MOut == 0 {
		rep.MIn, rep.MOut = margins(orig, train)
	}
	p, err := newProblem(orig, train, outliers, opts, rep.MIn, rep.MOut)
	if err != nil {
		return nil, rep, err
	}
	defer p.close()
	h, loss, err := p.train(ctx, opts)
	if err != nil {
		return nil, rep, err
	}
	rep.Loss, rep.Step = loss, 1
	rep.AccuracyAfter = Accuracy(h, held)
	passes := func(acc float64) bool {
		return checkAccuracy(rep.AccuracyBefore, acc, opts.MaxAccuracyDrop) == nil
	}
	if passes(rep.AccuracyAfter) {
		return h, rep, nil
	}
	full := rep.AccuracyAfter
	mixed := cloneHead(h)
	lo, hi, loAcc := 0.0, 1.0, rep.AccuracyBefore
	for range backoffSteps {
		mid := (lo + hi) / 2
		mixHeads(mixed, orig, h, mid)
		if acc := Accuracy(mixed, held); passes(acc) {
			lo, loAcc = mid, acc
		} else {
			hi = mid
		}
	}
	if lo < MinStep {
		rep.Step = lo
		return nil, rep, fmt.Errorf("%w: %.2f%% → %.2f%% with the retrained layer, and only less than %g of its change passes (at most %.2f points allowed); keeping the current model",
			ErrAccuracyDrop, 100*rep.AccuracyBefore, 100*full, MinStep, 100*opts.MaxAccuracyDrop)
	}
	mixHeads(mixed, orig, h, lo)
	rep.Step, rep.AccuracyAfter = lo, loAcc
	return mixed, rep, nil
}

// mixHeads sets dst to a + t·(b − a).
func mixHeads(dst, a, b *ood.Head, t float64) {
	for i := range dst.W {
		dst.W[i] = a.W[i] + float32(t)*(b.W[i]-a.W[i])
	}
	for i := range dst.B {
		dst.B[i] = a.B[i] + float32(t)*(b.B[i]-a.B[i])
	}
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
	if keyed(id) {
		for _, c := range byClass {
			slices.SortFunc(c, func(a, b Sample) int { return cmp.Compare(splitRank(a.Key, seed), splitRank(b.Key, seed)) })
		}
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

// Key derives a sample key from a name (a record id, a file path and
// index): FNV-1a, never zero; an empty name is no key (0).
func Key(name string) uint64 {
	if name == "" {
		return 0
	}
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return max(h, 1)
}

// keyed reports whether every sample has a key.
func keyed(id []Sample) bool {
	for _, s := range id {
		if s.Key == 0 {
			return false
		}
	}
	return len(id) > 0
}

// splitRank orders keyed samples for the split: a mix of key and seed
// (SplitMix64's finalizer), so the held-out ones are a seeded random
// choice that stays put when other samples come or go.
func splitRank(key, seed uint64) uint64 {
	z := key + seed*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
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
