// Command ood-agent runs a TensorFlow Lite classifier on camera frames, flags
// out-of-distribution inputs with the energy score, and publishes alerts over
// MQTT. It also inspects, runs and benchmarks models, calibrates thresholds
// and evaluates detectors.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Set at build time with -ldflags "-X main.version=...".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ood-agent:", err)
		os.Exit(1)
	}
}
