package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/ood/plot"
)

// scoreFlags select and fit the OOD scores of calibrate and eval: the
// feature-space scores (react, ash, knn, support) are fitted on --fit, ID
// data kept apart from the --id data that sets or checks the threshold.
type scoreFlags struct {
	score      string // eval only: a method name or "all"
	fit        []string
	fitMax     int
	percentile float64
	k          int
	bankSize   int
	storage    string
}

func (f *scoreFlags) register(cmd *cobra.Command, withScore bool) {
	if withScore {
		cmd.Flags().StringVar(&f.score, "score", "", "score to evaluate: energy, msp, maxlogit, react, ash, knn, support, or all (default: energy, msp and maxlogit)")
	}
	cmd.Flags().StringArrayVar(&f.fit, "fit", nil, "in-distribution inputs the feature scores are fitted on, apart from --id (repeatable)")
	cmd.Flags().IntVar(&f.fitMax, "fit-max", 10000, "use at most this many --fit inputs (evenly sampled)")
	cmd.Flags().Float64Var(&f.percentile, "percentile", ood.DefaultPercentile, "react clip / ash pruning percentile of ID activations")
	cmd.Flags().IntVar(&f.k, "k", ood.DefaultKNNK, "neighbour rank of knn and of the support radius")
	cmd.Flags().IntVar(&f.bankSize, "bank-size", ood.DefaultBankSize, "most ID feature vectors kept for knn and support")
	cmd.Flags().StringVar(&f.storage, "bank-storage", string(ood.StorageInt8), "feature bank storage: int8 or float16")
}

// methods are the methods eval compares.
func (f *scoreFlags) methods() ([]ood.Method, error) {
	switch f.score {
	case "":
		return ood.LogitMethods(), nil
	case "all":
		return append(ood.LogitMethods(), ood.FeatureMethods()...), nil
	}
	m, err := ood.ParseMethod(f.score)
	return []ood.Method{m}, err
}

// frameOutputs are the logits and penultimate features of scored inputs.
type frameOutputs struct {
	logits, features [][]float32
}

// collectOutputs runs the inputs through d, at most limit of them (evenly
// spread over each set) when limit > 0, and keeps their logits and
// features; failing inputs are logged, counted and skipped, as in
// collectScores.
func collectOutputs(d *detect.Detector, inputs []string, label string, limit int) (*frameOutputs, int, error) {
	o := &frameOutputs{}
	skipped, err := scoreInputs(d, inputs, limit, label, newCLILogger(os.Stderr), os.Stderr, func(detect.Result) error {
		f, err := d.Features()
		if err != nil {
			return err
		}
		o.logits = append(o.logits, slices.Clone(d.Logits()))
		o.features = append(o.features, slices.Clone(f))
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if len(o.logits) == 0 {
		return nil, skipped, fmt.Errorf("%s: no input could be scored", label)
	}
	return o, skipped, nil
}

// fitter fits feature methods on the --fit data, read once.
type fitter struct {
	flags *scoreFlags
	d     *detect.Detector
	data  *frameOutputs
}

func (ft *fitter) fit(m ood.Method) (*ood.FeatureData, error) {
	if !m.NeedsFeatures() {
		return nil, nil
	}
	if len(ft.flags.fit) == 0 {
		return nil, fmt.Errorf("score %s is fitted on in-distribution features: give --fit DATA (kept apart from --id)", m)
	}
	if ft.data == nil {
		o, _, err := collectOutputs(ft.d, ft.flags.fit, "fitting", ft.flags.fitMax)
		if err != nil {
			return nil, err
		}
		ft.data = o
	}
	head, err := ft.d.Head()
	if err != nil {
		return nil, err
	}
	return ood.Fit(m, ft.data.features, ood.FitOptions{
		Percentile: ft.flags.percentile, K: ft.flags.k, BankSize: ft.flags.bankSize, Storage: ood.Storage(ft.flags.storage),
		Dots: head.Dots,
	})
}

// scoreOutputs scores every collected input with one scorer.
func scoreOutputs(s ood.Scorer, o *frameOutputs) ([]float64, error) {
	out := make([]float64, len(o.logits))
	for i := range out {
		v, err := s.Score(o.logits[i], o.features[i])
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// scorer fits method m when it needs it and builds its scorer.
func (ft *fitter) scorer(m ood.Method) (ood.Scorer, *ood.FeatureData, error) {
	fd, err := ft.fit(m)
	if err != nil {
		return nil, nil, err
	}
	var head *ood.Head
	if m == ood.MethodReAct || m == ood.MethodASH {
		if head, err = ft.d.Head(); err != nil {
			return nil, nil, err
		}
	}
	s, err := ood.NewScorer(m, ft.d.Temperature(), head, fd)
	return s, fd, err
}

// calibrateFeatures is calibrate for a feature method (or any method when
// --fit is given): fit on --fit, threshold on --id.
func (f *scoreFlags) calibrateFeatures(cmd *cobra.Command, mf *modelFlags, m ood.Method, idSets []string, tpr float64, out string) error {
	d, err := mf.open(false, newCLILogger(cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	defer d.Close()
	ft := &fitter{flags: f, d: d}
	s, fd, err := ft.scorer(m)
	if err != nil {
		return err
	}
	id, skipped, err := collectOutputs(d, idSets, "calibrating", 0)
	if err != nil {
		return err
	}
	scores, err := scoreOutputs(s, id)
	if err != nil {
		return err
	}
	c, err := saveCalibration(d, m, tpr, scores, fd, out)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "calibrated %s on %d in-distribution inputs (%d skipped): threshold %.4f, keeps %.2f%% (target %.2f%%) → %s\n",
		m, c.N, skipped, c.Threshold, 100*c.AchievedTPR, 100*c.TargetTPR, out)
	if fd != nil && fd.Bank != nil {
		fmt.Fprintf(w, "feature bank: %d vectors × %d features, %s, %d bytes\n", fd.Bank.N, fd.Bank.Dim, fd.Bank.Storage, fd.Bank.Bytes())
	}
	return nil
}

// evalScores is eval over the methods of --score, feature methods fitted on
// --fit.
func (f *scoreFlags) evalScores(cmd *cobra.Command, mf *modelFlags, idSets, oodSets []string, asJSON bool, plotPath string) error {
	methods, err := f.methods()
	if err != nil {
		return err
	}
	d, err := mf.open(false, newCLILogger(cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	defer d.Close()
	ft := &fitter{flags: f, d: d}
	scorers := make([]ood.Scorer, len(methods))
	for i, m := range methods {
		if scorers[i], _, err = ft.scorer(m); err != nil {
			return err
		}
	}
	id, _, err := collectOutputs(d, idSets, "in-distribution", 0)
	if err != nil {
		return err
	}
	idScores := make([][]float64, len(methods))
	for i, s := range scorers {
		if idScores[i], err = scoreOutputs(s, id); err != nil {
			return err
		}
	}
	var rows []EvalRow
	panels := make([]plot.Panel, len(methods))
	for i, m := range methods {
		panels[i] = plot.Panel{Title: string(m) + " score", ID: plot.Series{Name: "in-distribution", Values: idScores[i]}}
	}
	for _, in := range oodSets {
		o, _, err := collectOutputs(d, []string{in}, "out-of-distribution", 0)
		if err != nil {
			return err
		}
		for i, s := range scorers {
			scores, err := scoreOutputs(s, o)
			if err != nil {
				return err
			}
			panels[i].OOD = append(panels[i].OOD, plot.Series{Name: filepath.Base(in), Values: scores})
			r := ood.Evaluate(idScores[i], scores)
			rows = append(rows, EvalRow{OOD: filepath.Base(in), Score: string(methods[i]), FPR95: r.FPR95, AUROC: r.AUROC,
				AUPRIn: r.AUPRIn, AUPROut: r.AUPROut, DetErr: r.DetectionError, NID: r.NID, NOOD: r.NOOD})
		}
	}
	if plotPath != "" {
		if err := plot.WriteFile(plotPath, panels); err != nil {
			return err
		}
	}
	if asJSON {
		return jsonEncoder(cmd.OutOrStdout()).Encode(map[string]any{"results": rows})
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ood\tscore\tFPR95 ↓\tAUROC ↑\tAUPR-In ↑\tAUPR-Out ↑\tn_id\tn_ood")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t%.2f%%\t%.2f%%\t%.2f%%\t%d\t%d\n", r.OOD, r.Score,
			100*r.FPR95, 100*r.AUROC, 100*r.AUPRIn, 100*r.AUPROut, r.NID, r.NOOD)
	}
	return tw.Flush()
}
