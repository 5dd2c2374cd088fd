//go:build !hub

package main

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"
)

// The hub's database drivers, metrics and web UI would more than double
// the size of the edge binary, so it is only compiled in with the build
// tag hub (make build-hub). This build says so instead of failing obscurely.
var errNoHub = errors.New("this ood-agent was built without the hub: build it with `make build-hub` (go build -tags hub), or install the .deb, which carries it")

func newHubCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hub",
		Short: "Run the central server (not in this build: make build-hub)",
		Args:  cobra.ArbitraryArgs,
		RunE:  func(*cobra.Command, []string) error { return errNoHub },
		// Accept the real command's flags so the error above is what
		// the user sees.
		DisableFlagParsing: true,
	}
}

func runDemoHub(context.Context, io.Writer, io.Writer, string, bool) error { return errNoHub }
