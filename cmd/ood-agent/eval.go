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

// DeployedRow is the outcome of the deployed decision (calibration and
// its threshold) on one OOD set, ID positive.
type DeployedRow struct {
	OOD    string `json:"ood"`
	Method string `json:"method"`
	// Threshold is in ID-score orientation (OOD iff score < threshold);
	// EnergyThreshold is the same for the energy method as an energy (OOD
	// iff energy > energy_threshold).
	Threshold       float64  `json:"threshold"`
	EnergyThreshold *float64 `json:"energy_threshold,omitempty"`
	TPR             float64  `json:"tpr"`
	FPR             float64  `json:"fpr"`
	NID             int      `json:"n_id"`
	NOOD            int      `json:"n_ood"`
}

func newDeployedRow(name string, dec ood.Decision, id, oodRes []detect.Result) DeployedRow {
	row := DeployedRow{OOD: name, Method: string(dec.Method), Threshold: dec.Threshold,
		TPR: keptFraction(id), FPR: keptFraction(oodRes), NID: len(id), NOOD: len(oodRes)}
	if e, ok := dec.EnergyThreshold(); ok {
		row.EnergyThreshold = &e
	}
	return row
}

// keptFraction is the fraction of results the decision kept as
// in-distribution.
func keptFraction(rs []detect.Result) float64 {
	kept := 0
	for _, r := range rs {
		if !r.OOD {
			kept++
		}
	}
	return float64(kept) / float64(len(rs))
}

func printDeployed(w io.Writer, rows []DeployedRow) error {
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nat the deployed threshold (%s, threshold %.4g", rows[0].Method, rows[0].Threshold)
	if e := rows[0].EnergyThreshold; e != nil {
		fmt.Fprintf(w, ": energy > %.4g is OOD", *e)
	}
	fmt.Fprintln(w, "):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ood\tTPR (ID kept) ↑\tFPR (OOD missed) ↓\tn_id\tn_ood")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.2f%%\t%.2f%%\t%d\t%d\n", r.OOD, 100*r.TPR, 100*r.FPR, r.NID, r.NOOD)
	}
	return tw.Flush()
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
		Use:   "eval [--model M] [--calibration C] --id INPUT --ood INPUT [--ood INPUT ...] [--json] [--plot FILE.png]",
		Short: "Measure FPR95, AUROC and AUPR of energy, softmax and max-logit scores (ID positive)",
		Long: `Measure how well each score separates in-distribution inputs (positive)
from each out-of-distribution set: FPR at 95% TPR, AUROC, AUPR-In, AUPR-Out.
With a calibration (--calibration, or the one embedded with the demo model)
it also reports the rates at the deployed threshold: TPR, the fraction of
in-distribution inputs kept, and FPR, the fraction of OOD inputs let through
as in-distribution.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(idSets) == 0 || len(oodSets) == 0 {
				return fmt.Errorf("--id and at least one --ood are required")
			}
			if sf.score != "" || len(sf.fit) > 0 {
				return sf.evalScores(cmd, &mf, idSets, oodSets, asJSON, plotPath)
			}
			log := newCLILogger(cmd.ErrOrStderr())
			d, err := mf.open(true, log)
			if err != nil {
				return err
			}
			defer d.Close()
			idRes, _, err := collectScores(d, idSets, "in-distribution", log, cmd.ErrOrStderr())
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
			var (
				rows     []EvalRow
				deployed []DeployedRow
			)
			var energyPanel, mspPanel plot.Panel
			energyPanel = plot.Panel{Title: "negative energy (-E)", ID: plot.Series{Name: "in-distribution", Values: idByMethod[ood.MethodEnergy]}}
			mspPanel = plot.Panel{Title: "softmax score (MSP)", ID: plot.Series{Name: "in-distribution", Values: idByMethod[ood.MethodMSP]}}
			for _, in := range oodSets {
				res, _, err := collectScores(d, []string{in}, "out-of-distribution", log, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				if len(res) == 0 {
					return fmt.Errorf("%s: no input could be scored", in)
				}
				name := filepath.Base(in)
				if dec, ok := d.Decision(); ok {
					deployed = append(deployed, newDeployedRow(name, dec, idRes, res))
				}
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
				return jsonEncoder(cmd.OutOrStdout()).Encode(map[string]any{"results": rows, "deployed": deployed})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ood\tscore\tFPR95 ↓\tAUROC ↑\tAUPR-In ↑\tAUPR-Out ↑\tn_id\tn_ood")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t%.2f%%\t%.2f%%\t%.2f%%\t%d\t%d\n", r.OOD, r.Score,
					100*r.FPR95, 100*r.AUROC, 100*r.AUPRIn, 100*r.AUPROut, r.NID, r.NOOD)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return printDeployed(cmd.OutOrStdout(), deployed)
		},
	}
	mf.register(cmd, true)
	cmd.Flags().StringArrayVar(&idSets, "id", nil, "in-distribution inputs (repeatable)")
	cmd.Flags().StringArrayVar(&oodSets, "ood", nil, "out-of-distribution inputs (repeatable; one row group each)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&plotPath, "plot", "", "write ID-vs-OOD histograms of energy and softmax score to this PNG")
	sf.register(cmd, true)
	return cmd
}
