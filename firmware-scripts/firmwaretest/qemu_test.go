package firmwaretest

import (
	"strings"
	"testing"
)

// TestArm64AgentUnderQEMU runs the cross-compiled arm64 agent under qemu
// user emulation: it must report the version it was built with, and its
// zero-set-up demo — embedded broker, embedded model, bundled frames — must
// deliver alerts to the subscriber.
func TestArm64AgentUnderQEMU(t *testing.T) {
	qemu := requireTool(t, "qemu-aarch64-static", "apt-get install -y qemu-user-static")
	agent := arm64Agent(t)
	out := run(t, nil, qemu, agent, "version")
	for _, want := range []string{testVersion, "linux/arm64"} {
		if !strings.Contains(out, want) {
			t.Errorf("ood-agent version under qemu printed %q, want it to contain %q", out, want)
		}
	}
	out = run(t, nil, qemu, agent, "demo")
	if !strings.Contains(out, "the central server received") || strings.Contains(out, "received 0 messages") ||
		!strings.Contains(out, `"type": "alert"`) {
		t.Errorf("ood-agent demo under qemu did not deliver alerts:\n%s", out)
	}
}
