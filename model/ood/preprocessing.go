package ood

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Preprocessing records how images became model inputs when a calibration
// was made. A threshold is only valid for scores computed the same way: a
// different normalization or crop shifts every score.
type Preprocessing struct {
	// Width and Height are the model input's size in pixels.
	Width  int `json:"width"`
	Height int `json:"height"`
	// Color is "gray" or "rgb".
	Color string `json:"color"`
	// Mean and Std normalize 0–255 pixel values as (x − mean)/std; one
	// value applies to every channel.
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
	// Crop is how an image of another aspect ratio was fit: center,
	// stretch or pad.
	Crop string `json:"crop"`
	// Resize is the interpolation, "bilinear".
	Resize string `json:"resize"`
}

// ErrPreprocessMismatch is wrapped by the errors of Resolve.
var ErrPreprocessMismatch = errors.New("preprocessing does not match the calibration")

// PreprocessMismatchError is one setting that contradicts the preprocessing
// a calibration was made with.
type PreprocessMismatchError struct {
	// Key is the configuration key, e.g. "preprocess.mean"; Flag the
	// command-line flag of the same setting, e.g. "--mean".
	Key, Flag string
	// Got is the value asked for, Want the calibration's.
	Got, Want string
}

func (e *PreprocessMismatchError) Error() string {
	return fmt.Sprintf("%s (%s) = %s but the calibration was made with %s: leave it unset to use the calibration's, or recalibrate",
		e.Key, e.Flag, e.Got, e.Want)
}

// Unwrap lets errors.Is find ErrPreprocessMismatch.
func (e *PreprocessMismatchError) Unwrap() error { return ErrPreprocessMismatch }

// Resolve returns the preprocessing to use when req is asked for with a
// calibration made with p. Fields of req left unset (zero, empty, or
// "auto" for Color; Resize is not chosen by users) take p's value; a set field that differs from p's is
// an error. Every contradiction is reported, each as a
// *PreprocessMismatchError. Width and Height are the model input's and
// must equal p's whenever both are known.
func (p *Preprocessing) Resolve(req Preprocessing) (Preprocessing, error) {
	out := *p
	out.Mean, out.Std = slices.Clone(p.Mean), slices.Clone(p.Std)
	var errs []error
	mismatch := func(key, flag, got, want string) {
		errs = append(errs, &PreprocessMismatchError{Key: key, Flag: flag, Got: got, Want: want})
	}
	if req.Width != 0 && req.Height != 0 && (req.Width != p.Width || req.Height != p.Height) {
		mismatch("model input size", "--model", fmt.Sprintf("%d×%d", req.Width, req.Height), fmt.Sprintf("%d×%d", p.Width, p.Height))
	}
	if req.Color != "" && req.Color != "auto" && req.Color != p.Color {
		mismatch("preprocess.color", "--color", req.Color, p.Color)
	}
	if req.Crop != "" && req.Crop != p.Crop {
		mismatch("preprocess.crop", "--crop", req.Crop, p.Crop)
	}
	if len(req.Mean) > 0 && !sameChannels(req.Mean, p.Mean) {
		mismatch("preprocess.mean", "--mean", fmt.Sprint(req.Mean), fmt.Sprint(p.Mean))
	}
	if len(req.Std) > 0 && !sameChannels(req.Std, p.Std) {
		mismatch("preprocess.std", "--std", fmt.Sprint(req.Std), fmt.Sprint(p.Std))
	}
	return out, errors.Join(errs...)
}

// sameChannels compares normalization values as the preprocessor uses them
// (float32, one value standing for every channel).
func sameChannels(a, b []float64) bool {
	n := max(len(a), len(b))
	if (len(a) != 1 && len(a) != n) || (len(b) != 1 && len(b) != n) {
		return false
	}
	for i := range n {
		if float32(a[min(i, len(a)-1)]) != float32(b[min(i, len(b)-1)]) {
			return false
		}
	}
	return true
}

func (p *Preprocessing) validate() error {
	if p.Width < 1 || p.Height < 1 {
		return fmt.Errorf("input size %d×%d", p.Width, p.Height)
	}
	switch p.Color {
	case "gray", "rgb":
	default:
		return fmt.Errorf("color %q, want gray or rgb", p.Color)
	}
	switch p.Crop {
	case "center", "stretch", "pad":
	default:
		return fmt.Errorf("crop %q, want center, stretch or pad", p.Crop)
	}
	if p.Resize != "bilinear" {
		return fmt.Errorf("resize %q, want bilinear", p.Resize)
	}
	if err := checkNormalization("mean", p.Mean, false); err != nil {
		return err
	}
	return checkNormalization("std", p.Std, true)
}

func checkNormalization(name string, v []float64, nonZero bool) error {
	if len(v) == 0 {
		return fmt.Errorf("%s missing", name)
	}
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s %v must be finite", name, v)
		}
		if nonZero && x == 0 {
			return fmt.Errorf("%s %v must be non-zero", name, v)
		}
	}
	return nil
}

// Warnings returns what a user should know before relying on c: today,
// that a file written before the preprocessing was recorded cannot be
// checked against the preprocessing in use.
func (c *Calibration) Warnings() []string {
	if c.Preprocess == nil {
		return []string{"the calibration does not record the preprocessing it was made with (written by an older version); " +
			"it is assumed to match the preprocessing in use — recalibrate to record it"}
	}
	return nil
}
