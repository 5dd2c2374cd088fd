package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/internal/atomicfile"
	"github.com/ood-agent/ood-agent/model/adapt"
	"github.com/ood-agent/ood-agent/model/dataset"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
)

func newAdaptCommand() *cobra.Command {
	var (
		mf           modelFlags
		idSets       []string
		idLabels     string
		falseAlarms  string
		oodSets      []string
		out          string
		calibOut     string
		featuresFile string
		tpr          float64
		opts         adapt.Options
	)
	cmd := &cobra.Command{
		Use:   "adapt --model M.tflite [--calibration C.json] --id INPUT [--false-alarms DIR] [--ood INPUT] --out NEW.tflite",
		Short: "Retrain the last layer from field feedback and write a new model with its calibration",
		Long: `Retrain only the classifier's last layer (DFR-style logistic regression on
the penultimate features, warm-started from the current layer) on a
class-balanced set of in-distribution inputs, with the energy-bounded hinge of
Liu et al. on confirmed out-of-distribution inputs.

--id inputs are labeled by the current model's own predictions (the frames it
kept) unless --id-labels gives an idx label file for a single idx --id input.
--false-alarms DIR holds flagged inputs that were in-distribution after all,
in one subdirectory per true class (a label name or a class index). --ood
inputs are confirmed out-of-distribution.

Held-out ID accuracy is measured before and after; when it drops by more than
--max-drop the command fails and writes nothing. Otherwise it writes NEW.tflite
(only the last layer differs) and NEW.calibration.json bound to it, each
through a temporary file and a rename, the calibration last: a crash leaves
either nothing or a complete model, never a changed current model.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" || (len(idSets) == 0 && featuresFile == "") {
				return fmt.Errorf("--out and --id (or --features) are required")
			}
			if calibOut == "" {
				calibOut = calibrationPath(out)
			}
			if mf.model != "" && sameFile(mf.model, out) {
				return fmt.Errorf("--out %s is the model in use: write the adapted model to a new file", out)
			}
			d, err := mf.open(true, newCLILogger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			defer d.Close()
			var (
				id       []adapt.Sample
				outliers [][]float32
			)
			if featuresFile != "" {
				if len(idSets) > 0 || falseAlarms != "" || len(oodSets) > 0 {
					return fmt.Errorf("--features replaces --id, --false-alarms and --ood")
				}
				id, outliers, err = featureSamples(d, featuresFile)
			} else {
				id, err = labeledInputs(d, idSets, idLabels, falseAlarms)
				if err == nil && len(oodSets) > 0 {
					var o *frameOutputs
					if o, _, err = collectOutputs(d, oodSets, "confirmed OOD", 0); err == nil {
						outliers = o.features
					}
				}
			}
			if err != nil {
				return err
			}
			res, err := adapt.Adapt(cmd.Context(), d, id, outliers, tpr, opts)
			w := cmd.OutOrStdout()
			if rep := res.Report; rep.HeldOut > 0 {
				fmt.Fprintf(w, "trained on %d ID samples (class-balanced) and %d confirmed OOD with hinge weight %.3g; ID accuracy %.2f%% → %.2f%% cross-validated (%d samples, %d folds)%s\n",
					rep.Train, rep.Outliers, rep.Lambda, 100*rep.AccuracyBefore, 100*rep.AccuracyAfter, rep.HeldOut, rep.Folds, stepNote(rep.Step))
			}
			if err != nil {
				return err
			}
			raw, calib := res.Model, res.Calibration
			if err := atomicfile.WriteFile(out, raw, 0o644); err != nil {
				return err
			}
			if err := calib.Save(calibOut); err != nil {
				return err
			}
			fmt.Fprintf(w, "wrote %s and %s (%s threshold %.4f)\n", out, calibOut, calib.Method, calib.Threshold)
			return nil
		},
	}
	mf.register(cmd, true)
	cmd.Flags().StringArrayVar(&idSets, "id", nil, "in-distribution inputs (repeatable)")
	cmd.Flags().StringVar(&idLabels, "id-labels", "", "idx label file for a single idx --id input (default: the model's predictions)")
	cmd.Flags().StringVar(&falseAlarms, "false-alarms", "", "directory of false alarms, one subdirectory per true class")
	cmd.Flags().StringArrayVar(&oodSets, "ood", nil, "confirmed out-of-distribution inputs (repeatable)")
	cmd.Flags().StringVar(&featuresFile, "features", "", "train from a feedback export's features.jsonl (ood-agent feedback export) instead of images")
	cmd.Flags().StringVar(&out, "out", "", "adapted model file to write (not the model in use)")
	cmd.Flags().StringVar(&calibOut, "calibration-out", "", "calibration of the adapted model (default: next to --out)")
	cmd.Flags().Float64Var(&tpr, "tpr", 0.95, "fraction of in-distribution inputs the new threshold keeps")
	cmd.Flags().IntVar(&opts.Epochs, "epochs", 300, "full-batch training steps")
	cmd.Flags().Float64Var(&opts.Lambda, "lambda", 0.1, "weight of the energy hinge")
	cmd.Flags().Float64Var(&opts.MaxAccuracyDrop, "max-drop", 0.01, "largest allowed drop of cross-validated ID accuracy (0.01 = one point)")
	return cmd
}

// calibrationPath is NAME.calibration.json next to NAME.tflite.
func calibrationPath(modelPath string) string {
	ext := filepath.Ext(modelPath)
	return modelPath[:len(modelPath)-len(ext)] + ".calibration.json"
}

func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(sa, sb)
}

// labeledInputs collects the features and classes of the ID inputs and the
// false alarms.
func labeledInputs(d *detect.Detector, idSets []string, idLabels, falseAlarms string) ([]adapt.Sample, error) {
	var labels []uint8
	if idLabels != "" {
		if len(idSets) != 1 {
			return nil, fmt.Errorf("--id-labels needs exactly one --id input, got %d", len(idSets))
		}
		var err error
		if labels, err = dataset.ReadIdxLabels(idLabels); err != nil {
			return nil, err
		}
	}
	id, skipped, err := collectOutputs(d, idSets, "in-distribution", 0)
	if err != nil {
		return nil, err
	}
	if labels != nil && (skipped > 0 || len(labels) != len(id.features)) {
		return nil, fmt.Errorf("--id-labels has %d labels for %d inputs (%d unreadable)", len(labels), len(id.features)+skipped, skipped)
	}
	var samples []adapt.Sample
	for i, f := range id.features {
		label, _ := ood.Argmax(id.logits[i])
		if labels != nil {
			label = int(labels[i])
		}
		samples = append(samples, adapt.Sample{Features: f, Label: label, Key: adapt.Key(fmt.Sprint("id ", i))})
	}
	if falseAlarms == "" {
		return samples, nil
	}
	dirs, err := os.ReadDir(falseAlarms)
	if err != nil {
		return nil, fmt.Errorf("false alarms: %w", err)
	}
	for _, e := range dirs {
		if !e.IsDir() {
			continue
		}
		class, err := feedback.ClassIndex(e.Name(), d.Labels())
		if err != nil {
			return nil, fmt.Errorf("false alarms: %w", err)
		}
		o, _, err := collectOutputs(d, []string{filepath.Join(falseAlarms, e.Name())}, "false alarms", 0)
		if err != nil {
			return nil, err
		}
		for i, f := range o.features {
			samples = append(samples, adapt.Sample{Features: f, Label: class, Key: adapt.Key(fmt.Sprint("false alarm ", e.Name(), " ", i))})
		}
	}
	return samples, nil
}

// featureSamples reads a feedback export's features.jsonl into training
// data for d's model.
func featureSamples(d *detect.Detector, path string) ([]adapt.Sample, [][]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	lines, err := feedback.ReadFeatures(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(lines) == 0 {
		return nil, nil, fmt.Errorf("%s: no frames", path)
	}
	id, outliers, err := feedback.Samples(lines, d.File().SHA256(), d.Labels())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return id, outliers, nil
}

// stepNote says how much of the retrained layer's change adapt kept when
// the whole change failed the accuracy check.
func stepNote(step float64) string {
	if step >= 1 {
		return ""
	}
	return fmt.Sprintf("; the whole change lost too much accuracy, %.0f%% of it kept", 100*step)
}
