package detect

import (
	"fmt"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/kernels"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/tensor"
)

// featureTap reads a classifier's penultimate features after each run.
type featureTap struct {
	info   model.Features
	tensor *tensor.Tensor
	buf    []float32
	head   *ood.Head
	scorer ood.Scorer // for calibrations of feature methods
}

// preserveList is the tensors the interpreter must keep readable: the
// logits and, when the model has them, the penultimate features.
func preserveList(f *model.File, lg model.Logits) ([]int, *model.Features) {
	feat, err := f.FindFeatures()
	if err != nil {
		return []int{lg.Tensor}, nil
	}
	return []int{lg.Tensor, feat.Tensor}, &feat
}

// initFeatures sets up the feature tap and, for a calibration of a feature
// method, its scorer.
func (d *Detector) initFeatures(feat *model.Features) error {
	if feat != nil {
		t := d.it.Tensor(feat.Tensor)
		d.feat = &featureTap{info: *feat, tensor: t, buf: make([]float32, t.NumElements())}
	}
	if d.calib == nil || !d.calib.Method.NeedsFeatures() {
		return nil
	}
	if d.feat == nil {
		_, err := d.file.FindFeatures()
		return fmt.Errorf("%s: calibration method %s: %w", d.file.Name, d.calib.Method, err)
	}
	if fd := d.calib.Features; fd != nil && fd.Bank != nil && fd.Bank.Dim != feat.Dim {
		return fmt.Errorf("%s: calibration bank has %d features, the model %d", d.file.Name, fd.Bank.Dim, feat.Dim)
	}
	head, err := d.Head()
	if err != nil {
		return err
	}
	s, err := ood.NewScorer(d.calib.Method, d.temp, head, d.calib.Features)
	if err != nil {
		return fmt.Errorf("%s: %w", d.file.Name, err)
	}
	d.feat.scorer = s
	return nil
}

// LogitsSource is where a detector without a calibration takes the
// logits of model f from: the last layer recomputed in float
// (ood.LogitsHead) when the model's logits tensor is quantized and its last
// layer is found, the tensor itself (ood.LogitsModel) otherwise. With a
// calibration, the detector takes them from where the calibration records.
func LogitsSource(f *model.File) string {
	lg, err := f.FindLogits()
	if err != nil {
		return ood.LogitsModel
	}
	q := f.Model.Subgraphs[0].Tensors[lg.Tensor].Quant
	if q == nil || len(q.Scale) == 0 {
		return ood.LogitsModel
	}
	if _, err := f.FindFeatures(); err != nil {
		return ood.LogitsModel
	}
	return ood.LogitsHead
}

// LogitsSource is where the detector's logits come from (see the function
// LogitsSource); a calibration made with the detector records it.
func (d *Detector) LogitsSource() string {
	if d.headLogits {
		return ood.LogitsHead
	}
	return ood.LogitsModel
}

// initLogits chooses where the logits come from.
func (d *Detector) initLogits() error {
	src := LogitsSource(d.file)
	if d.calib != nil {
		src = d.calib.Logits
	}
	if src != ood.LogitsHead {
		return nil
	}
	h, err := d.Head()
	if err != nil {
		return fmt.Errorf("logits %q: %w", src, err)
	}
	if h.Classes != len(d.buf) {
		return fmt.Errorf("%s: logits %q: the last layer has %d classes, the logits tensor %d values", d.file.Name, src, h.Classes, len(d.buf))
	}
	d.headLogits = true
	return nil
}

// runLogits reads the logits of the run that just finished into d.buf.
func (d *Detector) runLogits() ([]float32, error) {
	if !d.headLogits {
		return d.logits.Dequantize(d.buf)
	}
	f, err := d.Features()
	if err != nil {
		return nil, err
	}
	d.feat.head.Logits(d.buf, f)
	return d.buf, nil
}

// idScore is the calibrated method's ID score of the last run.
func (d *Detector) idScore(scores ood.Scores) (float64, error) {
	if d.feat == nil || d.feat.scorer == nil {
		return scores.ID(d.calib.Method)
	}
	f, err := d.Features()
	if err != nil {
		return 0, err
	}
	return d.feat.scorer.Score(d.buf, f)
}

// FeatureInfo describes the model's penultimate features; ok is false when
// the model has none FindFeatures recognizes.
func (d *Detector) FeatureInfo() (info model.Features, ok bool) {
	if d.feat == nil {
		return model.Features{}, false
	}
	return d.feat.info, true
}

// Features returns the penultimate features of the last run as real
// numbers (valid until the next run). It does not allocate.
func (d *Detector) Features() ([]float32, error) {
	if d.feat == nil {
		_, err := d.file.FindFeatures()
		return nil, fmt.Errorf("%s: %w", d.file.Name, err)
	}
	return d.feat.tensor.Dequantize(d.feat.buf)
}

// Head returns the model's last layer as real numbers, loaded on first use.
func (d *Detector) Head() (*ood.Head, error) {
	if d.feat == nil {
		_, err := d.file.FindFeatures()
		return nil, fmt.Errorf("%s: %w", d.file.Name, err)
	}
	if d.feat.head == nil {
		h, err := loadHead(d.file.Model, d.feat.info, d.it.KernelLevel())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.file.Name, err)
		}
		d.feat.head = h
	}
	return d.feat.head, nil
}

// LoadHead dequantizes the weights and bias of a classifier's last layer,
// so that its logits can be recomputed on changed features; the head
// computes on the kernels of the level in use.
func LoadHead(m *model.Model, f model.Features) (*ood.Head, error) {
	return loadHead(m, f, kernels.LevelAuto)
}

func loadHead(m *model.Model, f model.Features, level kernels.Level) (*ood.Head, error) {
	dots, err := rowDots(level)
	if err != nil {
		return nil, err
	}
	sg := &m.Subgraphs[0]
	w, err := constant(m, &sg.Tensors[f.Weights])
	if err != nil {
		return nil, err
	}
	var b []float32
	if f.Bias >= 0 {
		if b, err = constant(m, &sg.Tensors[f.Bias]); err != nil {
			return nil, err
		}
	}
	// The same clamp as the interpreter's fully-connected kernel, so the
	// recomputed logits match the model's.
	lo, hi := kernels.ActivationRangeFloat(f.Activation)
	h, err := ood.NewHead(w, b, f.Classes, f.Dim, lo, hi)
	if err != nil {
		return nil, err
	}
	h.Dots = dots
	return h, nil
}

// rowDots is the kernels' row products at level for the scorers.
func rowDots(level kernels.Level) (ood.RowDots, error) {
	float, err := kernels.RowDotsF32(level)
	if err != nil {
		return ood.RowDots{}, err
	}
	int8s, err := kernels.RowDotsI8(level)
	if err != nil {
		return ood.RowDots{}, err
	}
	halves, err := kernels.RowDotsF16(level)
	if err != nil {
		return ood.RowDots{}, err
	}
	return ood.RowDots{Float: float, Int8: int8s, Half: halves}, nil
}

// constant dequantizes a constant tensor of the model.
func constant(m *model.Model, mt *model.Tensor) ([]float32, error) {
	if mt.Buffer <= 0 || mt.Buffer >= len(m.Buffers) {
		return nil, fmt.Errorf("tensor %q is not constant", mt.Name)
	}
	data := m.Buffers[mt.Buffer]
	if !tensor.Aligned(data, mt.Type.Size()) {
		data = append(tensor.AlignedBytes(len(data))[:0], data...)
	}
	t := &tensor.Tensor{Name: mt.Name, Type: mt.Type, Shape: mt.Shape, Data: data, Quant: mt.Quant, Const: true}
	if len(data) < t.Bytes() {
		return nil, fmt.Errorf("tensor %q has %d bytes, want %d", mt.Name, len(data), t.Bytes())
	}
	return t.Dequantize(nil)
}

// Calibration is the calibration in use, or nil.
func (d *Detector) Calibration() *ood.Calibration { return d.calib }
