package adapt

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/ood-agent/ood-agent/model/ood"
)

// ErrAccuracyDrop is returned when the retrained layer loses more
// in-distribution accuracy than Options.MaxAccuracyDrop allows.
var ErrAccuracyDrop = errors.New("adapt: cross-validated accuracy dropped")

// Sample is one in-distribution training sample: penultimate features and
// the class.
type Sample struct {
	Features []float32
	Label    int
	// Key names the sample (a frame, a record, an image index) for the
	// folds of the accuracy check: with keys, a sample's fold depends on
	// its key and the seed alone, not on which other samples come along,
	// so two runs over nearly the same data — the next adapt on a device,
	// a float model and its int8 twin — split them nearly alike. Zero keys
	// fall back to the sample's position.
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
	// Folds is how many folds the accuracy check cross-validates over
	// (default 4): each trains a layer on the other folds' samples. Each
	// fold costs about one training on all samples; four keep a
	// MobileNet-sized head well inside a minute on two cores.
	Folds int
	// MaxAccuracyDrop is the largest allowed drop of cross-validated
	// accuracy (default 0.01: one point).
	MaxAccuracyDrop float64
	// Seed of the assignment of samples to folds.
	Seed uint64
	// Threads is how many cores training uses (default GOMAXPROCS). The
	// trained layer does not depend on it.
	Threads int
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
	if o.Threads <= 0 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
	if o.Folds == 0 {
		o.Folds = 4
	}
	if o.MaxAccuracyDrop == 0 {
		o.MaxAccuracyDrop = 0.01
	}
}

// Report says what Train did.
type Report struct {
	// Train is the size of the class-balanced training set, HeldOut the
	// number of ID samples the check classifies (all of them, each by the
	// layer of the fold it was held out of).
	Train, HeldOut, Folds, Outliers int
	// AccuracyBefore is the original layer's ID accuracy, AccuracyAfter
	// the cross-validated accuracy of the layer returned.
	AccuracyBefore, AccuracyAfter float64
	MIn, MOut                     float64
	// Lambda is the hinge weight trained with.
	Lambda float64
	// Step is the fraction of the change from the original layer kept:
	// 1, or less where the trained layer failed the accuracy check (see
	// Train).
	Step float64
	// Loss is the final training loss.
	Loss float64
}

// The back-off of a layer that fails the accuracy check: backoffSteps
// halvings of the interval of steps, and the smallest step worth keeping.
const (
	backoffSteps = 8
	MinStep      = 1.0 / 8
)

// Train fits a new last layer. id are labeled in-distribution samples
// (balanced per class by Train), outliers are features of confirmed OOD
// inputs. The returned head has the original's shape and activation.
//
// The accuracy check is cross-validated: the samples are dealt into
// Options.Folds folds, a layer is trained without each fold and
// classifies it, so every sample is held out once and the check counts
// all of them. A single held-out fifth of a few hundred field samples
// would move by a point with two or three images; the check's verdict
// would be noise. The layer returned is the mean of the fold layers (see
// crossTrain).
//
// When the retrained layers lose more cross-validated accuracy than
// MaxAccuracyDrop allows, Train backs off toward the original layer: it
// keeps the largest fraction of the change (found by bisection, to
// 1/256) that passes the check, as a line search shortens a step. The
// kept fraction varies smoothly with the data, so two nearly equal runs
// — a float model and its int8 twin, or this week's labels and last
// week's — end up nearly equal. Below MinStep it returns the report and
// an error wrapping ErrAccuracyDrop, with no head.
func Train(ctx context.Context, orig *ood.Head, id []Sample, outliers [][]float32, opts Options) (*ood.Head, Report, error) {
	opts.defaults()
	if err := check(orig, id, outliers); err != nil {
		return nil, Report{}, err
	}
	cv, h, rep, err := crossTrain(ctx, orig, id, outliers, opts)
	if err != nil {
		return nil, rep, err
	}
	passes := func(acc float64) bool {
		return checkAccuracy(rep.AccuracyBefore, acc, opts.MaxAccuracyDrop) == nil
	}
	if passes(rep.AccuracyAfter) {
		return h, rep, nil
	}
	full := rep.AccuracyAfter
	lo, hi, loAcc := 0.0, 1.0, rep.AccuracyBefore
	for range backoffSteps {
		mid := (lo + hi) / 2
		if acc := cv.accuracy(mid); passes(acc) {
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
	mixed := cloneHead(h)
	mixHeads(mixed, orig, h, lo)
	rep.Step, rep.AccuracyAfter = lo, loAcc
	return mixed, rep, nil
}

// crossTrain trains a layer without each fold and returns their mean,
// with the cross-validated accuracy of the whole change. Logits (before a
// fused activation) are linear in the weights, so the mean layer's are
// the mean of the fold layers' — it is their ensemble, and orig + t·(mean − orig) is the
// ensemble of the layers the check measures at step t. Every sample
// trains all but one of them, and no extra training on all samples is
// needed (a MobileNet-sized head takes seconds per training).
func crossTrain(ctx context.Context, orig *ood.Head, id []Sample, outliers [][]float32, opts Options) (*crossCheck, *ood.Head, Report, error) {
	if opts.Folds < 2 {
		return nil, nil, Report{}, fmt.Errorf("adapt: %d folds: cross-validation needs at least 2", opts.Folds)
	}
	folds := deal(id, opts.Folds, opts.Seed)
	cv := &crossCheck{orig: orig, folds: folds, heads: make([]*ood.Head, len(folds)), samples: len(id)}
	for _, f := range folds {
		if len(f) == len(id) {
			return nil, nil, Report{}, fmt.Errorf("adapt: %d ID samples are too few to cross-validate in %d folds", len(id), opts.Folds)
		}
	}
	all := balance(id, orig.Classes)
	rep := Report{Train: len(all), HeldOut: len(id), Folds: opts.Folds, Outliers: len(outliers), AccuracyBefore: Accuracy(orig, id), Lambda: opts.Lambda, Step: 1}
	rep.MIn, rep.MOut = opts.MIn, opts.MOut
	if rep.MIn == 0 && rep.MOut == 0 {
		rep.MIn, rep.MOut = margins(orig, all)
	}
	mean := cloneHead(orig)
	clear(mean.W)
	clear(mean.B)
	trained := 0
	for i, held := range folds {
		if len(held) == 0 {
			continue
		}
		var rest []Sample
		for j, f := range folds {
			if j != i {
				rest = append(rest, f...)
			}
		}
		h, loss, err := fit(ctx, orig, balance(rest, orig.Classes), outliers, opts, rep.MIn, rep.MOut)
		if err != nil {
			return nil, nil, rep, err
		}
		cv.heads[i] = h
		addHead(mean, h)
		rep.Loss += loss
		trained++
	}
	scaleHead(mean, 1/float32(trained))
	rep.Loss /= float64(trained)
	rep.AccuracyAfter = cv.accuracy(1)
	return cv, mean, rep, nil
}

func addHead(dst, h *ood.Head) {
	for i, w := range h.W {
		dst.W[i] += w
	}
	for i, b := range h.B {
		dst.B[i] += b
	}
}

func scaleHead(h *ood.Head, s float32) {
	for i := range h.W {
		h.W[i] *= s
	}
	for i := range h.B {
		h.B[i] *= s
	}
}

// fit trains one layer on a balanced training set.
func fit(ctx context.Context, orig *ood.Head, train []Sample, outliers [][]float32, opts Options, mIn, mOut float64) (*ood.Head, float64, error) {
	p, err := newProblem(orig, train, outliers, opts, mIn, mOut)
	if err != nil {
		return nil, 0, err
	}
	defer p.close()
	return p.train(ctx, opts)
}

// crossCheck holds the layers trained without each fold.
type crossCheck struct {
	orig    *ood.Head
	folds   [][]Sample
	heads   []*ood.Head // nil for an empty fold
	samples int
}

// accuracy is the cross-validated accuracy of the original layer plus t
// of each fold's change: every sample classified by the layer that did
// not train on it.
func (c *crossCheck) accuracy(t float64) float64 {
	mixed := cloneHead(c.orig)
	correct := 0.0
	for i, h := range c.heads {
		if h == nil {
			continue
		}
		if t != 1 {
			mixHeads(mixed, c.orig, h, t)
			h = mixed
		}
		correct += Accuracy(h, c.folds[i]) * float64(len(c.folds[i]))
	}
	return correct / float64(c.samples)
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

// checkAccuracy refuses a layer that loses more than maxDrop of
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

// deal puts every sample in one of k folds by its rank (splitRank of its
// key, or of its position when it has none): a sample's fold depends on
// its key and the seed alone, not on which other samples come along.
func deal(id []Sample, k int, seed uint64) [][]Sample {
	folds := make([][]Sample, k)
	for i, s := range id {
		key := s.Key
		if key == 0 {
			key = uint64(i) + 1
		}
		f := splitRank(key, seed) % uint64(k)
		folds[f] = append(folds[f], s)
	}
	return folds
}

// balance repeats the samples of the smaller classes until every class
// has as many as the largest (DFR trains on a class-balanced set).
func balance(samples []Sample, classes int) []Sample {
	byClass := make([][]Sample, classes)
	most := 0
	for _, s := range samples {
		byClass[s.Label] = append(byClass[s.Label], s)
		most = max(most, len(byClass[s.Label]))
	}
	var train []Sample
	for _, c := range byClass {
		for i := 0; len(c) > 0 && i < most; i++ {
			train = append(train, c[i%len(c)])
		}
	}
	return train
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

// splitRank mixes a sample's key with the seed (SplitMix64's finalizer),
// so folds are a seeded random choice that stays put when other samples
// come or go.
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
