//go:build unix

package outbox

import (
	"errors"
	"fmt"
	"github.com/ood-agent/ood-agent/internal/selfexec"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash helper puts crashN messages, acks those for which crashAcked
// is true, then keeps putting "extra-<i>" messages from another goroutine
// and kills itself with SIGKILL in the middle of that.
const (
	crashEnv = "OUTBOX_CRASH_HELPER_PATH"
	crashN   = 20
)

func crashAcked(i int) bool { return i < 6 || i%4 == 1 }

// TestHelperProcess is the child process of TestCrashRecovery; run on its
// own it does nothing.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		return
	}
	o, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: open:", err)
		os.Exit(2)
	}
	seqs := make([]uint64, crashN)
	for i := range crashN {
		if _, err := o.Put(msg(fmt.Sprint("m", i))); err != nil {
			fmt.Fprintln(os.Stderr, "helper: put:", err)
			os.Exit(2)
		}
		e, err := o.Peek(crashN)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper: peek:", err)
			os.Exit(2)
		}
		seqs[i] = e[len(e)-1].Seq
	}
	for i, seq := range seqs {
		if crashAcked(i) {
			if err := o.Ack(seq); err != nil {
				fmt.Fprintln(os.Stderr, "helper: ack:", err)
				os.Exit(2)
			}
		}
	}
	started := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			if _, err := o.Put(msg(fmt.Sprint("extra-", i))); err != nil {
				fmt.Fprintln(os.Stderr, "helper: put extra:", err)
				os.Exit(2)
			}
			if i == 2 {
				close(started)
			}
		}
	}()
	<-started
	time.Sleep(15 * time.Millisecond)
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal arrives; never report success
}

func TestCrashRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	cmd := selfCommand("-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helper error = %v, want it killed; output:\n%s", err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, want SIGKILL; output:\n%s", err, out)
	}

	o, logs := openTest(t, path, Options{})
	if strings.Contains(logs.String(), "corrupt") {
		t.Errorf("queue file damaged by the crash:\n%s", logs)
	}
	got := ids(t, o)
	var want []string
	for i := range crashN {
		if !crashAcked(i) {
			want = append(want, fmt.Sprint("m", i))
		}
	}
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("after the crash, queue starts %q, want %q", got[:min(len(got), len(want))], want)
	}
	// The messages put while the process died form an unbroken run.
	extra := got[len(want):]
	if len(extra) < 3 {
		t.Errorf("after the crash, %d extra messages remain, want at least the 3 put before the kill", len(extra))
	}
	for i, id := range extra {
		if id != fmt.Sprint("extra-", i) {
			t.Fatalf("after the crash, extra message %d is %q, want extra-%d; all: %q", i, id, i, extra)
		}
	}
	st := o.Stats()
	if st.Put != uint64(crashN+len(extra)) || st.Acked != uint64(crashN-len(want)) {
		t.Errorf("after the crash, Stats() = %+v, want Put %d, Acked %d", st, crashN+len(extra), crashN-len(want))
	}
	t.Logf("%d unacked and %d extra messages survived SIGKILL", len(want), len(extra))
}

// selfCommand re-executes the test binary; under qemu user emulation
// (make test-arm) through the emulator, which does not follow execve.
func selfCommand(args ...string) *exec.Cmd { return selfexec.Command(args...) }
