package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
)

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
		Long: `Score held-out in-distribution inputs and write the threshold that keeps
the --tpr fraction of them. The calibration file also records the model's
SHA-256 and the preprocessing (input size, colour, mean/std, crop, resize);
the agent and the other commands use that preprocessing by default and refuse
settings that contradict it.`,
		Args: cobra.NoArgs,
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
			log := newCLILogger(cmd.ErrOrStderr())
			d, err := mf.open(false, log)
			if err != nil {
				return err
			}
			defer d.Close()
			results, skipped, err := collectScores(d, idSets, "calibrating", log, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			scores, err := idScores(results, m)
			if err != nil {
				return err
			}
			c, err := saveCalibration(d, m, tpr, scores, nil, out)
			if err != nil {
				return err
			}
			pre := *c.Preprocess
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "calibrated %s on %d in-distribution inputs (%d skipped): threshold %.4f", m, c.N, skipped, c.Threshold)
			if c.EnergyThreshold != nil {
				fmt.Fprintf(w, " (energy > %.4f flags OOD)", *c.EnergyThreshold)
			}
			fmt.Fprintf(w, ", keeps %.2f%% (target %.2f%%) → %s\n", 100*c.AchievedTPR, 100*c.TargetTPR, out)
			fmt.Fprintf(w, "preprocessing recorded: %d×%d %s, mean %v, std %v, crop %s, %s resize\n",
				pre.Width, pre.Height, pre.Color, pre.Mean, pre.Std, pre.Crop, pre.Resize)
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

// saveCalibration computes the threshold from the in-distribution scores,
// stamps the calibration with the model's name and the preprocessing it was
// made with (so the agent can refuse a contradicting config), and writes it
// to out. fd is the fitted feature data of a feature score, nil otherwise.
func saveCalibration(d *detect.Detector, m ood.Method, tpr float64, scores []float64, fd *ood.FeatureData, out string) (*ood.Calibration, error) {
	c, err := d.Calibrate(m, tpr, scores)
	if err != nil {
		return nil, err
	}
	c.Features = fd
	if err := c.Save(out); err != nil {
		return nil, err
	}
	return c, nil
}
