//go:build !hub

package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestHubNotBuilt: the edge build answers `hub` and `demo --hub` with an
// error that says how to get the hub.
func TestHubNotBuilt(t *testing.T) {
	for _, args := range [][]string{{"hub", "--config", "hub.yaml"}, {"demo", "--hub"}} {
		cmd := newRootCommand()
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), "make build-hub") {
			t.Errorf("%v: %v, want the build-hub hint", args, err)
		}
	}
}
