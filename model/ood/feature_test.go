package ood

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func randomFeatures(rng *rand.Rand, n, dim int, shift float32) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		f := make([]float32, dim)
		for j := range f {
			// ReLU features: non-negative, sparse-ish.
			f[j] = max(0, float32(rng.NormFloat64())+shift*float32(j%3))
		}
		out[i] = f
	}
	return out
}

func randomHead(rng *rand.Rand, classes, dim int) *Head {
	w := make([]float32, classes*dim)
	for i := range w {
		w[i] = float32(rng.NormFloat64()) / float32(math.Sqrt(float64(dim)))
	}
	b := make([]float32, classes)
	lo, hi := Unbounded()
	h, err := NewHead(w, b, classes, dim, lo, hi)
	if err != nil {
		panic(err)
	}
	return h
}

func TestNthLargestMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(50)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.IntN(8)) // many ties
		}
		sorted := slices.Clone(v)
		slices.Sort(sorted)
		k := 1 + rng.IntN(n)
		if got, want := nthLargest(slices.Clone(v), k), sorted[n-k]; got != want {
			t.Fatalf("nthLargest(%v, %d) = %v, want %v", v, k, got, want)
		}
	}
}

// ashReference is ASH-S written the slow, obvious way.
func ashReference(h *Head, f []float32, percentile float64) float64 {
	keep := max(1, h.Dim-int(math.Round(float64(h.Dim)*percentile/100)))
	idx := make([]int, len(f))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case f[a] > f[b]:
			return -1
		case f[a] < f[b]:
			return 1
		}
		return 0
	})
	shaped := make([]float32, len(f))
	var total, kept float64
	for _, v := range f {
		total += float64(v)
	}
	for _, i := range idx[:keep] {
		shaped[i] = f[i]
		kept += float64(f[i])
	}
	for i := range shaped {
		shaped[i] *= float32(math.Exp(total / kept))
	}
	logits := make([]float32, h.Classes)
	h.Logits(logits, shaped)
	e, _ := Energy(logits, 1)
	return -e
}

func TestASHMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	h := randomHead(rng, 7, 40)
	s, err := NewScorer(MethodASH, 1, h, &FeatureData{Percentile: 80})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range randomFeatures(rng, 50, 40, 0.3) {
		got, err := s.Score(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		if want := ashReference(h, f, 80); math.Abs(got-want) > 1e-4*max(1, math.Abs(want)) {
			t.Fatalf("ASH %v, reference %v", got, want)
		}
	}
}

func TestReActClipsAtPercentile(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	feats := randomFeatures(rng, 200, 16, 0.5)
	d, err := Fit(MethodReAct, feats, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	below := 0
	for _, f := range feats {
		for _, v := range f {
			if v <= d.Clip {
				below++
			}
		}
	}
	if frac := float64(below) / float64(200*16); frac < 0.9 || frac > 0.91 {
		t.Errorf("clip %v keeps %.3f of activations unclipped, want 0.90", d.Clip, frac)
	}
	h := randomHead(rng, 5, 16)
	s, err := NewScorer(MethodReAct, 1, h, d)
	if err != nil {
		t.Fatal(err)
	}
	// A feature far above the clip counts only up to the clip.
	big := slices.Clone(feats[0])
	big[3] = 1000
	clipped := slices.Clone(feats[0])
	clipped[3] = d.Clip
	a, _ := s.Score(nil, big)
	b, _ := s.Score(nil, clipped)
	if a != b {
		t.Errorf("ReAct of a huge activation %v differs from that of the clipped one %v", a, b)
	}
}

// knnReference is the k-th neighbour distance in float64, no bank.
func knnReference(bank [][]float32, f []float32, k int) float64 {
	unit := func(v []float32) []float64 {
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x) / math.Sqrt(ss)
		}
		return out
	}
	q := unit(f)
	var d []float64
	for _, b := range bank {
		u := unit(b)
		var s float64
		for i := range u {
			s += (u[i] - q[i]) * (u[i] - q[i])
		}
		d = append(d, math.Sqrt(s))
	}
	slices.Sort(d)
	return d[k-1]
}

func TestKNNMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	feats := randomFeatures(rng, 300, 64, 0.4)
	queries := randomFeatures(rng, 30, 64, 0.1)
	for _, tc := range []struct {
		storage Storage
		tol     float64
	}{{StorageInt8, 0.01}, {StorageFloat16, 1e-3}} {
		d, err := Fit(MethodKNN, feats, FitOptions{K: 5, Storage: tc.storage})
		if err != nil {
			t.Fatal(err)
		}
		if d.Bank.N != 300 || d.Bank.Storage != tc.storage {
			t.Fatalf("bank %d × %s", d.Bank.N, d.Bank.Storage)
		}
		s, err := NewScorer(MethodKNN, 1, nil, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range queries {
			got, err := s.Score(nil, q)
			if err != nil {
				t.Fatal(err)
			}
			if want := -knnReference(feats, q, 5); math.Abs(got-want) > tc.tol {
				t.Errorf("%s: kNN score %v, reference %v", tc.storage, got, want)
			}
		}
	}
}

func TestSupportOrdersNearAndFar(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	feats := randomFeatures(rng, 400, 32, 1)
	d, err := Fit(MethodSupport, feats, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewScorer(MethodSupport, 1, nil, d)
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.Score(nil, feats[0])
	if err != nil {
		t.Fatal(err)
	}
	if in <= 0 {
		t.Errorf("a reference sample has support %v, want > 0", in)
	}
	// Mass in the features the ID data rarely uses: outside every ball.
	far := make([]float32, 32)
	for j := range far {
		if j%3 == 0 {
			far[j] = 5
		}
	}
	out, err := s.Score(nil, far)
	if err != nil {
		t.Fatal(err)
	}
	if out >= 0 || out >= in {
		t.Errorf("far sample support %v, reference sample %v", out, in)
	}
}

func TestFeatureCalibrationRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	feats := randomFeatures(rng, 100, 8, 0.2)
	sha := SHA256Hex([]byte("model"))
	for _, m := range FeatureMethods() {
		t.Run(string(m), func(t *testing.T) {
			d, err := Fit(m, feats, FitOptions{BankSize: 50, Storage: StorageFloat16})
			if err != nil {
				t.Fatal(err)
			}
			c, err := Calibrate(sha, m, 1, 0.95, []float64{1, 2, 3, 4})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := c.Write(&buf); !errors.Is(err, ErrNoFeatureData) && !errors.Is(err, ErrInvalidCalibration) {
				t.Fatalf("writing a %s calibration without its data: %v", m, err)
			}
			c.Features = d
			buf.Reset()
			if err := c.Write(&buf); err != nil {
				t.Fatal(err)
			}
			back, err := Parse(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			h := randomHead(rng, 3, 8)
			a, err := c.ScorerFor(h)
			if err != nil {
				t.Fatal(err)
			}
			b, err := back.ScorerFor(h)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range feats[:10] {
				x, _ := a.Score(nil, f)
				y, _ := b.Score(nil, f)
				if x != y {
					t.Fatalf("score %v before the round trip, %v after", x, y)
				}
			}
			if allocs := testing.AllocsPerRun(10, func() { b.Score(nil, feats[0]) }); allocs > 0 {
				t.Errorf("Score allocates %.0f times", allocs)
			}
		})
	}
	// Logit methods carry no feature data.
	c, _ := Calibrate(sha, MethodEnergy, 1, 0.95, []float64{1, 2, 3})
	c.Features = &FeatureData{Percentile: 90}
	if err := c.Validate(); !errors.Is(err, ErrInvalidCalibration) {
		t.Errorf("energy calibration with feature data validates: %v", err)
	}
}

func TestFitRejects(t *testing.T) {
	good := [][]float32{{1, 2}, {3, 4}, {5, 6}}
	tests := []struct {
		name  string
		m     Method
		feats [][]float32
		opts  FitOptions
	}{
		{"logit method", MethodEnergy, good, FitOptions{}},
		{"no samples", MethodReAct, nil, FitOptions{}},
		{"ragged", MethodKNN, [][]float32{{1, 2}, {3}}, FitOptions{K: 1}},
		{"NaN", MethodReAct, [][]float32{{1, float32(math.NaN())}}, FitOptions{}},
		{"k too large", MethodKNN, good, FitOptions{K: 3}},
		{"percentile 100", MethodASH, good, FitOptions{Percentile: 100}},
		{"bad storage", MethodKNN, good, FitOptions{K: 1, Storage: "int4"}},
	}
	for _, tt := range tests {
		if d, err := Fit(tt.m, tt.feats, tt.opts); err == nil {
			t.Errorf("%s: Fit = %+v, want an error", tt.name, d)
		}
	}
}

// FuzzParseFeatures checks that every feature calibration Parse accepts
// gives a scorer that scores without panicking.
func FuzzParseFeatures(f *testing.F) {
	rng := rand.New(rand.NewPCG(15, 16))
	feats := randomFeatures(rng, 12, 4, 0.3)
	for _, m := range FeatureMethods() {
		for _, st := range []Storage{StorageInt8, StorageFloat16} {
			d, err := Fit(m, feats, FitOptions{K: 2, Storage: st})
			if err != nil {
				f.Fatal(err)
			}
			c, _ := Calibrate(SHA256Hex([]byte("m")), m, 1, 0.95, []float64{1, 2, 3})
			c.Features = d
			var buf bytes.Buffer
			if err := c.Write(&buf); err != nil {
				f.Fatal(err)
			}
			f.Add(buf.Bytes())
		}
	}
	head := randomHead(rng, 3, 4)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil || !c.Method.NeedsFeatures() {
			return
		}
		s, err := c.ScorerFor(head)
		if err != nil {
			t.Fatalf("Parse accepted a calibration NewScorer rejects: %v", err)
		}
		s.Score([]float32{1, 2, 3}, []float32{0.5, 0, 1, 2})
	})
}

// TestDotInt7Exact checks the four-products-per-multiply dot product
// against a plain loop, for every tail length and the extreme values.
func TestDotInt7Exact(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for n := 1; n <= 40; n++ {
		for trial := 0; trial < 20; trial++ {
			b := make([]int8, n)
			v := make([]int8, n)
			for i := range b {
				b[i] = int8(rng.IntN(128) - 64)
				v[i] = int8(rng.IntN(127) - 63)
				if trial == 0 {
					b[i], v[i] = -64, -63 // the largest offset products
				}
			}
			qw := make([]uint64, (n+3)/4)
			vsum := packQuery7(qw, v)
			var want, bsum int64
			for i := range b {
				want += int64(b[i]) * int64(v[i])
				bsum += int64(b[i])
			}
			raw := make([]byte, n)
			for i, x := range b {
				raw[i] = byte(x)
			}
			got := int64(dotInt7(qw, raw)) - 64*bsum - 64*int64(vsum) - 64*64*int64(n)
			if got != want {
				t.Fatalf("n=%d trial %d: %d, want %d", n, trial, got, want)
			}
		}
	}
}
