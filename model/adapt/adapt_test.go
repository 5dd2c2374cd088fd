package adapt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
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
			out = append(out, Sample{Features: f, Label: c})
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
		t.Errorf("cross-validated accuracy %.2f → %.2f, want from about 2/3 to above 0.95", rep.AccuracyBefore, rep.AccuracyAfter)
	}
	if rep.HeldOut != 180 || rep.Train != 180 || rep.Folds != 4 || rep.Outliers != 40 {
		t.Errorf("report %+v, want all 180 held out once in 4 folds, 180 training, 40 outliers", rep)
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
		{"wrong feature count", []Sample{{Features: []float32{1, 2}}}, nil},
		{"class out of range", []Sample{{Features: []float32{1, 2, 3}, Label: 2}}, nil},
		{"outlier feature count", good, [][]float32{{1}}},
		{"too few samples", good[:1], nil},
	}
	for _, tt := range tests {
		if _, _, err := Train(context.Background(), h, tt.id, tt.outliers, Options{}); err == nil {
			t.Errorf("%s: Train succeeded", tt.name)
		}
	}
	if _, _, err := Train(context.Background(), h, good, nil, Options{Folds: 1}); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("Train with one fold: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Train(ctx, h, good, nil, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Train with a cancelled context = %v", err)
	}
}

// TestTrainBacksOff checks the back-off toward the original layer:
// confirmed outliers that are copies of one class's samples make a strong
// hinge cost accuracy, so the trained layer fails the held-out check and
// a fraction of its change is kept that passes it (and one a little
// larger would not); a check nothing but the original layer passes
// refuses.
func TestTrainBacksOff(t *testing.T) {
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
	opts := Options{Seed: 1, Lambda: 300, LearningRate: 0.05}
	h, rep, err := Train(context.Background(), orig, id, outliers, opts)
	if err != nil {
		t.Fatalf("Train: %v (report %+v)", err, rep)
	}
	t.Logf("kept step %v, held-out %.3f → %.3f", rep.Step, rep.AccuracyBefore, rep.AccuracyAfter)
	if rep.Step >= 1 || rep.Step < MinStep {
		t.Fatalf("kept step %v, want the whole change refused and at least %v kept", rep.Step, MinStep)
	}
	if rep.AccuracyBefore-rep.AccuracyAfter > 0.01 {
		t.Errorf("kept a layer whose cross-validated accuracy fell %.3f → %.3f", rep.AccuracyBefore, rep.AccuracyAfter)
	}
	// The layer returned is the original plus Step of the change, and
	// its accuracy on the held-out samples is the one reported.
	full := opts
	full.MaxAccuracyDrop = 1 // accept anything: the whole change
	whole, fullRep, err := Train(context.Background(), orig, id, outliers, full)
	if err != nil || fullRep.Step != 1 {
		t.Fatalf("Train accepting anything: step %v, %v", fullRep.Step, err)
	}
	mixed := cloneHead(orig)
	mixHeads(mixed, orig, whole, rep.Step)
	for i := range mixed.W {
		if mixed.W[i] != h.W[i] {
			t.Fatalf("weight %d = %v, want %v (orig + %v of the change)", i, h.W[i], mixed.W[i], rep.Step)
		}
	}
	// Its cross-validated accuracy is the one reported, and bisection
	// ends with the step just above the kept one failing.
	opts.defaults()
	cv, _, _, err := crossTrain(context.Background(), orig, id, outliers, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The whole change is the mean of the fold layers.
	for _, i := range []int{0, len(whole.W) / 2, len(whole.W) - 1} {
		var sum float32
		for _, fh := range cv.heads {
			sum += fh.W[i]
		}
		if d := whole.W[i] - sum/float32(len(cv.heads)); d > 1e-6 || d < -1e-6 {
			t.Errorf("weight %d = %v, want the fold layers' mean %v", i, whole.W[i], sum/float32(len(cv.heads)))
		}
	}
	if got := cv.accuracy(rep.Step); got != rep.AccuracyAfter {
		t.Errorf("cross-validated accuracy %v at the kept step, report says %v", got, rep.AccuracyAfter)
	}
	if checkAccuracy(rep.AccuracyBefore, cv.accuracy(rep.Step+1.0/(1<<backoffSteps)), 0.01) == nil {
		t.Errorf("step %v + 1/%d passes the check too", rep.Step, 1<<backoffSteps)
	}
	if checkAccuracy(rep.AccuracyBefore, cv.accuracy(1), 0.01) == nil {
		t.Errorf("the whole change passes the check, yet Train backed off")
	}

	opts.MaxAccuracyDrop = -2 // accuracy would have to rise 200 points
	_, rep, err = Train(context.Background(), orig, id, outliers, opts)
	if !errors.Is(err, ErrAccuracyDrop) {
		t.Fatalf("impossible check: err %v, want ErrAccuracyDrop", err)
	}
	if rep.Step >= MinStep {
		t.Errorf("refused with step %v, want below %v", rep.Step, MinStep)
	}
}

// TestDealKeyed checks that with keys a sample's fold depends on its key
// alone: adding samples leaves every earlier one where it was. Without
// keys the folds are still of about equal size.
func TestDealKeyed(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	id := clusters(rng, 2, 3, 200, 0.1)
	for i := range id {
		id[i].Key = Key(fmt.Sprint("sample ", i))
	}
	folds := deal(id, 5, 1)
	more := append(slices.Clone(id), clusters(rng, 2, 3, 20, 0.1)...)
	for i := len(id); i < len(more); i++ {
		more[i].Key = Key(fmt.Sprint("new ", i))
	}
	fold := map[uint64]int{}
	for f, samples := range deal(more, 5, 1) {
		for _, s := range samples {
			fold[s.Key] = f
		}
	}
	for f, samples := range folds {
		for _, s := range samples {
			if fold[s.Key] != f {
				t.Fatalf("sample %x moved from fold %d to %d when 40 samples were added", s.Key, f, fold[s.Key])
			}
		}
	}
	if reseeded := deal(id, 5, 2); slices.EqualFunc(reseeded[0], folds[0], func(a, b Sample) bool { return a.Key == b.Key }) {
		t.Error("another seed dealt the same first fold")
	}
	for _, f := range deal(clusters(rand.New(rand.NewPCG(9, 10)), 2, 3, 200, 0.1), 5, 1) {
		if len(f) < 50 || len(f) > 110 {
			t.Errorf("unkeyed fold of %d samples, want about 80 of 400", len(f))
		}
	}
}

// TestTrainSameOnAnyThreadCount checks that the layer does not depend on
// how many cores train it (the agent trains on one, the CLI on all).
func TestTrainSameOnAnyThreadCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const classes, dim = 20, 40
	orig := randomHead(rng, classes, dim)
	id := clusters(rng, classes, dim, 12, 0.5)
	var outliers [][]float32
	for _, s := range clusters(rng, 30, dim, 1, 2) {
		outliers = append(outliers, s.Features)
	}
	var heads []*ood.Head
	for _, threads := range []int{1, 2, 3} {
		h, _, err := Train(context.Background(), orig, id, outliers, Options{Seed: 1, Threads: threads, MaxAccuracyDrop: 1})
		if err != nil {
			t.Fatal(err)
		}
		heads = append(heads, h)
	}
	for i := 1; i < len(heads); i++ {
		if !slices.Equal(heads[i].W, heads[0].W) || !slices.Equal(heads[i].B, heads[0].B) {
			t.Errorf("layer trained on %d threads differs from the one on 1", i+1)
		}
	}
}
