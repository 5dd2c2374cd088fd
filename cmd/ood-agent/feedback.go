package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/config"
)

// defaultStateDir is the directory of the default outbox, where the agent
// keeps its state.
func defaultStateDir() string { return filepath.Dir(config.Default().Outbox.Path) }

func newFeedbackCommand() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "feedback list | label ALERT_ID false_alarm [--class C] | label ALERT_ID confirmed | export DIR",
		Short: "List the flagged frames the agent kept, label alerts, and export them for adapt",
		Long: `The agent keeps, in <state dir>/feedback, the logits, features and evidence
of recent flagged frames and a sample of unflagged ones. An operator labels an
alert false_alarm (in-distribution after all; --class gives its true class, a
label name or class index) or confirmed (out-of-distribution). export writes
the layout ood-agent adapt reads:

  ood-agent feedback export /tmp/fb
  ood-agent adapt --model m.tflite --id /tmp/fb/kept --false-alarms /tmp/fb/false_alarms \
      --ood /tmp/fb/confirmed --out m-adapted.tflite

The same labels arrive over MQTT on <prefix>/<device>/feedback (docs/feedback.md).`,
	}
	cmd.PersistentFlags().StringVar(&stateDir, "state-dir", defaultStateDir(), "the agent's state directory")
	openStore := func(cmd *cobra.Command) (*feedback.Store, error) {
		return feedback.Open(feedback.Options{Dir: feedback.Dir(stateDir), NoTrim: true, Reservoir: -1, Log: newCLILogger(cmd.ErrOrStderr())})
	}

	var limit int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "Show recent flagged frames, newest first, with their labels",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openStore(cmd)
			if err != nil {
				return err
			}
			entries := s.List()
			if limit > 0 && len(entries) > limit {
				entries = entries[:limit]
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(listJSON(entries))
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ALERT\tTIME\tSOURCE\tFRAME\tPREDICTED\tSCORE\tTHRESHOLD\tJPEG\tLABEL")
			for _, e := range entries {
				label := "-"
				if e.Label != nil {
					label = string(e.Label.Kind)
					if e.Label.Class != "" {
						label += " (" + e.Label.Class + ")"
					}
				}
				jpeg := "no"
				if e.HasJPEG {
					jpeg = "yes"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%.3f\t%.3f\t%s\t%s\n", e.AlertID, e.Time.Format("2006-01-02T15:04:05Z07:00"),
					e.Source, e.Frame, predicted(e), e.Score, e.Threshold, jpeg, label)
			}
			return w.Flush()
		},
	}
	list.Flags().IntVar(&limit, "limit", 50, "show at most this many frames (0: all)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var class string
	label := &cobra.Command{
		Use:   "label ALERT_ID false_alarm|confirmed",
		Short: "Label a stored alert",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd)
			if err != nil {
				return err
			}
			l, err := s.Label(args[0], feedback.Kind(args[1]), class)
			if err != nil {
				return err
			}
			if l.Class != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "%s labeled %s (class %s)\n", l.AlertID, l.Kind, l.Class)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s labeled %s\n", l.AlertID, l.Kind)
			}
			return nil
		},
	}
	label.Flags().StringVar(&class, "class", "", "true class of a false alarm: a label name or class index")

	export := &cobra.Command{
		Use:   "export DIR",
		Short: "Write labeled frames and the kept sample in the layout ood-agent adapt reads",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd)
			if err != nil {
				return err
			}
			sum, err := s.Export(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %d false alarms, %d confirmed, %d kept (%d with images) to %s\n",
				sum.FalseAlarms, sum.Confirmed, sum.Kept, sum.Images, args[0])
			return nil
		},
	}
	cmd.AddCommand(list, label, export)
	return cmd
}

func predicted(e feedback.Entry) string {
	if e.Record.Label != "" {
		return fmt.Sprintf("%s (%d)", e.Record.Label, e.Class)
	}
	return fmt.Sprint(e.Class)
}

type listedFrame struct {
	AlertID   string              `json:"alert_id"`
	Time      string              `json:"time"`
	Source    string              `json:"source,omitempty"`
	Frame     string              `json:"frame,omitempty"`
	Class     int                 `json:"class"`
	Label     string              `json:"label,omitempty"`
	Score     float64             `json:"score"`
	Threshold float64             `json:"threshold"`
	JPEG      bool                `json:"jpeg"`
	Feedback  *feedback.LabelInfo `json:"feedback,omitempty"`
}

func listJSON(entries []feedback.Entry) []listedFrame {
	out := make([]listedFrame, 0, len(entries))
	for _, e := range entries {
		out = append(out, listedFrame{AlertID: e.AlertID, Time: e.Time.Format("2006-01-02T15:04:05.000Z07:00"), Source: e.Source, Frame: e.Frame,
			Class: e.Class, Label: e.Record.Label, Score: e.Score, Threshold: e.Threshold, JPEG: e.HasJPEG, Feedback: e.Label})
	}
	return out
}
