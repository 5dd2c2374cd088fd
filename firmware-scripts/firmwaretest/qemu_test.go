package firmwaretest

import (
	"strings"
	"testing"
)

// TestArm64AgentUnderQEMU runs the cross-compiled arm64 agent under qemu
// user emulation: it must start on an arm64 CPU and report the version it
// was built with. Extend it with "ood-agent demo" once that command exists.
func TestArm64AgentUnderQEMU(t *testing.T) {
	qemu := requireTool(t, "qemu-aarch64-static", "apt-get install -y qemu-user-static")
	out := run(t, nil, qemu, arm64Agent(t), "version")
	for _, want := range []string{testVersion, "linux/arm64"} {
		if !strings.Contains(out, want) {
			t.Errorf("ood-agent version under qemu printed %q, want it to contain %q", out, want)
		}
	}
}
