package ood

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Feature-space scoring methods. They need the penultimate features of the
// classifier (model.FindFeatures) and calibration data fitted on
// in-distribution features (Fit), stored in Calibration.Features.
const (
	// MethodReAct is the energy of the logits recomputed on features
	// clipped at a percentile of ID activations (Sun et al., 2021).
	MethodReAct Method = "react"
	// MethodASH is the energy of the logits recomputed on features pruned
	// to their largest values and rescaled (ASH-S, Djurisic et al., 2023).
	MethodASH Method = "ash"
	// MethodKNN is minus the distance of the L2-normalized features to
	// their k-th nearest neighbour in an ID feature bank (Sun et al., 2022).
	MethodKNN Method = "knn"
	// MethodSupport is the soft fraction of ID reference k-NN balls that
	// contain the sample: the per-sample form of probabilistic precision
	// (Park & Kim, 2023).
	MethodSupport Method = "support"
)

// FeatureMethods lists the feature-space methods.
func FeatureMethods() []Method { return []Method{MethodReAct, MethodASH, MethodKNN, MethodSupport} }

// LogitMethods lists the methods computed from the logits alone that eval
// compares.
func LogitMethods() []Method { return []Method{MethodEnergy, MethodMSP, MethodMaxLogit} }

// ErrNoFeatureData reports a feature-space method used without the
// calibration data it needs.
var ErrNoFeatureData = errors.New("ood: feature score without its calibration data")

// NeedsFeatures reports whether m is computed from penultimate features.
func (m Method) NeedsFeatures() bool {
	switch m {
	case MethodReAct, MethodASH, MethodKNN, MethodSupport:
		return true
	}
	return false
}

// FeatureData is what a feature-space score keeps from the ID data it was
// fitted on. Only the fields of its method are set.
type FeatureData struct {
	// Percentile is the ReAct clip percentile or the ASH pruning
	// percentile, in (0, 100).
	Percentile float64 `json:"percentile,omitempty"`
	// Clip is ReAct's clip value: Percentile of all ID activations.
	Clip float32 `json:"clip,omitempty"`
	// K is the neighbour rank of kNN and of the support radius.
	K int `json:"k,omitempty"`
	// Bank holds L2-normalized ID features (kNN, support).
	Bank *Bank `json:"bank,omitempty"`
	// Radius is the support balls' common radius: the mean distance of the
	// bank vectors to their K-th nearest other bank vector.
	Radius float32 `json:"radius,omitempty"`
}

// FitOptions bounds and tunes Fit; zero values take the defaults.
type FitOptions struct {
	// Percentile for ReAct (default 90) and ASH (default 90).
	Percentile float64
	// K for kNN and support (default 5: Sun et al.'s k = 50 for 50,000
	// CIFAR-10 training images, scaled to a 5,000-vector bank).
	K int
	// BankSize bounds the feature bank (default 5,000).
	BankSize int
	// Storage of the bank: StorageInt8 (default) or StorageFloat16.
	Storage Storage
	// Seed chooses the bank's sample when there are more features than
	// BankSize.
	Seed uint64
	// Dots are the products of support's fit, a search of the bank for
	// each of its vectors (see Head.Dots).
	Dots RowDots
}

// Default fit parameters.
const (
	DefaultPercentile = 90
	DefaultKNNK       = 5
	DefaultSupportK   = 5
	DefaultBankSize   = 5000
)

// Fit computes the calibration data of feature method m from ID features
// (one slice per sample, all of the same length).
func Fit(m Method, features [][]float32, opts FitOptions) (*FeatureData, error) {
	if !m.NeedsFeatures() {
		return nil, fmt.Errorf("%w %q: not a feature method", ErrUnknownMethod, string(m))
	}
	if len(features) == 0 {
		return nil, fmt.Errorf("fit %s: features: %w", m, ErrEmpty)
	}
	dim := len(features[0])
	for i, f := range features {
		if len(f) != dim || dim == 0 {
			return nil, fmt.Errorf("fit %s: sample %d has %d features, want %d", m, i, len(f), dim)
		}
		for _, v := range f {
			if !finite(float64(v)) {
				return nil, fmt.Errorf("fit %s: sample %d: %w", m, i, ErrNonFinite)
			}
		}
	}
	p := opts.Percentile
	if p == 0 {
		p = DefaultPercentile
	}
	if !(p > 0 && p < 100) {
		return nil, fmt.Errorf("fit %s: percentile %v outside (0, 100)", m, p)
	}
	switch m {
	case MethodReAct:
		all := make([]float32, 0, len(features)*dim)
		for _, f := range features {
			all = append(all, f...)
		}
		return &FeatureData{Percentile: p, Clip: percentile(all, p)}, nil
	case MethodASH:
		return &FeatureData{Percentile: p}, nil
	}
	k := opts.K
	if k == 0 {
		k = DefaultKNNK
		if m == MethodSupport {
			k = DefaultSupportK
		}
	}
	size := opts.BankSize
	if size == 0 {
		size = DefaultBankSize
	}
	sample := features
	if len(features) > size {
		rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
		idx := rng.Perm(len(features))[:size]
		slices.Sort(idx)
		sample = make([][]float32, size)
		for i, j := range idx {
			sample[i] = features[j]
		}
	}
	if k < 1 || k >= len(sample) {
		return nil, fmt.Errorf("fit %s: k = %d needs more than %d bank samples (have %d)", m, k, k, len(sample))
	}
	bank, err := NewBank(sample, opts.Storage)
	if err != nil {
		return nil, fmt.Errorf("fit %s: %w", m, err)
	}
	d := &FeatureData{K: k, Bank: bank}
	if m == MethodSupport {
		var sum float64
		for _, r := range bank.radii(k, opts.Dots) {
			sum += float64(r)
		}
		d.Radius = float32(sum / float64(bank.N))
	}
	return d, nil
}

// percentile returns the p-th percentile of v (nearest rank), reordering v.
func percentile(v []float32, p float64) float32 {
	slices.Sort(v)
	i := int(math.Ceil(p/100*float64(len(v)))) - 1
	return v[min(max(i, 0), len(v)-1)]
}

// validate checks that d holds what method m needs.
func (d *FeatureData) validate(m Method) error {
	if d == nil {
		return fmt.Errorf("%w (method %s)", ErrNoFeatureData, m)
	}
	switch m {
	case MethodReAct, MethodASH:
		if !(d.Percentile > 0 && d.Percentile < 100) {
			return fmt.Errorf("features: percentile %v outside (0, 100)", d.Percentile)
		}
		if m == MethodReAct && !(d.Clip > 0) {
			return fmt.Errorf("features: react clip %v is not positive", d.Clip)
		}
	case MethodKNN, MethodSupport:
		if d.Bank == nil {
			return fmt.Errorf("%w: %s needs a feature bank", ErrNoFeatureData, m)
		}
		if err := d.Bank.validate(); err != nil {
			return fmt.Errorf("features: %w", err)
		}
		if d.K < 1 || d.K >= d.Bank.N {
			return fmt.Errorf("features: k = %d outside [1, %d)", d.K, d.Bank.N)
		}
		if m == MethodSupport && !(d.Radius > 0 && d.Radius <= 2) {
			return fmt.Errorf("features: support radius %v outside (0, 2]", d.Radius)
		}
	}
	return nil
}

// Scorer computes the ID score (higher is more in-distribution) of one
// input from its logits and penultimate features. A Scorer reuses internal
// buffers and is not safe for concurrent use; Score does not allocate.
type Scorer interface {
	Method() Method
	Score(logits, features []float32) (float64, error)
}

// NewScorer returns the scorer of method m at temperature T. Feature
// methods need their fitted data; ReAct and ASH also need the head to
// recompute the logits. Logit methods ignore head and data. Feature
// scorers compute with the head's Dots (portable Go without a head).
func NewScorer(m Method, T float64, head *Head, data *FeatureData) (Scorer, error) {
	if err := checkTemperature(T); err != nil {
		return nil, err
	}
	if !m.Valid() {
		return nil, fmt.Errorf("%w %q", ErrUnknownMethod, string(m))
	}
	if !m.NeedsFeatures() {
		return logitScorer{m, T}, nil
	}
	if err := data.validate(m); err != nil {
		return nil, err
	}
	if (m == MethodReAct || m == MethodASH) && head == nil {
		return nil, fmt.Errorf("ood: %s needs the classifier's last layer", m)
	}
	var dots RowDots
	if head != nil {
		dots = head.Dots
	}
	switch m {
	case MethodReAct:
		return newReAct(head, data.Clip, T), nil
	case MethodASH:
		return newASH(head, data.Percentile, T), nil
	case MethodKNN:
		return newKNN(data.Bank, data.K, dots), nil
	default:
		return newSupport(data.Bank, data.Radius, dots), nil
	}
}

// ScorerFor returns the scorer of calibration c.
func (c *Calibration) ScorerFor(head *Head) (Scorer, error) {
	return NewScorer(c.Method, c.Temperature, head, c.Features)
}

type logitScorer struct {
	m Method
	T float64
}

func (s logitScorer) Method() Method { return s.m }

func (s logitScorer) Score(logits, _ []float32) (float64, error) {
	return IDScore(s.m, logits, s.T)
}

// checkFeatures rejects a feature vector of the wrong length.
func checkFeatures(f []float32, dim int) error {
	if len(f) != dim {
		return fmt.Errorf("ood: %d features, want %d", len(f), dim)
	}
	return nil
}

// validateFeatures checks that feature methods carry their data and that
// other methods carry none.
func (c *Calibration) validateFeatures() error {
	if !c.Method.NeedsFeatures() {
		if c.Features != nil {
			return fmt.Errorf("features set for method %s", c.Method)
		}
		return nil
	}
	return c.Features.validate(c.Method)
}
