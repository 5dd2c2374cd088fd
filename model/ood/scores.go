package ood

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Errors returned for inputs no score can be computed from. They are
// returned wrapped; test for them with errors.Is.
var (
	// ErrEmpty reports an empty logits or score slice.
	ErrEmpty = errors.New("ood: empty input")
	// ErrNonFinite reports a NaN or infinite logit or score.
	ErrNonFinite = errors.New("ood: non-finite value")
	// ErrTemperature reports a temperature that is not a positive finite number.
	ErrTemperature = errors.New("ood: temperature must be positive and finite")
	// ErrUnknownMethod reports a scoring method name ParseMethod does not know.
	ErrUnknownMethod = errors.New("ood: unknown scoring method")
)

// Method names an OOD scoring function.
type Method string

// The supported scoring methods.
const (
	// MethodEnergy is the free energy of Liu et al.; its ID score is −E.
	MethodEnergy Method = "energy"
	// MethodMSP is the maximum softmax probability of Hendrycks & Gimpel.
	MethodMSP Method = "msp"
	// MethodMaxLogit is the largest logit.
	MethodMaxLogit Method = "maxlogit"
	// MethodTempMSP is the maximum softmax probability at temperature T.
	MethodTempMSP Method = "tmsp"
)

// ParseMethod returns the method named s, ignoring case and surrounding
// spaces. It returns an error wrapping ErrUnknownMethod for any other name.
func ParseMethod(s string) (Method, error) {
	m := Method(strings.ToLower(strings.TrimSpace(s)))
	if !m.Valid() {
		return "", fmt.Errorf("%w %q (want energy, msp, maxlogit, tmsp, react, ash, knn or support)", ErrUnknownMethod, s)
	}
	return m, nil
}

// Valid reports whether m is one of the supported methods.
func (m Method) Valid() bool {
	switch m {
	case MethodEnergy, MethodMSP, MethodMaxLogit, MethodTempMSP:
		return true
	}
	return m.NeedsFeatures()
}

// UsesTemperature reports whether the score of m depends on the temperature.
func (m Method) UsesTemperature() bool {
	return m == MethodEnergy || m == MethodTempMSP
}

// String returns the method name.
func (m Method) String() string { return string(m) }

// MarshalText implements encoding.TextMarshaler. It refuses to encode an
// unknown method so that invalid names never reach a file.
func (m Method) MarshalText() ([]byte, error) {
	if !m.Valid() {
		return nil, fmt.Errorf("%w %q", ErrUnknownMethod, string(m))
	}
	return []byte(m), nil
}

// UnmarshalText implements encoding.TextUnmarshaler using ParseMethod, so
// configuration and JSON decoders reject unknown names.
func (m *Method) UnmarshalText(text []byte) error {
	p, err := ParseMethod(string(text))
	if err != nil {
		return err
	}
	*m = p
	return nil
}

// Scores holds every score of one logits vector. All fills it in a single
// pass over the logits without allocating.
type Scores struct {
	// Label is the index of the largest logit (the first one on ties).
	Label int
	// Confidence is the softmax probability (T = 1) of Label.
	Confidence float64
	// Energy is the free energy at the temperature given to All; lower
	// means more in-distribution.
	Energy float64
	// MSP is the maximum softmax probability at T = 1. It equals
	// Confidence and is kept under its detector name for clarity.
	MSP float64
	// TempMSP is the maximum softmax probability at the temperature given
	// to All.
	TempMSP float64
	// MaxLogit is the largest logit.
	MaxLogit float64
}

// ID returns the ID score of method m, where higher means more
// in-distribution: −Energy for MethodEnergy, otherwise the score itself.
func (s Scores) ID(m Method) (float64, error) {
	switch m {
	case MethodEnergy:
		return -s.Energy, nil
	case MethodMSP:
		return s.MSP, nil
	case MethodMaxLogit:
		return s.MaxLogit, nil
	case MethodTempMSP:
		return s.TempMSP, nil
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownMethod, string(m))
}

// All computes every score of logits at temperature T. It returns an error
// for empty logits, non-finite logits or an invalid T, and never allocates.
func All(logits []float32, T float64) (Scores, error) {
	if err := checkTemperature(T); err != nil {
		return Scores{}, err
	}
	label, maxv, err := scan(logits)
	if err != nil {
		return Scores{}, err
	}
	var sum1, sumT float64
	if T == 1 {
		sum1 = sumExp(logits, maxv, 1)
		sumT = sum1
	} else {
		for _, v := range logits {
			d := float64(v) - maxv
			sum1 += math.Exp(d)
			sumT += math.Exp(d / T)
		}
	}
	e, err := energy(maxv, sumT, T)
	if err != nil {
		return Scores{}, err
	}
	msp := 1 / sum1
	return Scores{
		Label:      label,
		Confidence: msp,
		Energy:     e,
		MSP:        msp,
		TempMSP:    1 / sumT,
		MaxLogit:   maxv,
	}, nil
}

// Energy returns the free energy E = −T·log Σᵢ exp(logitsᵢ/T). It shifts
// the logits by their maximum before exponentiating, so large logits or
// small temperatures do not overflow, and accumulates in float64.
func Energy(logits []float32, T float64) (float64, error) {
	if err := checkTemperature(T); err != nil {
		return 0, err
	}
	_, maxv, err := scan(logits)
	if err != nil {
		return 0, err
	}
	return energy(maxv, sumExp(logits, maxv, T), T)
}

// energy combines the maximum logit and the shifted exponential sum. Only
// an absurdly large T can overflow it; that is reported rather than
// returning an infinite score.
func energy(maxv, sum, T float64) (float64, error) {
	e := -maxv - T*math.Log(sum)
	if math.IsInf(e, 0) {
		return 0, fmt.Errorf("energy overflows at temperature %v: %w", T, ErrNonFinite)
	}
	return e, nil
}

// MSP returns the maximum softmax probability of logits.
func MSP(logits []float32) (float64, error) {
	return TempMSP(logits, 1)
}

// TempMSP returns the maximum softmax probability of logits/T.
func TempMSP(logits []float32, T float64) (float64, error) {
	if err := checkTemperature(T); err != nil {
		return 0, err
	}
	_, maxv, err := scan(logits)
	if err != nil {
		return 0, err
	}
	// The largest term of the shifted sum is exp(0) = 1, so the maximum
	// probability is the reciprocal of the sum.
	return 1 / sumExp(logits, maxv, T), nil
}

// MaxLogit returns the largest logit.
func MaxLogit(logits []float32) (float64, error) {
	_, maxv, err := scan(logits)
	return maxv, err
}

// Argmax returns the index of the largest logit, the first one on ties.
func Argmax(logits []float32) (int, error) {
	i, _, err := scan(logits)
	return i, err
}

// Softmax writes the softmax probabilities of logits/T into dst, growing it
// only if its capacity is too small, and returns dst[:len(logits)].
func Softmax(dst []float64, logits []float32, T float64) ([]float64, error) {
	if err := checkTemperature(T); err != nil {
		return dst, err
	}
	_, maxv, err := scan(logits)
	if err != nil {
		return dst, err
	}
	if cap(dst) < len(logits) {
		dst = make([]float64, len(logits))
	}
	dst = dst[:len(logits)]
	var sum float64
	for i, v := range logits {
		e := math.Exp((float64(v) - maxv) / T)
		dst[i] = e
		sum += e
	}
	for i := range dst {
		dst[i] /= sum
	}
	return dst, nil
}

// IDScore returns the ID score of logits under method m: higher means more
// in-distribution. It is −Energy for MethodEnergy and the plain score for
// the others. T is validated for every method, even those that ignore it,
// so that a misconfigured temperature is reported whatever the method.
func IDScore(m Method, logits []float32, T float64) (float64, error) {
	switch m {
	case MethodEnergy:
		e, err := Energy(logits, T)
		return -e, err
	case MethodMSP:
		if err := checkTemperature(T); err != nil {
			return 0, err
		}
		return MSP(logits)
	case MethodMaxLogit:
		if err := checkTemperature(T); err != nil {
			return 0, err
		}
		return MaxLogit(logits)
	case MethodTempMSP:
		return TempMSP(logits, T)
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownMethod, string(m))
}

// scan validates logits and returns the index and value of the maximum.
func scan(logits []float32) (int, float64, error) {
	if len(logits) == 0 {
		return 0, 0, fmt.Errorf("logits: %w", ErrEmpty)
	}
	best := 0
	maxv := math.Inf(-1)
	for i, v := range logits {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, 0, fmt.Errorf("logit %d is %v: %w", i, v, ErrNonFinite)
		}
		if f > maxv {
			best, maxv = i, f
		}
	}
	return best, maxv, nil
}

// sumExp returns Σ exp((logitsᵢ − maxv)/T). Every term is at most 1 and the
// maximum contributes exactly 1, so the sum lies in [1, len(logits)].
func sumExp(logits []float32, maxv, T float64) float64 {
	var sum float64
	if T == 1 {
		for _, v := range logits {
			sum += math.Exp(float64(v) - maxv)
		}
		return sum
	}
	for _, v := range logits {
		sum += math.Exp((float64(v) - maxv) / T)
	}
	return sum
}

func checkTemperature(T float64) error {
	if !(T > 0) || math.IsInf(T, 1) {
		return fmt.Errorf("%w: got %v", ErrTemperature, T)
	}
	return nil
}
