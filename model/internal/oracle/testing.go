package oracle

import (
	"context"
	"os"
	"testing"
	"time"
)

// Require starts an Oracle for a test and closes it when the test ends. When
// the oracle is not installed the test is skipped, except under CI=true,
// where it fails: CI must always check against the real runtime.
func Require(t testing.TB) *Oracle {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("TFLite oracle required on CI: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := Start(ctx)
	if err != nil {
		t.Fatalf("Start() error: %v", err)
	}
	t.Cleanup(func() {
		if err := o.Close(); err != nil {
			t.Errorf("Close() error: %v", err)
		}
	})
	return o
}
