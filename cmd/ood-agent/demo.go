package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ood-agent/ood-agent/agent/demo"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/preprocess"
)

func newDemoCommand() *cobra.Command {
	var (
		verbose bool
		mode    string
		withHub bool
		listen  string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Zero set-up demo: embedded broker, embedded model, bundled frames; prints what a subscriber receives",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if withHub {
				return runDemoHub(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), listen, verbose)
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), mode, verbose)
		},
	}
	cmd.Flags().BoolVar(&verbose, "verbose", false, "show the agent's log")
	cmd.Flags().StringVar(&mode, "mode", "frame", "decision mode: frame (one alert per OOD frame) or stream (events)")
	cmd.Flags().BoolVar(&withHub, "hub", false, "run three simulated cameras and the hub with its web UI until interrupted")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9110", "with --hub: the hub's web address")
	return cmd
}

func runDemo(ctx context.Context, stdout, stderr io.Writer, mode string, verbose bool) error {
	env, err := startDemoEnv(stderr, verbose, "ood-agent-demo-")
	if err != nil {
		return err
	}
	defer env.Close()
	fmt.Fprintf(stdout, "ood-agent demo: embedded MQTT broker at %s, embedded model, %d sample frames\n", env.broker.URL(), len(env.names))

	// The "central server": a subscriber on the alert topics.
	sub, err := mqtt.New(mqtt.Options{Broker: env.broker.URL(), ClientID: "demo-central-server", KeepAlive: 30 * time.Second, CleanSession: true, Logger: env.log})
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		received []map[string]any
	)
	if err := sub.Subscribe(ctx, "ood/+/alert", 1, func(_ string, payload []byte) {
		var m map[string]any
		if json.Unmarshal(payload, &m) == nil {
			mu.Lock()
			received = append(received, m)
			mu.Unlock()
		}
	}); err != nil {
		return err
	}
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan struct{})
	go func() { sub.Run(subCtx); close(subDone) }()
	defer func() { stopSub(); <-subDone }()
	if err := sub.WaitConnected(ctx); err != nil {
		return err
	}

	flags, err := demoFlags("demo", map[string]string{
		"device_id": "demo-camera", "mqtt.broker": env.broker.URL(), "source.type": "dir",
		"source.dir.path": env.frames, "source.dir.watch": "false", "outbox.path": filepath.Join(env.dir, "outbox.db"),
		"http.listen": "", "decision.mode": mode, "mqtt.stats_interval": "1h", "log.level": "info",
	})
	if err != nil {
		return err
	}
	if err := runAgent(ctx, "", flags, nil, env.logOut); err != nil {
		return err
	}
	// Alerts left the outbox only once the broker acknowledged them; give
	// the subscriber a moment to receive the last ones.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	verdicts, err := scoreDemoFrames(env.frames, env.names)
	if err != nil {
		return err
	}
	printDemoReport(stdout, env.names, verdicts, received)
	return nil
}

// demoFlags sets an agent's configuration keys as the command-line flags
// runAgent reads, for a demo agent named name.
func demoFlags(name string, settings map[string]string) (*pflag.FlagSet, error) {
	flags := pflag.NewFlagSet(name, pflag.ContinueOnError)
	for key, value := range settings {
		flags.String(key, "", "")
		if err := flags.Set(key, value); err != nil {
			return nil, err
		}
	}
	return flags, nil
}

// demoFrame is one bundled frame as the agent's detector sees it.
type demoFrame struct {
	name     string
	result   detect.Result
	decision ood.Decision
}

// scoreDemoFrames scores the frames with the agent's model, calibration
// and decision rule, so that the report can show every frame's verdict,
// not only those that produced a message.
func scoreDemoFrames(dir string, names []string) ([]demoFrame, error) {
	// The agent's defaults: the embedded model and its calibration.
	d, err := (&modelFlags{threads: 1}).open(true, nil)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	dec, _ := d.Decision()
	out := make([]demoFrame, len(names))
	for i, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		img, err := preprocess.Decode(data, preprocess.Limits{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		r, err := d.Image(img)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out[i] = demoFrame{name: n, result: r, decision: dec}
	}
	return out, nil
}

// printDemoReport prints the messages the central server received, then
// every frame with its verdict and the message or event that reports it.
// Scores and thresholds are shown both ways, labelled: the in-distribution
// score (−E, OOD when below the threshold) and the energy (OOD when above
// −threshold), since the JSON carries the former and the paper the latter.
func printDemoReport(w io.Writer, names []string, frames []demoFrame, received []map[string]any) {
	fmt.Fprintf(w, "\nthe central server received %d messages on ood/+/alert:\n\n", len(received))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "type\tframe\tlabel\tconfidence\tscore (−E)\tthreshold (OOD if score <)\tenergy E\tenergy threshold (OOD if E >)\tid")
	for _, m := range received {
		fmt.Fprintf(tw, "%v\t%v\t%v\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%v\n", m["type"], filepath.Base(fmt.Sprint(m["origin"])), m["label_name"],
			num(m["confidence"]), num(m["score"]), num(m["threshold"]), num(m["energy"]), -num(m["threshold"]), m["id"])
	}
	tw.Flush()

	reportedIn := demoReportedIn(names, received)
	flagged := 0
	if len(frames) > 0 {
		fmt.Fprintf(w, "\nevery frame, as the agent decided (%s):\n\n", frames[0].decision)
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "frame\tverdict\tscore (−E)\tenergy E\treported in")
	for i, f := range frames {
		verdict := "in-distribution"
		if f.result.OOD {
			verdict = "OUT-OF-DISTRIBUTION"
			flagged++
		}
		report := reportedIn[i]
		if report == "" {
			report = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%s\n", f.name, verdict, f.result.IDScore, f.result.Energy, report)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d of %d frames were scored out-of-distribution; the central server received %d messages.\n", flagged, len(frames), len(received))
	if len(received) > 0 {
		b, _ := json.MarshalIndent(received[0], "", "  ")
		fmt.Fprintf(w, "One message, as JSON:\n%s\n", b)
		fmt.Fprintf(w, "In the JSON, \"score\" is the in-distribution score (−energy for method energy) and \"threshold\" is in the same\n"+
			"orientation: the frame is out-of-distribution when score < threshold, that is when energy > −threshold (%.2f).\n", -num(received[0]["threshold"]))
	}
}

// demoReportedIn says, for each frame (by position in names), which
// message reports it: its own alert in frame mode, or the event whose frame
// window covers it in stream mode. Frames are numbered from 1 in name
// order, as the directory source numbers them; a message whose origin does
// not agree with that numbering is left out rather than misattributed.
func demoReportedIn(names []string, received []map[string]any) []string {
	out := make([]string, len(names))
	type span struct {
		lo, hi int
		start  int // frame of the event_start message
	}
	events := map[string]*span{}
	var order []string
	for _, m := range received {
		seq := int(num(m["frame_seq"]))
		if seq < 1 || seq > len(names) || filepath.Base(fmt.Sprint(m["origin"])) != names[seq-1] {
			continue
		}
		id := fmt.Sprint(m["id"])
		eventID, isEvent := m["event_id"].(string)
		if !isEvent {
			out[seq-1] = "alert " + shortID(id)
			continue
		}
		sp := events[eventID]
		if sp == nil {
			sp = &span{lo: seq, hi: seq}
			events[eventID] = sp
			order = append(order, eventID)
		}
		if n := int(num(m["frames"])); n > 0 {
			sp.lo = min(sp.lo, seq-n+1)
		}
		sp.hi = max(sp.hi, seq)
		if m["type"] == "event_start" {
			sp.start = seq
		}
	}
	for _, id := range order {
		sp := events[id]
		for seq := max(sp.lo, 1); seq <= min(sp.hi, len(names)); seq++ {
			note := "event " + shortID(id)
			if seq == sp.start {
				note += " (started here)"
			}
			out[seq-1] = note
		}
	}
	return out
}

// shortID abbreviates a message id for the table to its tail: ids are
// time-ordered, so messages of one run share their head.
func shortID(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-12:]
	}
	return id
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// demoEnv is what every demo starts from: a logger, an embedded broker and
// a temporary directory holding the bundled frames.
type demoEnv struct {
	logOut io.Writer // stderr when verbose, else io.Discard
	log    *slog.Logger
	broker *demo.Broker
	dir    string   // temporary; removed by Close
	frames string   // dir/frames, holding the bundled frames
	names  []string // the frames' file names, in order
}

// startDemoEnv logs to stderr only when verbose, starts the embedded broker
// and writes the bundled frames under a new temporary directory named with
// prefix.
func startDemoEnv(stderr io.Writer, verbose bool, prefix string) (_ *demoEnv, err error) {
	env := &demoEnv{logOut: io.Discard}
	if verbose {
		env.logOut = stderr
	}
	env.log = slog.New(slog.NewTextHandler(env.logOut, nil))
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	if env.broker, err = demo.StartBroker(env.log.With("component", "broker")); err != nil {
		return nil, err
	}
	if env.dir, err = os.MkdirTemp("", prefix); err != nil {
		return nil, err
	}
	env.frames = filepath.Join(env.dir, "frames")
	if err := os.Mkdir(env.frames, 0o755); err != nil {
		return nil, err
	}
	if env.names, err = demo.WriteFrames(env.frames); err != nil {
		return nil, err
	}
	return env, nil
}

// Close removes the temporary directory and stops the broker.
func (e *demoEnv) Close() {
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
	if e.broker != nil {
		e.broker.Close()
	}
}
