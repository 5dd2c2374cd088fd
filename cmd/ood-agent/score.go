package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

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
	// threshold overrides the calibration's, in the method's units (an
	// energy for the energy method), as decision.threshold does.
	threshold *float64
}

func (f *modelFlags) register(cmd *cobra.Command, withCalibration bool) {
	cmd.Flags().StringVar(&f.model, "model", "", "model file (default: the embedded "+zoo.Default+" demo model)")
	if withCalibration {
		cmd.Flags().StringVar(&f.calibration, "calibration", "", "calibration file (with the embedded model: its embedded calibration)")
		cmd.Flags().Var(optionalFloat{&f.threshold}, "threshold", "override the calibrated threshold, like decision.threshold: an energy for the energy method (E above it is OOD), else a score (below it is OOD)")
	}
	cmd.Flags().IntVar(&f.threads, "threads", 1, "goroutines the interpreter may use")
	cmd.Flags().StringVar(&f.crop, "crop", "", "fit images: center, stretch or pad (default: the calibration's, or center)")
	cmd.Flags().StringVar(&f.color, "color", "auto", "auto, gray or rgb (must match the model)")
	cmd.Flags().Float32SliceVar(&f.mean, "mean", nil, "normalization mean on 0–255 pixels (default: the calibration's, else the model metadata's)")
	cmd.Flags().Float32SliceVar(&f.std, "std", nil, "normalization std on 0–255 pixels (default: the calibration's, else the model metadata's)")
	cmd.Flags().Float64Var(&f.temperature, "temperature", 0, "temperature T of the energy score (default: the calibration's, or 1)")
}

// open loads the model (and calibration, when wanted) and builds a
// detector. The calibration's recorded preprocessing fills the flags left
// unset; a flag that contradicts it is an error naming both values.
// Warnings go to log.
func (f *modelFlags) open(withCalibration bool, log *slog.Logger) (*detect.Detector, error) {
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
		Threshold:   f.threshold,
		Logger:      log,
		Preprocess:  preprocess.Options{Crop: preprocess.Crop(f.crop), Color: f.color, Mean: f.mean, Std: f.std},
	})
}

// optionalFloat is a float flag that stays nil unless given.
type optionalFloat struct{ p **float64 }

func (o optionalFloat) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return strconv.FormatFloat(**o.p, 'g', -1, 64)
}

func (o optionalFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("want a finite number, got %q", s)
	}
	*o.p = &v
	return nil
}

func (optionalFloat) Type() string { return "float" }

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

// scoreItem runs one input of a set through the detector, decoding image
// files with dec (its buffers are reused from one input to the next).
func scoreItem(d *detect.Detector, dec *preprocess.Decoder, set *dataset.Set, i int) (string, detect.Result, error) {
	if set.Images != nil {
		r, err := d.Gray(set.Images.At(i), set.Images.Width, set.Images.Height)
		return fmt.Sprintf("%s[%d]", set.Name, i), r, err
	}
	path := set.Files[i]
	data, err := os.ReadFile(path)
	if err != nil {
		return path, detect.Result{}, err
	}
	img, err := dec.Decode(data, preprocess.Limits{MaxBytes: 20 << 20, MaxPixels: 40_000_000})
	if err != nil {
		return path, detect.Result{}, err
	}
	r, err := d.Image(img)
	return path, r, err
}

// newProgress returns a progress bar on w when w is a terminal, and nil
// otherwise (a pipe or a log file gets no control characters).
func newProgress(w io.Writer, label string, total int) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// logIgnored says which files of a directory input were not read.
func logIgnored(log *slog.Logger, set *dataset.Set) {
	for _, p := range set.Ignored {
		log.Warn("input skipped", "input", p, "reason", "not an image by its extension (PNG, JPEG, BMP, GIF, WebP)")
	}
}

// newCLILogger returns the logger of the one-shot commands: text on w
// (stderr).
func newCLILogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type scoreLine struct {
	Input      string  `json:"input"`
	Label      int     `json:"label"`
	LabelName  string  `json:"label_name,omitempty"`
	Confidence float64 `json:"confidence"`
	Energy     float64 `json:"energy"`
	MSP        float64 `json:"msp"`
	MaxLogit   float64 `json:"maxlogit"`
	// With a calibration: the method, its in-distribution score (−energy
	// for energy) and threshold in that orientation (OOD iff score <
	// threshold), and for energy the same threshold as an energy (OOD iff
	// energy > energy_threshold).
	Method          string   `json:"method,omitempty"`
	Score           *float64 `json:"score,omitempty"`
	Threshold       *float64 `json:"threshold,omitempty"`
	EnergyThreshold *float64 `json:"energy_threshold,omitempty"`
	OOD             *bool    `json:"ood,omitempty"`
	Error           string   `json:"error,omitempty"`
}

func newScoreCommand() *cobra.Command {
	var (
		mf     modelFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "score [--model M] [--calibration C] INPUT...",
		Short: "Classify and score images: label, confidence, energy, msp, maxlogit, and the verdict",
		Long: `Classify and score images. INPUT is an image file (PNG, JPEG, BMP, GIF,
WebP), a directory searched recursively for images, an MNIST-format idx3 file
(.gz or not), or noise:uniform[:N] / noise:gaussian[:N]. With a calibration
(given, or embedded with the demo model) each input also gets its
in/out-of-distribution verdict; "score" is then the calibrated method's
in-distribution score (−energy for the energy method), OOD when below the
threshold.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := newCLILogger(cmd.ErrOrStderr())
			d, err := mf.open(true, log)
			if err != nil {
				return err
			}
			defer d.Close()
			out := cmd.OutOrStdout()
			dec, calibrated := d.Decision()
			var tw *tabwriter.Writer
			if !asJSON {
				if calibrated {
					fmt.Fprintf(out, "decision: %s\n", dec)
				}
				tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "input\tlabel\tconfidence\tenergy\tmsp\tmaxlogit\tverdict")
			}
			failed := 0
			var decoder preprocess.Decoder
			for _, arg := range args {
				set, err := dataset.Open(arg)
				if err != nil {
					return err
				}
				logIgnored(log, set)
				for i := 0; i < set.Len(); i++ {
					name, r, err := scoreItem(d, &decoder, set, i)
					line := scoreLine{Input: name}
					if err != nil {
						failed++
						line.Error = err.Error()
					} else {
						line.Label, line.LabelName, line.Confidence = r.Label, r.LabelName, r.Confidence
						line.Energy, line.MSP, line.MaxLogit = r.Energy, r.MSP, r.MaxLogit
						if r.Calibrated {
							line.setDecision(dec, r)
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

// setDecision fills the calibrated fields of l.
func (l *scoreLine) setDecision(dec ood.Decision, r detect.Result) {
	isOOD, score, threshold := r.OOD, r.IDScore, dec.Threshold
	l.Method, l.OOD, l.Score, l.Threshold = string(dec.Method), &isOOD, &score, &threshold
	if e, ok := dec.EnergyThreshold(); ok {
		l.EnergyThreshold = &e
	}
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
// results and how many inputs were skipped (see scoreInputs).
func collectScores(d *detect.Detector, inputs []string, label string, log *slog.Logger, progressOut io.Writer) ([]detect.Result, int, error) {
	var results []detect.Result
	skipped, err := scoreInputs(d, inputs, 0, label, log, progressOut, func(r detect.Result) error {
		results = append(results, r)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return results, skipped, nil
}

// scoreInputs runs the inputs of the sets through d — at most limit of
// them, spread evenly over each set, when limit > 0 — and passes each
// result to use. Inputs that fail are logged with their reason, counted
// and skipped; non-finite logits stop it, since they mean a broken model
// rather than a bad input. Progress goes to progressOut when it is a
// terminal.
func scoreInputs(d *detect.Detector, inputs []string, limit int, label string, log *slog.Logger, progressOut io.Writer, use func(detect.Result) error) (skipped int, err error) {
	var dec preprocess.Decoder
	for _, in := range inputs {
		set, err := dataset.Open(in)
		if err != nil {
			return 0, err
		}
		logIgnored(log, set)
		n, take := set.Len(), set.Len()
		if limit > 0 {
			take = min(n, limit/len(inputs))
		}
		bar := newProgress(progressOut, label+" "+set.Name, take)
		for j := 0; j < take; j++ {
			name, r, err := scoreItem(d, &dec, set, j*n/take)
			if bar != nil {
				bar.Add(1)
			}
			if err != nil {
				if errors.Is(err, ood.ErrNonFinite) {
					return 0, fmt.Errorf("%s: %w", name, err)
				}
				log.Warn("input skipped", "input", name, "err", err)
				skipped++
				continue
			}
			if err := use(r); err != nil {
				return 0, err
			}
		}
	}
	return skipped, nil
}
