package source

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill ffmpeg when the agent dies without
// closing the source, so that no orphan keeps a camera busy. Linux
// delivers the signal when the OS thread that started the child exits;
// the Go runtime only retires threads locked by goroutines that never
// unlock them, which this program does not do.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
