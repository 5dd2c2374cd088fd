package adapt

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
)

// Adapted is a retrained model with the calibration bound to it.
type Adapted struct {
	Model       []byte // the .tflite file: the original with a new last layer
	Calibration *ood.Calibration
	Report      Report
}

// Adapt retrains the last layer of d's model on id and outliers (Train),
// writes the new model (Rewrite) and calibrates it to keep tpr of the ID
// features with the method and temperature of d's calibration (energy at
// d's temperature without one), scoring through the new model's own,
// requantized last layer. The CLI's adapt and the agent's scheduled one
// both come here. On ErrAccuracyDrop the report says by how much.
func Adapt(ctx context.Context, d *detect.Detector, id []Sample, outliers [][]float32, tpr float64, opts Options) (Adapted, error) {
	feat, ok := d.FeatureInfo()
	if !ok {
		_, err := d.File().FindFeatures()
		return Adapted{}, err
	}
	head, err := d.Head()
	if err != nil {
		return Adapted{}, err
	}
	newHead, rep, err := Train(ctx, head, id, outliers, opts)
	if err != nil {
		return Adapted{Report: rep}, err
	}
	features := make([][]float32, len(id))
	for i, s := range id {
		features[i] = s.Features
	}
	raw, err := Rewrite(d.File(), feat, newHead, LogitRange(newHead, features))
	if err != nil {
		return Adapted{Report: rep}, err
	}
	calib, err := calibrate(d, raw, features, tpr)
	if err != nil {
		return Adapted{Report: rep}, err
	}
	return Adapted{Model: raw, Calibration: calib, Report: rep}, nil
}

// calibrate calibrates the adapted model raw on the ID features.
func calibrate(d *detect.Detector, raw []byte, features [][]float32, tpr float64) (*ood.Calibration, error) {
	method, T := ood.MethodEnergy, d.Temperature()
	var data *ood.FeatureData
	if c := d.Calibration(); c != nil {
		method, data = c.Method, c.Features
	}
	f, err := model.OpenBytes("adapted", raw)
	if err != nil {
		return nil, err
	}
	feat, err := f.FindFeatures()
	if err != nil {
		return nil, err
	}
	head, err := detect.LoadHead(f.Model, feat)
	if err != nil {
		return nil, err
	}
	s, err := ood.NewScorer(method, T, head, data)
	if err != nil {
		return nil, err
	}
	logits := make([]float32, feat.Classes)
	scores := make([]float64, len(features))
	for i, x := range features {
		head.Logits(logits, x)
		if scores[i], err = s.Score(logits, x); err != nil {
			return nil, fmt.Errorf("adapt: calibrate: %w", err)
		}
	}
	c, err := ood.Calibrate(f.SHA256(), method, T, tpr, scores)
	if err != nil {
		return nil, err
	}
	c.Features = data
	c.ModelName = filepath.Base(d.File().Name) + " (adapted)"
	pre := d.Preprocessing()
	c.Preprocess = &pre
	// The scores above come from the recomputed last layer; on a model
	// whose logits tensor is quantized the agent must compute them the
	// same way for the threshold to hold.
	c.Logits = detect.LogitsSource(f)
	return c, nil
}
