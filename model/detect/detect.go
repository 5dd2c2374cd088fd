package detect

import (
	"fmt"
	"image"

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
	// must have been made for this model file.
	Calibration *ood.Calibration
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
	temp   float64
	feat   *featureTap // nil when the model has no recognizable features
}

// New builds a detector for the model file.
func New(f *model.File, opts Options) (*Detector, error) {
	lg, err := f.FindLogits()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if opts.Calibration != nil {
		if err := opts.Calibration.CheckModel(f.SHA256()); err != nil {
			return nil, fmt.Errorf("calibration for %s: %w", f.Name, err)
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
	spec, err := preprocess.SpecFor(f, it.Input(0), opts.Preprocess)
	if err != nil {
		it.Close()
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	d := &Detector{
		file: f, it: it, pre: preprocess.New(spec), logits: it.Tensor(lg.Tensor),
		calib: opts.Calibration, temp: opts.Temperature,
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
	return d, nil
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
	logits, err := d.logits.Dequantize(d.buf)
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
		r.OOD = d.calib.IsOOD(r.IDScore)
	}
	return r, nil
}

// Logits returns the logits of the last run (valid until the next).
func (d *Detector) Logits() []float32 { return d.buf }
