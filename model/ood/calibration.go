package ood

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ood-agent/ood-agent/internal/atomicfile"
)

// FormatVersion is the version of the calibration file format written by
// this package. Parse rejects files of any other version.
const FormatVersion = 1

// SummaryBins is the number of histogram bins Calibrate stores in a
// Summary.
const SummaryBins = 20

var (
	// ErrModelMismatch reports a calibration used with a model file other
	// than the one it was computed for.
	ErrModelMismatch = errors.New("ood: model does not match calibration")
	// ErrInvalidCalibration reports a calibration with missing or
	// inconsistent fields.
	ErrInvalidCalibration = errors.New("ood: invalid calibration")
	// ErrTPR reports a target true positive rate outside (0, 1].
	ErrTPR = errors.New("ood: target TPR must be in (0, 1]")
)

// Threshold picks the ID-score threshold tau that keeps at least targetTPR
// of idScores as in-distribution, where an input is kept iff its score is
// >= tau.
//
// Let s be idScores sorted ascending and n = len(s). Threshold returns
// tau = s[k] (0-based), where k is the largest index with
// (n−k)/n >= targetTPR; in exact arithmetic k = floor((1−targetTPR)·n).
// The inequality is checked in float64 so that rounding in the product
// cannot break it. Every sample at index >= k is kept, and so is every
// sample equal to tau at a lower index, hence
//
//	achieved = #{i : s[i] >= tau} / n >= (n−k)/n >= targetTPR.
//
// Ties therefore only raise achieved above the target. Conversely any
// threshold above tau keeps at most n−k−1 samples, which by the choice of k
// is below the target, so tau is the largest threshold that meets it.
//
// It returns an error for an empty slice, a non-finite score or a target
// outside (0, 1].
func Threshold(idScores []float64, targetTPR float64) (tau float64, achieved float64, err error) {
	if err := checkTPR(targetTPR); err != nil {
		return 0, 0, err
	}
	if err := checkScores(idScores); err != nil {
		return 0, 0, err
	}
	s := slices.Clone(idScores)
	slices.Sort(s)
	n := len(s)
	tau = s[thresholdIndex(n, targetTPR)]
	kept := n - lowerBound(s, tau)
	return tau, float64(kept) / float64(n), nil
}

// thresholdIndex returns the largest k in [0, n) with (n−k)/n >= tpr, for
// n >= 1 and tpr in (0, 1]. The floor formula gives the answer up to
// rounding; the loops correct it by at most a step or two.
func thresholdIndex(n int, tpr float64) int {
	k := int(math.Floor((1 - tpr) * float64(n)))
	k = min(max(k, 0), n-1)
	for k > 0 && float64(n-k)/float64(n) < tpr {
		k--
	}
	for k+1 < n && float64(n-k-1)/float64(n) >= tpr {
		k++
	}
	return k
}

// lowerBound returns the index of the first element of the ascending slice
// s that is >= x, or len(s).
func lowerBound(s []float64, x float64) int {
	i, _ := slices.BinarySearch(s, x)
	return i
}

// Calibration is a threshold computed on in-distribution data for one model
// file and scoring method, together with a summary of the scores it was
// computed from. It is stored as JSON.
type Calibration struct {
	// Version is the file format version, FormatVersion.
	Version int `json:"version"`
	// ModelSHA256 is the lower-case hex SHA-256 of the model file bytes.
	ModelSHA256 string `json:"model_sha256"`
	// ModelName is an optional human-readable model name.
	ModelName string `json:"model_name,omitempty"`
	// Method is the scoring method the threshold applies to.
	Method Method `json:"method"`
	// Temperature is the softmax or energy temperature used for scoring.
	Temperature float64 `json:"temperature"`
	// TargetTPR is the requested fraction of ID samples to keep.
	TargetTPR float64 `json:"target_tpr"`
	// AchievedTPR is the fraction of calibration samples actually kept;
	// it is never below TargetTPR.
	AchievedTPR float64 `json:"achieved_tpr"`
	// N is the number of calibration samples.
	N int `json:"n"`
	// Threshold is tau in ID-score orientation: an input with ID score
	// >= Threshold is in-distribution.
	Threshold float64 `json:"threshold"`
	// EnergyThreshold is −Threshold, set only for MethodEnergy, so that
	// "energy > EnergyThreshold flags OOD" reads in the paper's terms.
	EnergyThreshold *float64 `json:"energy_threshold,omitempty"`
	// Created is when the calibration was computed.
	Created time.Time `json:"created"`
	// Summary describes the calibration ID scores, for drift comparison.
	Summary Summary `json:"summary"`
	// Preprocess is how images became model inputs when the scores were
	// computed. Files written before it was recorded lack it: nil means
	// unknown (see Warnings).
	Preprocess *Preprocessing `json:"preprocess,omitempty"`
	// Features is the data a feature-space method was fitted on (clip
	// value, feature bank); set only for those methods (see Fit).
	Features *FeatureData `json:"features,omitempty"`
	// Logits is where the scores' logits came from, LogitsModel or
	// LogitsHead; the threshold holds only for logits from the same place.
	Logits string `json:"logits,omitempty"`
}

// Where the logits come from (Calibration.Logits).
const (
	// LogitsModel, the empty string (and the only source of files written
	// before the field), is the model's logits tensor, dequantized.
	LogitsModel = ""
	// LogitsHead is the last layer recomputed in float (Head) on the
	// dequantized penultimate features. A quantized model's logits tensor
	// rounds every logit to a step of its scale (0.17 on the demo int8
	// model), so that scores of a single logit, such as maxlogit, pile up
	// in ties at the threshold; the recomputed logits do not.
	LogitsHead = "head"
)

// Calibrate computes the calibration of a model from the ID scores of an
// in-distribution data set, scored with method at temperature T. The
// threshold is chosen by Threshold. modelSHA256 is the hex SHA-256 of the
// model file (see SHA256Hex); it is stored in lower case.
func Calibrate(modelSHA256 string, method Method, T float64, targetTPR float64, idScores []float64) (*Calibration, error) {
	sha := strings.ToLower(strings.TrimSpace(modelSHA256))
	if err := checkSHA(sha); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCalibration, err)
	}
	if !method.Valid() {
		return nil, fmt.Errorf("%w %q", ErrUnknownMethod, string(method))
	}
	if err := checkTemperature(T); err != nil {
		return nil, err
	}
	tau, achieved, err := Threshold(idScores, targetTPR)
	if err != nil {
		return nil, err
	}
	sum, err := Summarize(idScores, SummaryBins)
	if err != nil {
		return nil, err
	}
	c := &Calibration{
		Version:     FormatVersion,
		ModelSHA256: sha,
		Method:      method,
		Temperature: T,
		TargetTPR:   targetTPR,
		AchievedTPR: achieved,
		N:           len(idScores),
		Threshold:   tau,
		Created:     time.Now().UTC().Truncate(time.Second),
		Summary:     sum,
	}
	c.setEnergyThreshold()
	return c, nil
}

func (c *Calibration) setEnergyThreshold() {
	if c.Method == MethodEnergy {
		e := -c.Threshold
		c.EnergyThreshold = &e
	}
}

// Decision returns the calibration's decision rule, with its own
// threshold; use NewDecision to override the threshold.
func (c *Calibration) Decision() Decision { return NewDecision(c, nil) }

// CheckModel returns an error wrapping ErrModelMismatch unless sha256hex,
// the hex SHA-256 of the model file in use, is the one c was computed for.
// Case is ignored.
func (c *Calibration) CheckModel(sha256hex string) error {
	got := strings.ToLower(strings.TrimSpace(sha256hex))
	if got == strings.ToLower(c.ModelSHA256) {
		return nil
	}
	return fmt.Errorf("%w: calibration is for model %s, loaded model is %s",
		ErrModelMismatch, shortHash(c.ModelSHA256), shortHash(got))
}

// shortHash abbreviates a hex hash to 12 characters for messages.
func shortHash(h string) string {
	if h == "" {
		return "(none)"
	}
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// SHA256Hex returns the lower-case hex SHA-256 of b, the form stored in
// Calibration.ModelSHA256.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Validate reports the first missing or inconsistent field of c, wrapped in
// ErrInvalidCalibration.
func (c *Calibration) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCalibration, err)
	}
	return nil
}

func (c *Calibration) validate() error {
	if c.Version != FormatVersion {
		return fmt.Errorf("unsupported format version %d (want %d)", c.Version, FormatVersion)
	}
	if err := checkSHA(c.ModelSHA256); err != nil {
		return err
	}
	if !c.Method.Valid() {
		return fmt.Errorf("%w %q", ErrUnknownMethod, string(c.Method))
	}
	if err := checkTemperature(c.Temperature); err != nil {
		return err
	}
	if err := checkTPR(c.TargetTPR); err != nil {
		return fmt.Errorf("target_tpr: %w", err)
	}
	if !(c.AchievedTPR >= c.TargetTPR && c.AchievedTPR <= 1) {
		return fmt.Errorf("achieved_tpr %v outside [target_tpr %v, 1]", c.AchievedTPR, c.TargetTPR)
	}
	if c.N < 1 {
		return fmt.Errorf("n is %d, want at least 1", c.N)
	}
	if !finite(c.Threshold) {
		return fmt.Errorf("threshold %v is not finite", c.Threshold)
	}
	switch {
	case c.Method == MethodEnergy && c.EnergyThreshold == nil:
		return errors.New("energy_threshold missing for method energy")
	case c.Method == MethodEnergy && *c.EnergyThreshold != -c.Threshold:
		return fmt.Errorf("energy_threshold %v is not −threshold (threshold %v)", *c.EnergyThreshold, c.Threshold)
	case c.Method != MethodEnergy && c.EnergyThreshold != nil:
		return fmt.Errorf("energy_threshold set for method %s", c.Method)
	}
	if err := c.Summary.validate(c.N); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if c.Logits != LogitsModel && c.Logits != LogitsHead {
		return fmt.Errorf("logits %q: want %q or none", c.Logits, LogitsHead)
	}
	if c.Preprocess != nil {
		if err := c.Preprocess.validate(); err != nil {
			return fmt.Errorf("preprocess: %w", err)
		}
	}
	return c.validateFeatures()
}

// MarshalJSON implements json.Marshaler. It refuses to encode an invalid
// calibration, so that Save and Write never produce a file Load rejects.
func (c Calibration) MarshalJSON() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	// The conversion drops the methods, so the encoder does not recurse.
	type plain Calibration
	return json.Marshal(plain(c))
}

// Write writes c to w as indented JSON followed by a newline.
func (c *Calibration) Write(w io.Writer) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// Save writes c to the file at path. It writes a temporary file in the same
// directory and renames it, so readers never see a partly written file.
func (c *Calibration) Save(path string) error {
	var b bytes.Buffer
	if err := c.Write(&b); err != nil {
		return fmt.Errorf("save calibration %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("save calibration: %w", err)
	}
	return nil
}

// Load reads and validates the calibration file at path.
func Load(path string) (*Calibration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load calibration: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("load calibration %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a calibration from JSON. For method energy a
// missing energy_threshold is derived from threshold; a present one must
// equal −threshold.
func Parse(data []byte) (*Calibration, error) {
	var c Calibration
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("parse calibration: %w", err)
	}
	c.ModelSHA256 = strings.ToLower(c.ModelSHA256)
	if c.Method == MethodEnergy && c.EnergyThreshold == nil {
		c.setEnergyThreshold()
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func checkSHA(h string) error {
	if h == "" {
		return errors.New("missing model_sha256")
	}
	if len(h) != 2*sha256.Size {
		return fmt.Errorf("model_sha256 %q has %d characters, want %d", h, len(h), 2*sha256.Size)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return fmt.Errorf("model_sha256 %q is not hex", h)
	}
	return nil
}

func checkTPR(tpr float64) error {
	if !(tpr > 0 && tpr <= 1) {
		return fmt.Errorf("%w: got %v", ErrTPR, tpr)
	}
	return nil
}

// checkScores rejects empty slices and non-finite scores.
func checkScores(s []float64) error {
	if len(s) == 0 {
		return fmt.Errorf("scores: %w", ErrEmpty)
	}
	for i, v := range s {
		if !finite(v) {
			return fmt.Errorf("score %d is %v: %w", i, v, ErrNonFinite)
		}
	}
	return nil
}

func finite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}
