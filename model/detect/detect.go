package detect

import (
	"fmt"
	"image"
	"log/slog"
	"path/filepath"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/preprocess"
	"github.com/ood-agent/ood-agent/model/tensor"
)

// Options configures a Detector.
type Options struct {
	Threads    int
	Preprocess preprocess.Options
	// Temperature for the energy and temperature-scaled scores; 0 means the
	// calibration's, or 1.
	Temperature float64
	// Calibration, when set, gives the threshold and the score method; it
	// must have been made for this model file. The preprocessing it
	// records fills what Preprocess leaves unset, and what Preprocess sets
	// must agree with it.
	Calibration *ood.Calibration
	// Threshold, when set, overrides the calibration's threshold, in the
	// method's natural units (see ood.NewDecision).
	Threshold *float64
	// Logger receives warnings (a calibration that does not record its
	// preprocessing, model metadata that could not be read completely); nil
	// discards them.
	Logger *slog.Logger
}

// Result is one classified and scored input.
type Result struct {
	ood.Scores
	LabelName string
	// IDScore is the calibrated method's in-distribution score (higher is
	// more in-distribution); meaningful when Calibrated.
	IDScore    float64
	Calibrated bool
	OOD        bool
}

// Detector runs one model. It is not safe for concurrent use; make one per
// goroutine.
type Detector struct {
	file   *model.File
	it     *interp.Interpreter
	pre    *preprocess.Preprocessor
	logits *tensor.Tensor
	buf    []float32
	labels []string
	calib  *ood.Calibration
	dec    ood.Decision
	temp   float64
	feat   *featureTap // nil when the model has no recognizable features
	// headLogits is set when the logits are the last layer recomputed on
	// the features (ood.LogitsHead) rather than the logits tensor.
	headLogits bool
}

// New builds a detector for the model file.
func New(f *model.File, opts Options) (*Detector, error) {
	lg, err := f.FindLogits()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if c := opts.Calibration; c != nil {
		if err := c.CheckModel(f.SHA256()); err != nil {
			return nil, fmt.Errorf("calibration for %s: %w", f.Name, err)
		}
		// A threshold holds only for scores at the temperature it was
		// computed at.
		if t := opts.Temperature; t != 0 && c.Method.UsesTemperature() && t != c.Temperature {
			return nil, fmt.Errorf("%s: temperature (--temperature) = %v but the calibration was made with %v: leave it unset to use the calibration's, or recalibrate",
				f.Name, t, c.Temperature)
		}
	}
	preserve, feat := preserveList(f, lg)
	it, err := interp.New(f.Model, interp.Options{Threads: opts.Threads, Preserve: preserve})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if len(it.Inputs()) != 1 {
		it.Close()
		return nil, fmt.Errorf("%s: %d inputs, an image classifier has one", f.Name, len(it.Inputs()))
	}
	if f.Metadata != nil && opts.Logger != nil {
		for _, w := range f.Metadata.Warnings {
			opts.Logger.Warn("model metadata: "+w, "model", f.Name)
		}
	}
	popts, err := calibratedOptions(opts, it.Input(0).Shape)
	if err != nil {
		it.Close()
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	spec, err := preprocess.SpecFor(f, it.Input(0), popts)
	if err != nil {
		it.Close()
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	d := &Detector{
		file: f, it: it, pre: preprocess.New(spec), logits: it.Tensor(lg.Tensor),
		calib: opts.Calibration, temp: opts.Temperature,
	}
	if d.calib != nil {
		d.dec = ood.NewDecision(d.calib, opts.Threshold)
	}
	if f.Metadata != nil {
		d.labels = f.Metadata.Labels()
	}
	if d.temp == 0 {
		d.temp = 1
		if d.calib != nil && d.calib.Temperature > 0 {
			d.temp = d.calib.Temperature
		}
	}
	// The softmax's beta scales logits inside the model; the scores use the
	// logits as the classifier's last layer produced them.
	d.buf = make([]float32, d.logits.NumElements())
	if err := d.initFeatures(feat); err != nil {
		it.Close()
		return nil, err
	}
	if err := d.initLogits(); err != nil {
		it.Close()
		return nil, err
	}
	// The interpreter has packed or copied what it runs on: the pages of
	// the mapped file read while loading need not stay in memory.
	f.ReleasePages()
	return d, nil
}

// calibratedOptions merges the requested preprocessing with the one the
// calibration records, refusing contradictions. shape is the model input's
// (NHWC).
func calibratedOptions(opts Options, shape []int) (preprocess.Options, error) {
	c := opts.Calibration
	if c == nil {
		return opts.Preprocess, nil
	}
	if c.Preprocess == nil {
		if opts.Logger != nil {
			for _, w := range c.Warnings() {
				opts.Logger.Warn(w, "calibration_model", c.ModelName)
			}
		}
		return opts.Preprocess, nil
	}
	req := opts.Preprocess.Request()
	if len(shape) == 4 {
		req.Height, req.Width = shape[1], shape[2]
	}
	rec, err := c.Preprocess.Resolve(req)
	if err != nil {
		return preprocess.Options{}, err
	}
	return preprocess.WithRecord(rec), nil
}

// Decision is the decision rule in force and true, or false without a
// calibration.
func (d *Detector) Decision() (ood.Decision, bool) { return d.dec, d.calib != nil }

// Preprocessing describes the preprocessing in use, as a calibration
// records it.
func (d *Detector) Preprocessing() ood.Preprocessing { return d.pre.Spec().Record() }

// Calibrate computes a calibration of the detector's model from the ID
// scores of method m (at the detector's temperature), recording with it
// what the detector computes them from: the model's name, the
// preprocessing and the logits source.
func (d *Detector) Calibrate(m ood.Method, tpr float64, scores []float64) (*ood.Calibration, error) {
	c, err := ood.Calibrate(d.file.SHA256(), m, d.temp, tpr, scores)
	if err != nil {
		return nil, err
	}
	c.ModelName = filepath.Base(d.file.Name)
	pre := d.Preprocessing()
	c.Preprocess = &pre
	c.Logits = d.LogitsSource()
	return c, nil
}

// Close releases the interpreter.
func (d *Detector) Close() { d.it.Close() }

// File returns the model file.
func (d *Detector) File() *model.File { return d.file }

// Spec is the preprocessing spec in use.
func (d *Detector) Spec() preprocess.Spec { return d.pre.Spec() }

// Labels are the class names from the model's metadata, or nil.
func (d *Detector) Labels() []string { return d.labels }

// Temperature is the temperature the scores use.
func (d *Detector) Temperature() float64 { return d.temp }

// Image classifies and scores an image.
func (d *Detector) Image(img image.Image) (Result, error) {
	if err := d.pre.Image(img, d.it.Input(0)); err != nil {
		return Result{}, err
	}
	return d.run()
}

// Tensor classifies and scores an input already preprocessed to the
// detector's Spec (see [preprocess.Spec.NewTensor]), so that preprocessing
// can run elsewhere, overlapping inference.
func (d *Detector) Tensor(in *tensor.Tensor) (Result, error) {
	dst := d.it.Input(0)
	if in.Type != dst.Type || len(in.Data) != len(dst.Data) {
		return Result{}, fmt.Errorf("input %s does not match the model's %s", in, dst)
	}
	copy(dst.Data, in.Data)
	return d.run()
}

// Gray classifies and scores an 8-bit grayscale image.
func (d *Detector) Gray(pixels []uint8, width, height int) (Result, error) {
	if err := d.pre.Gray(pixels, width, height, d.it.Input(0)); err != nil {
		return Result{}, err
	}
	return d.run()
}

// ErrNonFinite is wrapped when the model produced NaN or infinite logits.
var ErrNonFinite = ood.ErrNonFinite

func (d *Detector) run() (Result, error) {
	if err := d.it.Invoke(); err != nil {
		return Result{}, err
	}
	logits, err := d.runLogits()
	if err != nil {
		return Result{}, err
	}
	scores, err := ood.All(logits, d.temp)
	if err != nil {
		return Result{}, fmt.Errorf("scores: %w", err)
	}
	r := Result{Scores: scores}
	if scores.Label < len(d.labels) {
		r.LabelName = d.labels[scores.Label]
	}
	if d.calib != nil {
		r.IDScore, err = d.idScore(scores)
		if err != nil {
			return Result{}, err
		}
		r.Calibrated = true
		r.OOD = d.dec.IsOOD(r.IDScore)
	}
	return r, nil
}

// Logits returns the logits of the last run (valid until the next), from
// where LogitsSource says.
func (d *Detector) Logits() []float32 { return d.buf }
