package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/ood/plot"
)

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

func newCalibrateCommand() *cobra.Command {
	var (
		mf     modelFlags
		idSets []string
		tpr    float64
		method string
		out    string
		sf     scoreFlags
	)
	cmd := &cobra.Command{
		Use:   "calibrate [--model M] --id INPUT [--tpr 0.95] [--temperature T] --out C.json",
		Short: "Choose the OOD threshold that keeps a target fraction of in-distribution inputs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			if len(idSets) == 0 {
				return fmt.Errorf("--id is required: in-distribution inputs held out from training")
			}
			m, err := ood.ParseMethod(method)
			if err != nil {
				return err
			}
			if m.NeedsFeatures() || len(sf.fit) > 0 {
				return sf.calibrateFeatures(cmd, &mf, m, idSets, tpr, out)
			}
			d, err := mf.open(false)
			if err != nil {
				return err
			}
			defer d.Close()
			results, skipped, err := collectScores(d, idSets, "calibrating")
			if err != nil {
				return err
			}
			scores, err := idScores(results, m)
			if err != nil {
				return err
			}
			c, err := ood.Calibrate(d.File().SHA256(), m, d.Temperature(), tpr, scores)
			if err != nil {
				return err
			}
			c.ModelName = filepath.Base(d.File().Name)
			if err := c.Save(out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "calibrated %s on %d in-distribution inputs (%d skipped): threshold %.4f", m, c.N, skipped, c.Threshold)
			if c.EnergyThreshold != nil {
				fmt.Fprintf(w, " (energy > %.4f flags OOD)", *c.EnergyThreshold)
			}
			fmt.Fprintf(w, ", keeps %.2f%% (target %.2f%%) → %s\n", 100*c.AchievedTPR, 100*c.TargetTPR, out)
			return nil
		},
	}
	mf.register(cmd, false)
	cmd.Flags().StringArrayVar(&idSets, "id", nil, "in-distribution inputs (repeatable; see 'score' for the forms)")
	cmd.Flags().Float64Var(&tpr, "tpr", 0.95, "fraction of in-distribution inputs to keep")
	cmd.Flags().StringVar(&method, "score", "energy", "score: energy, msp, maxlogit, tmsp, react, ash, knn or support (the last four need --fit)")
	cmd.Flags().StringVar(&out, "out", "", "calibration file to write")
	sf.register(cmd, false)
	return cmd
}

func idScores(results []detect.Result, m ood.Method) ([]float64, error) {
	scores := make([]float64, len(results))
	for i, r := range results {
		s, err := r.ID(m)
		if err != nil {
			return nil, err
		}
		scores[i] = s
	}
	return scores, nil
}

// EvalRow is one line of the evaluation: one OOD set, one score.
type EvalRow struct {
	OOD     string  `json:"ood"`
	Score   string  `json:"score"`
	FPR95   float64 `json:"fpr95"`
	AUROC   float64 `json:"auroc"`
	AUPRIn  float64 `json:"aupr_in"`
	AUPROut float64 `json:"aupr_out"`
	DetErr  float64 `json:"detection_error"`
	NID     int     `json:"n_id"`
	NOOD    int     `json:"n_ood"`
}

var evalMethods = []ood.Method{ood.MethodEnergy, ood.MethodMSP, ood.MethodMaxLogit}

func newEvalCommand() *cobra.Command {
	var (
		mf       modelFlags
		idSets   []string
		oodSets  []string
		asJSON   bool
		plotPath string
		sf       scoreFlags
	)
	cmd := &cobra.Command{
		Use:   "eval [--model M] --id INPUT --ood INPUT [--ood INPUT ...] [--json] [--plot FILE.png]",
		Short: "Measure FPR95, AUROC and AUPR of energy, softmax and max-logit scores (ID positive)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(idSets) == 0 || len(oodSets) == 0 {
				return fmt.Errorf("--id and at least one --ood are required")
			}
			if sf.score != "" || len(sf.fit) > 0 {
				return sf.evalScores(cmd, &mf, idSets, oodSets, asJSON, plotPath)
			}
			d, err := mf.open(false)
			if err != nil {
				return err
			}
			defer d.Close()
			idRes, _, err := collectScores(d, idSets, "in-distribution")
			if err != nil {
				return err
			}
			if len(idRes) == 0 {
				return fmt.Errorf("no in-distribution input could be scored")
			}
			idByMethod := map[ood.Method][]float64{}
			for _, m := range evalMethods {
				if idByMethod[m], err = idScores(idRes, m); err != nil {
					return err
				}
			}
			var rows []EvalRow
			var energyPanel, mspPanel plot.Panel
			energyPanel = plot.Panel{Title: "negative energy (-E)", ID: plot.Series{Name: "in-distribution", Values: idByMethod[ood.MethodEnergy]}}
			mspPanel = plot.Panel{Title: "softmax score (MSP)", ID: plot.Series{Name: "in-distribution", Values: idByMethod[ood.MethodMSP]}}
			for _, in := range oodSets {
				res, _, err := collectScores(d, []string{in}, "out-of-distribution")
				if err != nil {
					return err
				}
				if len(res) == 0 {
					return fmt.Errorf("%s: no input could be scored", in)
				}
				name := filepath.Base(in)
				for _, m := range evalMethods {
					scores, err := idScores(res, m)
					if err != nil {
						return err
					}
					r := ood.Evaluate(idByMethod[m], scores)
					rows = append(rows, EvalRow{OOD: name, Score: string(m), FPR95: r.FPR95, AUROC: r.AUROC,
						AUPRIn: r.AUPRIn, AUPROut: r.AUPROut, DetErr: r.DetectionError, NID: r.NID, NOOD: r.NOOD})
					switch m {
					case ood.MethodEnergy:
						energyPanel.OOD = append(energyPanel.OOD, plot.Series{Name: name, Values: scores})
					case ood.MethodMSP:
						mspPanel.OOD = append(mspPanel.OOD, plot.Series{Name: name, Values: scores})
					}
				}
			}
			if plotPath != "" {
				f, err := os.Create(plotPath)
				if err != nil {
					return err
				}
				if err := plot.Histograms(f, []plot.Panel{energyPanel, mspPanel}); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
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
		},
	}
	mf.register(cmd, false)
	cmd.Flags().StringArrayVar(&idSets, "id", nil, "in-distribution inputs (repeatable)")
	cmd.Flags().StringArrayVar(&oodSets, "ood", nil, "out-of-distribution inputs (repeatable; one row group each)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&plotPath, "plot", "", "write ID-vs-OOD histograms of energy and softmax score to this PNG")
	sf.register(cmd, true)
	return cmd
}
