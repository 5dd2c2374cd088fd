package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ood-agent/ood-agent/agent/demo"
	"github.com/ood-agent/ood-agent/agent/mqtt"
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
	logOut := io.Discard
	if verbose {
		logOut = stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))
	broker, err := demo.StartBroker(log.With("component", "broker"))
	if err != nil {
		return err
	}
	defer broker.Close()
	dir, err := os.MkdirTemp("", "ood-agent-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	framesDir := filepath.Join(dir, "frames")
	if err := os.Mkdir(framesDir, 0o755); err != nil {
		return err
	}
	names, err := demo.WriteFrames(framesDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ood-agent demo: embedded MQTT broker at %s, embedded model, %d sample frames\n", broker.URL(), len(names))

	// The "central server": a subscriber on the alert topics.
	sub, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "demo-central-server", KeepAlive: 30 * time.Second, CleanSession: true, Logger: log})
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

	flags := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	for key, value := range map[string]string{
		"device_id": "demo-camera", "mqtt.broker": broker.URL(), "source.type": "dir",
		"source.dir.path": framesDir, "source.dir.watch": "false", "outbox.path": filepath.Join(dir, "outbox.db"),
		"http.listen": "", "decision.mode": mode, "mqtt.stats_interval": "1h", "log.level": "info",
	} {
		flags.String(key, "", "")
		if err := flags.Set(key, value); err != nil {
			return err
		}
	}
	if err := runAgent(ctx, "", flags, nil, logOut); err != nil {
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
	fmt.Fprintf(stdout, "\nthe central server received %d messages on ood/+/alert:\n\n", len(received))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "type\tframe\tlabel\tconfidence\tenergy\tthreshold (E >)\tid")
	for _, m := range received {
		fmt.Fprintf(tw, "%v\t%v\t%v\t%.2f\t%.2f\t%.2f\t%v\n", m["type"], filepath.Base(fmt.Sprint(m["origin"])), m["label_name"],
			num(m["confidence"]), num(m["energy"]), -num(m["threshold"]), m["id"])
	}
	tw.Flush()
	flagged := map[string]bool{}
	for _, m := range received {
		flagged[filepath.Base(fmt.Sprint(m["origin"]))] = true
	}
	var quiet []string
	for _, n := range names {
		if !flagged[n] {
			quiet = append(quiet, n)
		}
	}
	fmt.Fprintf(stdout, "\nno alert (scored in-distribution): %s\n", strings.Join(quiet, ", "))
	fmt.Fprintf(stdout, "\n%d of %d frames were flagged out-of-distribution. One message, as JSON:\n", len(received), len(names))
	if len(received) > 0 {
		b, _ := json.MarshalIndent(received[0], "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return nil
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}
