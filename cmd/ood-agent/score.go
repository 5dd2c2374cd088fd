package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/dataset"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/preprocess"
	"github.com/ood-agent/ood-agent/model/zoo"
)

// modelFlags are the flags every scoring command shares.
type modelFlags struct {
	model       string
	calibration string
	threads     int
	crop        string
	color       string
	mean, std   []float32
	temperature float64
}

func (f *modelFlags) register(cmd *cobra.Command, withCalibration bool) {
	cmd.Flags().StringVar(&f.model, "model", "", "model file (default: the embedded "+zoo.Default+" demo model)")
	if withCalibration {
		cmd.Flags().StringVar(&f.calibration, "calibration", "", "calibration file (with the embedded model: its embedded calibration)")
	}
	cmd.Flags().IntVar(&f.threads, "threads", 1, "goroutines the interpreter may use")
	cmd.Flags().StringVar(&f.crop, "crop", "center", "fit images: center, stretch or pad")
	cmd.Flags().StringVar(&f.color, "color", "auto", "auto, gray or rgb (must match the model)")
	cmd.Flags().Float32SliceVar(&f.mean, "mean", nil, "normalization mean, overriding the model metadata")
	cmd.Flags().Float32SliceVar(&f.std, "std", nil, "normalization std, overriding the model metadata")
	cmd.Flags().Float64Var(&f.temperature, "temperature", 0, "temperature T of the energy score (default: the calibration's, or 1)")
}

// open loads the model (and calibration, when wanted) and builds a detector.
func (f *modelFlags) open(withCalibration bool) (*detect.Detector, error) {
	file, embeddedCalib, err := openModel(f.model)
	if err != nil {
		return nil, err
	}
	var calib *ood.Calibration
	if withCalibration {
		switch {
		case f.calibration != "":
			calib, err = ood.Load(f.calibration)
			if err != nil {
				return nil, err
			}
		case embeddedCalib != nil:
			calib = embeddedCalib
		}
	}
	return detect.New(file, detect.Options{
		Threads:     f.threads,
		Temperature: f.temperature,
		Calibration: calib,
		Preprocess:  preprocess.Options{Crop: preprocess.Crop(f.crop), Color: f.color, Mean: f.mean, Std: f.std},
	})
}

// openModel opens a model file, or an embedded zoo model when path is empty
// or names one ("zoo:NAME").
func openModel(path string) (*model.File, *ood.Calibration, error) {
	if path == "" || strings.HasPrefix(path, "zoo:") {
		name := strings.TrimPrefix(path, "zoo:")
		if name == "" {
			name = zoo.Default
		}
		return zoo.Open(name)
	}
	f, err := model.Open(path)
	return f, nil, err
}

// scoreItem runs one input of a set through the detector.
func scoreItem(d *detect.Detector, set *dataset.Set, i int) (string, detect.Result, error) {
	if set.Images != nil {
		r, err := d.Gray(set.Images.At(i), set.Images.Width, set.Images.Height)
		return fmt.Sprintf("%s[%d]", set.Name, i), r, err
	}
	path := set.Files[i]
	data, err := os.ReadFile(path)
	if err != nil {
		return path, detect.Result{}, err
	}
	img, err := preprocess.Decode(data, preprocess.Limits{MaxBytes: 20 << 20, MaxPixels: 40_000_000})
	if err != nil {
		return path, detect.Result{}, err
	}
	r, err := d.Image(img)
	return path, r, err
}

// progress draws a progress bar on stderr when it is a terminal.
type progress struct {
	w     io.Writer
	label string
	total int
	last  time.Time
	tty   bool
}

func newProgress(label string, total int) *progress {
	st, err := os.Stderr.Stat()
	return &progress{w: os.Stderr, label: label, total: total, tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) update(done int) {
	if !p.tty || p.total < 200 || (time.Since(p.last) < 100*time.Millisecond && done < p.total) {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := width * done / p.total
	fmt.Fprintf(p.w, "\r%-24s [%s%s] %3d%% %d/%d", p.label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), 100*done/p.total, done, p.total)
	if done == p.total {
		fmt.Fprintln(p.w)
	}
}

type scoreLine struct {
	Input      string   `json:"input"`
	Label      int      `json:"label"`
	LabelName  string   `json:"label_name,omitempty"`
	Confidence float64  `json:"confidence"`
	Energy     float64  `json:"energy"`
	MSP        float64  `json:"msp"`
	MaxLogit   float64  `json:"maxlogit"`
	OOD        *bool    `json:"ood,omitempty"`
	Threshold  *float64 `json:"threshold,omitempty"`
	Error      string   `json:"error,omitempty"`
}

func newScoreCommand() *cobra.Command {
	var (
		mf     modelFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "score [--model M] [--calibration C] INPUT...",
		Short: "Classify and score images: label, confidence, energy, msp, maxlogit, and the verdict",
		Long: `Classify and score images. INPUT is an image file (PNG, JPEG), a directory
searched recursively for images, an MNIST-format idx3 file (.gz or not), or
noise:uniform[:N] / noise:gaussian[:N]. With a calibration (given, or embedded
with the demo model) each input also gets its in/out-of-distribution verdict.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := mf.open(true)
			if err != nil {
				return err
			}
			defer d.Close()
			out := cmd.OutOrStdout()
			var tw *tabwriter.Writer
			if !asJSON {
				tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "input\tlabel\tconfidence\tenergy\tmsp\tmaxlogit\tverdict")
			}
			failed := 0
			for _, arg := range args {
				set, err := dataset.Open(arg)
				if err != nil {
					return err
				}
				for i := 0; i < set.Len(); i++ {
					name, r, err := scoreItem(d, set, i)
					line := scoreLine{Input: name}
					if err != nil {
						failed++
						line.Error = err.Error()
					} else {
						line.Label, line.LabelName, line.Confidence = r.Label, r.LabelName, r.Confidence
						line.Energy, line.MSP, line.MaxLogit = r.Energy, r.MSP, r.MaxLogit
						if r.Calibrated {
							v := r.OOD
							line.OOD = &v
						}
					}
					if asJSON {
						if err := writeJSONLine(out, line); err != nil {
							return err
						}
						continue
					}
					printScoreLine(tw, line)
				}
			}
			if tw != nil {
				tw.Flush()
			}
			if failed > 0 {
				return fmt.Errorf("%d inputs could not be scored", failed)
			}
			return nil
		},
	}
	mf.register(cmd, true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per input")
	return cmd
}

func printScoreLine(tw *tabwriter.Writer, l scoreLine) {
	if l.Error != "" {
		fmt.Fprintf(tw, "%s\terror: %s\n", l.Input, l.Error)
		return
	}
	verdict := "-"
	if l.OOD != nil {
		verdict = "in-distribution"
		if *l.OOD {
			verdict = "OUT-OF-DISTRIBUTION"
		}
	}
	label := fmt.Sprint(l.Label)
	if l.LabelName != "" {
		label += " " + l.LabelName
	}
	fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%s\n", l.Input, label, l.Confidence, l.Energy, l.MSP, l.MaxLogit, verdict)
}

func writeJSONLine(w io.Writer, v any) error {
	return jsonEncoder(w).Encode(v)
}

// collectScores scores every input of the sets and returns the per-input
// results; inputs that fail are counted and skipped.
func collectScores(d *detect.Detector, inputs []string, label string) ([]detect.Result, int, error) {
	var results []detect.Result
	skipped := 0
	for _, in := range inputs {
		set, err := dataset.Open(in)
		if err != nil {
			return nil, 0, err
		}
		bar := newProgress(label+" "+set.Name, set.Len())
		for i := 0; i < set.Len(); i++ {
			_, r, err := scoreItem(d, set, i)
			if err != nil {
				if errors.Is(err, ood.ErrNonFinite) {
					return nil, 0, err
				}
				skipped++
				continue
			}
			results = append(results, r)
			bar.update(i + 1)
		}
	}
	return results, skipped, nil
}
