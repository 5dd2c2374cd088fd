// Package selfexec re-executes the running test binary, for tests that
// need a child process to kill or restart. Under qemu user emulation
// (make test-arm) the child runs through the emulator named by
// $OOD_AGENT_TEST_EMULATOR, because the emulator does not follow execve
// into a foreign binary.
package selfexec

import (
	"os"
	"os/exec"
)

// Command returns a command that runs the test binary with args.
func Command(args ...string) *exec.Cmd {
	if emu := os.Getenv("OOD_AGENT_TEST_EMULATOR"); emu != "" {
		return exec.Command(emu, append([]string{os.Args[0]}, args...)...)
	}
	return exec.Command(os.Args[0], args...)
}
