package ood

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveEnergy evaluates the definition directly, without the max shift. It
// is only accurate for small logits.
func naiveEnergy(logits []float32, T float64) float64 {
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) / T)
	}
	return -T * math.Log(sum)
}

func naiveSoftmax(logits []float32, T float64) []float64 {
	p := make([]float64, len(logits))
	var sum float64
	for i, v := range logits {
		p[i] = math.Exp(float64(v) / T)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

func approxEqual(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func TestEnergyMatchesDefinition(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		T      float64
	}{
		{"single", []float32{2.5}, 1},
		{"uniform", []float32{0, 0, 0, 0}, 1},
		{"mixed", []float32{1.5, -0.25, 3, 0.125}, 1},
		{"hot", []float32{1.5, -0.25, 3, 0.125}, 4},
		{"cold", []float32{1.5, -0.25, 3, 0.125}, 0.25},
		{"negative", []float32{-7, -3, -12}, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Energy(tt.logits, tt.T)
			if err != nil {
				t.Fatalf("Energy(%v, %v) error: %v", tt.logits, tt.T, err)
			}
			if want := naiveEnergy(tt.logits, tt.T); !approxEqual(got, want, 1e-12) {
				t.Errorf("Energy(%v, %v) = %v, want %v", tt.logits, tt.T, got, want)
			}
		})
	}
}

func TestEnergyStable(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		T      float64
		want   float64
	}{
		// exp(1000) overflows float64; the shifted form must not.
		{"large", []float32{1000, 999}, 1, -1000 - math.Log1p(math.Exp(-1))},
		{"very negative", []float32{-1000, -1001}, 1, 1000 - math.Log1p(math.Exp(-1))},
		{"max float32", []float32{math.MaxFloat32, 0}, 1, -float64(math.MaxFloat32)},
		{"tiny T", []float32{3, 2}, 1e-3, -3 - 1e-3*math.Log1p(math.Exp(-1e3))},
		{"huge T", []float32{3, 2}, 1e6, -2.5 - 1e6*math.Log(2*math.Cosh(0.5e-6))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Energy(tt.logits, tt.T)
			if err != nil {
				t.Fatalf("Energy(%v, %v) error: %v", tt.logits, tt.T, err)
			}
			if !approxEqual(got, tt.want, 1e-9) {
				t.Errorf("Energy(%v, %v) = %v, want %v", tt.logits, tt.T, got, tt.want)
			}
		})
	}
}

func TestEnergyProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		n := 1 + rng.IntN(50)
		logits := make([]float32, n)
		shifted := make([]float32, n)
		shift := float32(rng.IntN(200) - 100)
		for j := range logits {
			logits[j] = float32(rng.NormFloat64() * 5)
			shifted[j] = logits[j] + shift
		}
		T := 0.1 + rng.Float64()*10
		e, err := Energy(logits, T)
		if err != nil {
			t.Fatalf("Energy error: %v", err)
		}
		m, _ := MaxLogit(logits)
		// The log-sum-exp lies between the max and the max plus T·log n.
		if e > -m+1e-9 || e < -m-T*math.Log(float64(n))-1e-9 {
			t.Errorf("case %d: Energy = %v outside [%v, %v]", i, e, -m-T*math.Log(float64(n)), -m)
		}
		es, err := Energy(shifted, T)
		if err != nil {
			t.Fatalf("Energy error: %v", err)
		}
		// Adding c to every logit lowers the energy by c. Compare against
		// the float32 logits actually stored.
		wantShift := float64(shifted[0]) - float64(logits[0])
		if !approxEqual(es, e-wantShift, 1e-5) {
			t.Errorf("case %d: Energy(logits+%v) = %v, want %v", i, shift, es, e-wantShift)
		}
	}
}

func TestScoreErrors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		name   string
		logits []float32
		T      float64
		want   error
	}{
		{"nil", nil, 1, ErrEmpty},
		{"empty", []float32{}, 1, ErrEmpty},
		{"nan", []float32{1, nan, 2}, 1, ErrNonFinite},
		{"+inf", []float32{1, inf}, 1, ErrNonFinite},
		{"-inf", []float32{-inf, 1}, 1, ErrNonFinite},
		{"T zero", []float32{1, 2}, 0, ErrTemperature},
		{"T negative", []float32{1, 2}, -1, ErrTemperature},
		{"T nan", []float32{1, 2}, math.NaN(), ErrTemperature},
		{"T inf", []float32{1, 2}, math.Inf(1), ErrTemperature},
	}
	funcs := []struct {
		name string
		fn   func([]float32, float64) error
	}{
		{"Energy", func(l []float32, T float64) error { _, err := Energy(l, T); return err }},
		{"TempMSP", func(l []float32, T float64) error { _, err := TempMSP(l, T); return err }},
		{"All", func(l []float32, T float64) error { _, err := All(l, T); return err }},
		{"Softmax", func(l []float32, T float64) error { _, err := Softmax(nil, l, T); return err }},
		{"IDScore/energy", func(l []float32, T float64) error { _, err := IDScore(MethodEnergy, l, T); return err }},
		{"IDScore/msp", func(l []float32, T float64) error { _, err := IDScore(MethodMSP, l, T); return err }},
		{"IDScore/maxlogit", func(l []float32, T float64) error { _, err := IDScore(MethodMaxLogit, l, T); return err }},
		{"IDScore/tmsp", func(l []float32, T float64) error { _, err := IDScore(MethodTempMSP, l, T); return err }},
	}
	for _, f := range funcs {
		for _, tt := range tests {
			t.Run(f.name+"/"+tt.name, func(t *testing.T) {
				if err := f.fn(tt.logits, tt.T); !errors.Is(err, tt.want) {
					t.Errorf("%s(%v, %v) error = %v, want %v", f.name, tt.logits, tt.T, err, tt.want)
				}
			})
		}
	}
	// The temperature-free functions only validate the logits.
	for _, tt := range tests[:5] {
		t.Run("logits-only/"+tt.name, func(t *testing.T) {
			if _, err := MSP(tt.logits); !errors.Is(err, tt.want) {
				t.Errorf("MSP(%v) error = %v, want %v", tt.logits, err, tt.want)
			}
			if _, err := MaxLogit(tt.logits); !errors.Is(err, tt.want) {
				t.Errorf("MaxLogit(%v) error = %v, want %v", tt.logits, err, tt.want)
			}
			if _, err := Argmax(tt.logits); !errors.Is(err, tt.want) {
				t.Errorf("Argmax(%v) error = %v, want %v", tt.logits, err, tt.want)
			}
		})
	}
	if _, err := IDScore("odin", []float32{1}, 1); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("IDScore(odin) error = %v, want %v", err, ErrUnknownMethod)
	}
}

func TestEnergyOverflowReported(t *testing.T) {
	// T·log(n) exceeds the float64 range.
	if e, err := Energy([]float32{0, 0, 0}, math.MaxFloat64); !errors.Is(err, ErrNonFinite) {
		t.Errorf("Energy at T=MaxFloat64 = %v, %v, want error %v", e, err, ErrNonFinite)
	}
	if _, err := All([]float32{0, 0, 0}, math.MaxFloat64); !errors.Is(err, ErrNonFinite) {
		t.Errorf("All at T=MaxFloat64 error = %v, want %v", err, ErrNonFinite)
	}
}

func TestSoftmaxScores(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		T      float64
	}{
		{"single", []float32{-4}, 1},
		{"two", []float32{0, 1}, 1},
		{"mixed", []float32{2, -1, 0.5, 0.5, 7}, 1},
		{"hot", []float32{2, -1, 0.5, 0.5, 7}, 1000},
		{"cold", []float32{2, -1, 0.5, 0.5, 7}, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := naiveSoftmax(tt.logits, tt.T)
			got, err := Softmax(make([]float64, 0, 1), tt.logits, tt.T)
			if err != nil {
				t.Fatalf("Softmax error: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("len(Softmax) = %d, want %d", len(got), len(want))
			}
			wantMax := 0.0
			for i := range want {
				if !approxEqual(got[i], want[i], 1e-12) {
					t.Errorf("Softmax(%v, %v)[%d] = %v, want %v", tt.logits, tt.T, i, got[i], want[i])
				}
				wantMax = max(wantMax, want[i])
			}
			tmsp, err := TempMSP(tt.logits, tt.T)
			if err != nil || !approxEqual(tmsp, wantMax, 1e-12) {
				t.Errorf("TempMSP(%v, %v) = %v, %v, want %v", tt.logits, tt.T, tmsp, err, wantMax)
			}
			plain := naiveSoftmax(tt.logits, 1)
			wantMSP := 0.0
			for _, p := range plain {
				wantMSP = max(wantMSP, p)
			}
			msp, err := MSP(tt.logits)
			if err != nil || !approxEqual(msp, wantMSP, 1e-12) {
				t.Errorf("MSP(%v) = %v, %v, want %v", tt.logits, msp, err, wantMSP)
			}
		})
	}
}

func TestSoftmaxReusesBuffer(t *testing.T) {
	buf := make([]float64, 8)
	got, err := Softmax(buf, []float32{1, 2, 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &buf[0] || len(got) != 3 {
		t.Errorf("Softmax did not reuse a large enough buffer (len %d)", len(got))
	}
}

func TestArgmax(t *testing.T) {
	tests := []struct {
		logits []float32
		want   int
	}{
		{[]float32{5}, 0},
		{[]float32{1, 3, 2}, 1},
		{[]float32{-3, -1, -2}, 1},
		{[]float32{2, 7, 7, 1}, 1}, // ties pick the first
		{[]float32{0, 0, 0}, 0},
	}
	for _, tt := range tests {
		got, err := Argmax(tt.logits)
		if err != nil || got != tt.want {
			t.Errorf("Argmax(%v) = %d, %v, want %d", tt.logits, got, err, tt.want)
		}
	}
}

func TestAllMatchesIndividualScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 100 {
		logits := make([]float32, 1+rng.IntN(20))
		for j := range logits {
			logits[j] = float32(rng.NormFloat64() * 4)
		}
		T := []float64{1, 0.5, 2.5, 1000}[i%4]
		s, err := All(logits, T)
		if err != nil {
			t.Fatalf("All error: %v", err)
		}
		e, _ := Energy(logits, T)
		msp, _ := MSP(logits)
		tmsp, _ := TempMSP(logits, T)
		ml, _ := MaxLogit(logits)
		am, _ := Argmax(logits)
		probs := naiveSoftmax(logits, 1)
		checks := []struct {
			field     string
			got, want float64
		}{
			{"Energy", s.Energy, e},
			{"MSP", s.MSP, msp},
			{"TempMSP", s.TempMSP, tmsp},
			{"MaxLogit", s.MaxLogit, ml},
			{"Confidence", s.Confidence, probs[am]},
			{"Label", float64(s.Label), float64(am)},
		}
		for _, c := range checks {
			if !approxEqual(c.got, c.want, 1e-12) {
				t.Errorf("All(%v, %v).%s = %v, want %v", logits, T, c.field, c.got, c.want)
			}
		}
	}
}

func TestIDScoreOrientation(t *testing.T) {
	logits := []float32{0.5, 4, -1, 2}
	const T = 2
	s, err := All(logits, T)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		m    Method
		want float64
	}{
		{MethodEnergy, -s.Energy},
		{MethodMSP, s.MSP},
		{MethodMaxLogit, s.MaxLogit},
		{MethodTempMSP, s.TempMSP},
	}
	for _, tt := range tests {
		t.Run(string(tt.m), func(t *testing.T) {
			got, err := IDScore(tt.m, logits, T)
			if err != nil || got != tt.want {
				t.Errorf("IDScore(%s) = %v, %v, want %v", tt.m, got, err, tt.want)
			}
			fromAll, err := s.ID(tt.m)
			if err != nil || fromAll != tt.want {
				t.Errorf("Scores.ID(%s) = %v, %v, want %v", tt.m, fromAll, err, tt.want)
			}
		})
	}
	if _, err := s.ID("bogus"); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("Scores.ID(bogus) error = %v, want %v", err, ErrUnknownMethod)
	}

	// A confident prediction must get a higher ID score than a flat one
	// under every method.
	confident := []float32{10, 0, 0, 0}
	flat := []float32{1, 1, 1, 1}
	for _, m := range []Method{MethodEnergy, MethodMSP, MethodMaxLogit, MethodTempMSP} {
		hi, _ := IDScore(m, confident, 1)
		lo, _ := IDScore(m, flat, 1)
		if !(hi > lo) {
			t.Errorf("IDScore(%s): confident %v <= flat %v", m, hi, lo)
		}
	}
}

func TestParseMethod(t *testing.T) {
	tests := []struct {
		in      string
		want    Method
		wantErr bool
	}{
		{"energy", MethodEnergy, false},
		{" Energy\n", MethodEnergy, false},
		{"MSP", MethodMSP, false},
		{"maxlogit", MethodMaxLogit, false},
		{"tmsp", MethodTempMSP, false},
		{"", "", true},
		{"odin", "", true},
		{"max logit", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMethod(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseMethod(%q) = %q, %v, want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, ErrUnknownMethod) {
				t.Errorf("ParseMethod(%q) error = %v, want %v", tt.in, err, ErrUnknownMethod)
			}
		})
	}
}

func TestMethodText(t *testing.T) {
	var v struct{ M Method }
	if err := json.Unmarshal([]byte(`{"M":"TMSP"}`), &v); err != nil || v.M != MethodTempMSP {
		t.Errorf("unmarshal TMSP = %q, %v, want %q", v.M, err, MethodTempMSP)
	}
	if err := json.Unmarshal([]byte(`{"M":"odin"}`), &v); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("unmarshal odin error = %v, want %v", err, ErrUnknownMethod)
	}
	if _, err := json.Marshal(struct{ M Method }{"odin"}); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("marshal odin error = %v, want %v", err, ErrUnknownMethod)
	}
	for _, m := range []Method{MethodEnergy, MethodMSP, MethodMaxLogit, MethodTempMSP} {
		if m.UsesTemperature() != (m == MethodEnergy || m == MethodTempMSP) {
			t.Errorf("%s.UsesTemperature() = %v", m, m.UsesTemperature())
		}
	}
}

func TestAllDoesNotAllocate(t *testing.T) {
	logits := benchLogits(1000)
	for _, T := range []float64{1, 2} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := All(logits, T); err != nil {
				t.Fatal(err)
			}
			if _, err := Energy(logits, T); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("All and Energy at T=%v allocate %v times per call, want 0", T, allocs)
		}
	}
}

func benchLogits(n int) []float32 {
	rng := rand.New(rand.NewPCG(5, 6))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(rng.NormFloat64() * 3)
	}
	return l
}

func BenchmarkAll(b *testing.B) {
	for _, n := range []int{10, 1000} {
		logits := benchLogits(n)
		for _, T := range []float64{1, 2} {
			b.Run(benchName(n, T), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := All(logits, T); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkEnergy(b *testing.B) {
	for _, n := range []int{10, 1000} {
		logits := benchLogits(n)
		b.Run(benchName(n, 1), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Energy(logits, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchName(n int, T float64) string {
	return fmt.Sprintf("classes=%d/T=%g", n, T)
}
