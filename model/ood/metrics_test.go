package ood

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMetricsHandWorked(t *testing.T) {
	tests := []struct {
		name    string
		id, ood []float64
		want    Result
	}{
		{
			name: "perfect separation",
			id:   []float64{3, 2}, ood: []float64{1, 0},
			want: Result{FPR95: 0, AUROC: 1, AUPRIn: 1, AUPROut: 1, DetectionError: 0},
		},
		{
			// Every ID below every OOD: the detector is inverted.
			name: "inverted",
			id:   []float64{0, 1}, ood: []float64{2, 3},
			// AUPR-In: thresholds 3, 2 add no recall; at 1 R=1/2, P=1/3;
			// at 0 R=1, P=2/4.
			want: Result{FPR95: 1, AUROC: 0, AUPRIn: 0.5*(1.0/3) + 0.5*0.5, AUPROut: 0.5*(1.0/3) + 0.5*0.5, DetectionError: 0.5},
		},
		{
			// A single threshold keeps everything: P = 1/2 at R = 1.
			name: "full overlap",
			id:   []float64{1, 1}, ood: []float64{1, 1},
			want: Result{FPR95: 1, AUROC: 0.5, AUPRIn: 0.5, AUPROut: 0.5, DetectionError: 0.5},
		},
		{
			// Thresholds .9 .8 .7 .4 .3 give (TP, FP) = (1,0) (2,0) (2,1)
			// (3,1) (3,2). AUROC: 2+2+1 of 6 pairs ordered. AUPR-In:
			// 1/3·1 + 1/3·1 + 1/3·3/4. AUPR-Out from .3 up: OOD recall
			// 1/2 at P=1, then 1/2 at P=2/3 (at .7). Detection error at
			// .8: 0.5·1/3. FPR95 keeps all three ID (k=0, tau=.4).
			name: "interleaved",
			id:   []float64{0.9, 0.8, 0.4}, ood: []float64{0.7, 0.3},
			want: Result{FPR95: 0.5, AUROC: 5.0 / 6, AUPRIn: 11.0 / 12, AUPROut: 5.0 / 6, DetectionError: 1.0 / 6},
		},
		{
			// A tie across classes at 1. AUROC: 2 + 1.5 + 1.5 of 6.
			// AUPR-In: (1,0) at 2 → 1/3·1; (3,1) at 1 → 2/3·3/4.
			// AUPR-Out from 0 up: (1,0) → 1/2·1; (2,2) → 1/2·1/2.
			// Detection error at 1: 0.5·0 + 0.5·1/2.
			name: "tie across classes",
			id:   []float64{2, 1, 1}, ood: []float64{1, 0},
			want: Result{FPR95: 0.5, AUROC: 5.0 / 6, AUPRIn: 5.0 / 6, AUPROut: 0.75, DetectionError: 0.25},
		},
		{
			name: "infinite scores",
			id:   []float64{math.Inf(1), 0}, ood: []float64{math.Inf(-1), 0},
			// Pairs: (+Inf beats both) 2, (0 vs -Inf) 1, (0 vs 0) 0.5.
			want: Result{FPR95: 0.5, AUROC: 3.5 / 4, AUPRIn: 0.5 + 0.5*(2.0/3), AUPROut: 0.5 + 0.5*(2.0/3), DetectionError: 0.25},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.NID, tt.want.NOOD = len(tt.id), len(tt.ood)
			got := Evaluate(tt.id, tt.ood)
			checkResult(t, "Evaluate", got, tt.want)
			single := Result{
				FPR95:          FPRAtTPR(tt.id, tt.ood, 0.95),
				AUROC:          AUROC(tt.id, tt.ood),
				AUPRIn:         AUPRIn(tt.id, tt.ood),
				AUPROut:        AUPROut(tt.id, tt.ood),
				DetectionError: DetectionError(tt.id, tt.ood),
				NID:            len(tt.id),
				NOOD:           len(tt.ood),
			}
			checkResult(t, "single metrics", single, tt.want)
		})
	}
}

func checkResult(t *testing.T, what string, got, want Result) {
	t.Helper()
	fields := []struct {
		name      string
		got, want float64
	}{
		{"FPR95", got.FPR95, want.FPR95},
		{"AUROC", got.AUROC, want.AUROC},
		{"AUPRIn", got.AUPRIn, want.AUPRIn},
		{"AUPROut", got.AUPROut, want.AUPROut},
		{"DetectionError", got.DetectionError, want.DetectionError},
	}
	for _, f := range fields {
		if !approxEqual(f.got, f.want, 1e-12) {
			t.Errorf("%s %s = %v, want %v", what, f.name, f.got, f.want)
		}
	}
	if got.NID != want.NID || got.NOOD != want.NOOD {
		t.Errorf("%s sizes = %d, %d, want %d, %d", what, got.NID, got.NOOD, want.NID, want.NOOD)
	}
}

func TestFPRAtTPR(t *testing.T) {
	id := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	ood := []float64{0, 1.5, 2, 2.5, 9.5}
	tests := []struct {
		tpr  float64
		want float64
	}{
		{1, 4.0 / 5},    // tau = 1: all but 0
		{0.95, 4.0 / 5}, // k = 0 as well
		{0.9, 3.0 / 5},  // tau = 2 keeps the OOD 2 (>=) too
		{0.5, 1.0 / 5},  // tau = 6
		{0.1, 0},        // tau = 10
		{0, math.NaN()},
		{1.5, math.NaN()},
	}
	for _, tt := range tests {
		got := FPRAtTPR(id, ood, tt.tpr)
		if !(got == tt.want || math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("FPRAtTPR(tpr=%v) = %v, want %v", tt.tpr, got, tt.want)
		}
	}
}

func TestMetricsInvalidInput(t *testing.T) {
	tests := []struct {
		name    string
		id, ood []float64
	}{
		{"no id", nil, []float64{1}},
		{"no ood", []float64{1}, []float64{}},
		{"nan id", []float64{1, math.NaN()}, []float64{1}},
		{"nan ood", []float64{1}, []float64{math.NaN()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(tt.id, tt.ood)
			for name, v := range map[string]float64{
				"FPR95": r.FPR95, "AUROC": r.AUROC, "AUPRIn": r.AUPRIn, "AUPROut": r.AUPROut, "DetectionError": r.DetectionError,
				"FPRAtTPR":         FPRAtTPR(tt.id, tt.ood, 0.95),
				"AUROC()":          AUROC(tt.id, tt.ood),
				"AUPRIn()":         AUPRIn(tt.id, tt.ood),
				"AUPROut()":        AUPROut(tt.id, tt.ood),
				"DetectionError()": DetectionError(tt.id, tt.ood),
			} {
				if !math.IsNaN(v) {
					t.Errorf("%s(%v, %v) = %v, want NaN", name, tt.id, tt.ood, v)
				}
			}
		})
	}
}

// Brute-force references, quadratic and written from the definitions.

func bruteAUROC(id, ood []float64) float64 {
	var s float64
	for _, a := range id {
		for _, b := range ood {
			switch {
			case a > b:
				s++
			case a == b:
				s += 0.5
			}
		}
	}
	return s / float64(len(id)*len(ood))
}

// bruteThresholds returns the distinct values of a and b, highest first.
func bruteThresholds(a, b []float64) []float64 {
	t := slices.Concat(a, b)
	slices.Sort(t)
	t = slices.Compact(t)
	slices.Reverse(t)
	return t
}

func bruteAP(pos, neg []float64) float64 {
	var ap, prevR float64
	for _, th := range bruteThresholds(pos, neg) {
		tp, fp := countKept(pos, th), countKept(neg, th)
		r := float64(tp) / float64(len(pos))
		ap += (r - prevR) * float64(tp) / float64(tp+fp)
		prevR = r
	}
	return ap
}

func bruteDetectionError(id, ood []float64) float64 {
	best := 0.5
	for _, th := range bruteThresholds(id, ood) {
		tpr := float64(countKept(id, th)) / float64(len(id))
		fpr := float64(countKept(ood, th)) / float64(len(ood))
		best = min(best, 0.5*(1-tpr)+0.5*fpr)
	}
	return best
}

func negate(s []float64) []float64 {
	n := make([]float64, len(s))
	for i, v := range s {
		n[i] = -v
	}
	return n
}

func randomScores(rng *rand.Rand, n, levels int, shift float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		if levels > 0 {
			s[i] = float64(rng.IntN(levels)) + shift
		} else {
			s[i] = rng.NormFloat64() + shift
		}
	}
	return s
}

func TestMetricsMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for i := range 300 {
		levels := []int{0, 2, 5, 20}[i%4] // 0: continuous, else heavy ties
		id := randomScores(rng, 1+rng.IntN(40), levels, rng.Float64()*2)
		ood := randomScores(rng, 1+rng.IntN(40), levels, 0)
		if levels > 0 {
			// Keep the shift from breaking ties between the two sets.
			for j := range id {
				id[j] = math.Round(id[j])
			}
		}
		want := Result{
			AUROC:          bruteAUROC(id, ood),
			AUPRIn:         bruteAP(id, ood),
			AUPROut:        bruteAP(negate(ood), negate(id)),
			DetectionError: bruteDetectionError(id, ood),
			NID:            len(id),
			NOOD:           len(ood),
		}
		tau, _, err := Threshold(id, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		want.FPR95 = float64(countKept(ood, tau)) / float64(len(ood))
		checkResult(t, "Evaluate", Evaluate(id, ood), want)
		if t.Failed() {
			t.Fatalf("case %d: id %v ood %v", i, id, ood)
		}
	}
}

func TestMetricsProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for i := range 200 {
		levels := []int{0, 3, 10}[i%3]
		id := randomScores(rng, 1+rng.IntN(100), levels, 1)
		ood := randomScores(rng, 1+rng.IntN(100), levels, 0)
		r := Evaluate(id, ood)

		// Swapping the classes complements the AUROC, ties included.
		if sum := AUROC(id, ood) + AUROC(ood, id); !approxEqual(sum, 1, 1e-12) {
			t.Errorf("AUROC(id,ood) + AUROC(ood,id) = %v, want 1", sum)
		}
		// AUPR-Out is AUPR-In of the swapped, negated problem.
		if got, want := r.AUPROut, AUPRIn(negate(ood), negate(id)); !approxEqual(got, want, 1e-12) {
			t.Errorf("AUPROut = %v, want AUPRIn(−ood, −id) = %v", got, want)
		}
		// Rank metrics ignore strictly increasing transforms.
		tr := func(s []float64) []float64 {
			o := make([]float64, len(s))
			for j, v := range s {
				o[j] = math.Exp(v/2) + 3
			}
			return o
		}
		rt := Evaluate(tr(id), tr(ood))
		checkResult(t, "Evaluate(transformed)", rt, r)
		for name, v := range map[string]float64{"FPR95": r.FPR95, "AUROC": r.AUROC, "AUPRIn": r.AUPRIn, "AUPROut": r.AUPROut} {
			if v < 0 || v > 1 {
				t.Errorf("%s = %v outside [0, 1]", name, v)
			}
		}
		if r.DetectionError < 0 || r.DetectionError > 0.5 {
			t.Errorf("DetectionError = %v outside [0, 0.5]", r.DetectionError)
		}
	}
}

func TestMetricsDoNotModifyInput(t *testing.T) {
	id, ood := []float64{3, 1, 2}, []float64{0.5, 2.5, 0}
	idCopy, oodCopy := slices.Clone(id), slices.Clone(ood)
	Evaluate(id, ood)
	if !slices.Equal(id, idCopy) || !slices.Equal(ood, oodCopy) {
		t.Errorf("Evaluate reordered its input: %v %v", id, ood)
	}
}

func BenchmarkAUROC(b *testing.B) {
	rng := rand.New(rand.NewPCG(17, 18))
	id := randomScores(rng, 10000, 0, 1)
	ood := randomScores(rng, 10000, 0, 0)
	b.ReportAllocs()
	for b.Loop() {
		AUROC(id, ood)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	rng := rand.New(rand.NewPCG(19, 20))
	id := randomScores(rng, 10000, 0, 1)
	ood := randomScores(rng, 10000, 0, 0)
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(id, ood)
	}
}
