package adapt

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model/ood"
)

func randomHead(rng *rand.Rand, classes, dim int) *ood.Head {
	w := make([]float32, classes*dim)
	for i := range w {
		w[i] = float32(rng.NormFloat64()) * 0.3
	}
	b := make([]float32, classes)
	for i := range b {
		b[i] = float32(rng.NormFloat64()) * 0.1
	}
	lo, hi := ood.Unbounded()
	h, _ := ood.NewHead(w, b, classes, dim, lo, hi)
	return h
}

// clusters draws n samples per class around a class centre in the
// non-negative orthant, as ReLU features are.
func clusters(rng *rand.Rand, classes, dim, n int, spread float64) []Sample {
	var out []Sample
	for c := 0; c < classes; c++ {
		for i := 0; i < n; i++ {
			f := make([]float32, dim)
			for j := range f {
				centre := 0.0
				if j%classes == c {
					centre = 2
				}
				f[j] = float32(max(0, centre+spread*rng.NormFloat64()))
			}
			out = append(out, Sample{f, c})
		}
	}
	return out
}

// TestGradientsNumerically compares the analytic gradient of the loss with
// central differences, with both hinges active.
func TestGradientsNumerically(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	orig := randomHead(rng, 4, 6)
	h := cloneHead(orig)
	for i := range h.W {
		h.W[i] += float32(rng.NormFloat64()) * 0.2
	}
	train := clusters(rng, 4, 6, 3, 0.5)
	var outliers [][]float32
	for _, s := range clusters(rng, 4, 6, 2, 1) {
		outliers = append(outliers, s.Features)
	}
	// Margins that both kinds of sample violate.
	p, err := newProblem(orig, train, outliers, Options{Lambda: 0.5, L2: 0.1}, -50, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	g := cloneHead(h)
	p.lossGrad(h, g)
	params := func(x *ood.Head) [][]float32 { return [][]float32{x.W, x.B} }
	const eps = 1e-2
	scratch := cloneHead(h)
	for k, ps := range params(h) {
		for i := range ps {
			orig := ps[i]
			ps[i] = orig + eps
			up := p.lossGrad(h, scratch)
			ps[i] = orig - eps
			down := p.lossGrad(h, scratch)
			ps[i] = orig
			num := (up - down) / (2 * eps)
			got := float64(params(g)[k][i])
			if math.Abs(num-got) > 2e-3*max(1, math.Abs(num)) {
				t.Errorf("param %d[%d]: analytic %v, numeric %v", k, i, got, num)
			}
		}
	}
}

// TestTrainFixesAShiftedClassAndRaisesOutlierEnergy starts from a layer
// that confuses two classes and checks that training fixes it, keeps the
// rest, and pushes confirmed outliers above the energy margin.
func TestTrainFixesAShiftedClassAndRaisesOutlierEnergy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const classes, dim = 3, 9
	id := clusters(rng, classes, dim, 60, 0.4)
	// The original layer: one-hot on the class features, but class 2's row
	// points at class 1's features.
	w := make([]float32, classes*dim)
	for c := 0; c < classes; c++ {
		for j := 0; j < dim; j++ {
			if j%classes == c {
				w[c*dim+j] = 1
			}
		}
	}
	for j := 0; j < dim; j++ {
		w[2*dim+j] = w[1*dim+j] * 1.1
	}
	lo, hi := ood.Unbounded()
	orig, _ := ood.NewHead(w, nil, classes, dim, lo, hi)
	var outliers [][]float32
	for i := 0; i < 40; i++ {
		f := make([]float32, dim)
		for j := range f {
			f[j] = float32(rng.Float64() * 4) // uniformly spread, unlike any class
		}
		outliers = append(outliers, f)
	}
	h, rep, err := Train(context.Background(), orig, id, outliers, Options{Seed: 1, LearningRate: 0.01, L2: 1e-3})
	if err != nil {
		t.Fatalf("Train: %v (report %+v)", err, rep)
	}
	if rep.AccuracyBefore > 0.7 || rep.AccuracyAfter < 0.95 {
		t.Errorf("held-out accuracy %.2f → %.2f, want from about 2/3 to above 0.95", rep.AccuracyBefore, rep.AccuracyAfter)
	}
	if rep.HeldOut != 36 || rep.Train != 144 || rep.Outliers != 40 {
		t.Errorf("report %+v, want 36 held out, 144 training, 40 outliers", rep)
	}
	meanEnergy := func(h *ood.Head, fs [][]float32) float64 {
		logits := make([]float32, classes)
		var s float64
		for _, f := range fs {
			h.Logits(logits, f)
			e, _ := ood.Energy(logits, 1)
			s += e
		}
		return s / float64(len(fs))
	}
	var idFeatures [][]float32
	for _, s := range id {
		idFeatures = append(idFeatures, s.Features)
	}
	gapBefore := meanEnergy(orig, outliers) - meanEnergy(orig, idFeatures)
	gapAfter := meanEnergy(h, outliers) - meanEnergy(h, idFeatures)
	if gapAfter <= gapBefore {
		t.Errorf("outlier − ID mean energy gap %.3f before, %.3f after; want it to grow", gapBefore, gapAfter)
	}
}

func TestAccuracyCheck(t *testing.T) {
	tests := []struct {
		before, after, maxDrop float64
		refuse                 bool
	}{
		{0.90, 0.95, 0.01, false},
		{0.90, 0.895, 0.01, false},
		{0.90, 0.885, 0.01, true},
		{0.90, 0.80, 0.2, false},
	}
	for _, tt := range tests {
		err := checkAccuracy(tt.before, tt.after, tt.maxDrop)
		if got := errors.Is(err, ErrAccuracyDrop); got != tt.refuse {
			t.Errorf("checkAccuracy(%v, %v, %v) = %v, want refusal %v", tt.before, tt.after, tt.maxDrop, err, tt.refuse)
		}
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	h := randomHead(rng, 2, 3)
	good := clusters(rng, 2, 3, 5, 0.1)
	tests := []struct {
		name     string
		id       []Sample
		outliers [][]float32
	}{
		{"wrong feature count", []Sample{{[]float32{1, 2}, 0}}, nil},
		{"class out of range", []Sample{{[]float32{1, 2, 3}, 2}}, nil},
		{"outlier feature count", good, [][]float32{{1}}},
		{"too few samples", good[:1], nil},
	}
	for _, tt := range tests {
		if _, _, err := Train(context.Background(), h, tt.id, tt.outliers, Options{}); err == nil {
			t.Errorf("%s: Train succeeded", tt.name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Train(ctx, h, good, nil, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Train with a cancelled context = %v", err)
	}
}

// TestTrainEasesTheHinge checks the retries with a smaller hinge weight:
// confirmed outliers that are copies of one class's samples make a strong
// hinge cost accuracy, so the first layer fails the held-out check and a
// gentler one is kept; a check no layer can pass refuses after the last
// attempt.
func TestTrainEasesTheHinge(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const classes, dim = 3, 9
	id := clusters(rng, classes, dim, 40, 0.6)
	orig := randomHead(rng, classes, dim)
	var outliers [][]float32
	for _, s := range id {
		if s.Label == 0 {
			outliers = append(outliers, s.Features)
		}
	}
	const lambda = 300
	opts := Options{Seed: 1, Lambda: lambda, LearningRate: 0.05}
	_, rep, err := Train(context.Background(), orig, id, outliers, opts)
	if err != nil {
		t.Fatalf("Train: %v (report %+v)", err, rep)
	}
	if rep.Attempts < 2 || rep.Attempts > MaxAttempts {
		t.Errorf("%d attempts, want the first (λ = %v) refused and at most %d", rep.Attempts, float64(lambda), MaxAttempts)
	}
	if want := lambda / math.Pow(lambdaDivisor, float64(rep.Attempts-1)); math.Abs(rep.Lambda-want) > 1e-9*want {
		t.Errorf("kept λ = %v after %d attempts, want %v", rep.Lambda, rep.Attempts, want)
	}
	if rep.AccuracyBefore-rep.AccuracyAfter > 0.01 {
		t.Errorf("kept a layer whose held-out accuracy fell %.3f → %.3f", rep.AccuracyBefore, rep.AccuracyAfter)
	}

	opts.MaxAccuracyDrop = -2 // accuracy would have to rise 200 points
	_, rep, err = Train(context.Background(), orig, id, outliers, opts)
	if !errors.Is(err, ErrAccuracyDrop) {
		t.Fatalf("impossible check: err %v, want ErrAccuracyDrop", err)
	}
	if rep.Attempts != MaxAttempts || math.Abs(rep.Lambda-lambda/math.Pow(lambdaDivisor, lambdaSteps)) > 1e-9 {
		t.Errorf("refused after %d attempts at λ = %v, want %d down to λ/%v", rep.Attempts, rep.Lambda, MaxAttempts, math.Pow(lambdaDivisor, lambdaSteps))
	}
}
