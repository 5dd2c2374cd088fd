package kernels

import (
	"errors"
	"testing"
)

// Test helpers shared by every op group.

// checkPrepareError checks that k rejects the invalid node n, with an error
// wrapping ErrUnsupported exactly when unsupported is set.
func checkPrepareError(t *testing.T, k Kernel, n *Node, name string, unsupported bool) {
	t.Helper()
	err := k.Prepare(NewContext(1), n)
	if err == nil {
		t.Fatalf("Prepare(%s) = nil, want error", name)
	}
	if got := errors.Is(err, ErrUnsupported); got != unsupported {
		t.Errorf("Prepare(%s) error %q: errors.Is(ErrUnsupported) = %v, want %v", name, err, got, unsupported)
	}
}
