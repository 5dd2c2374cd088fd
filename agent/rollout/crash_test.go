//go:build unix

package rollout

import (
	"context"
	"errors"
	"fmt"
	"github.com/ood-agent/ood-agent/internal/selfexec"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
)

// The crash helper runs a rollout in a child process and kills itself
// with SIGKILL at a step, or is killed by the parent mid-download.
const (
	crashDirEnv      = "ROLLOUT_CRASH_DIR"
	crashManifestEnv = "ROLLOUT_CRASH_MANIFEST"
	crashCAEnv       = "ROLLOUT_CRASH_CA"
	crashKeyEnv      = "ROLLOUT_CRASH_KEY"
	crashStepEnv     = "ROLLOUT_CRASH_STEP"
)

// TestHelperProcess is the child of the crash tests; run on its own it
// does nothing.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return
	}
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "helper: "+format+"\n", args...)
		os.Exit(2)
	}
	ring, err := control.ParseKeyRing([]string{os.Getenv(crashKeyEnv)})
	if err != nil {
		fail("%v", err)
	}
	signed, err := os.ReadFile(os.Getenv(crashManifestEnv))
	if err != nil {
		fail("%v", err)
	}
	step := os.Getenv(crashStepEnv)
	frames := idFrames(t)
	m, err := Open(Options{
		Dir: dir, Keys: ring, Config: Config{CAFile: os.Getenv(crashCAEnv), WatchFrames: 5},
		SelfTestFrames: func() []image.Image { return frames },
		crashAt: func(s string) {
			if s == step {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		},
	})
	if err != nil {
		fail("open: %v", err)
	}
	c, err := m.Prepare(context.Background(), signed)
	if err != nil {
		fail("prepare: %v", err)
	}
	if err := m.Activate(c); err != nil {
		fail("activate: %v", err)
	}
	if step == "watched" {
		for range 3 {
			m.Observe(false)
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	fail("step %q never came", step)
}

func helperCommand(e *testEnv, signed []byte, step string) *exec.Cmd {
	mpath := filepath.Join(e.t.TempDir(), "manifest.json")
	if err := os.WriteFile(mpath, signed, 0o600); err != nil {
		e.t.Fatal(err)
	}
	args := []string{"-test.run=^TestHelperProcess$", "-test.count=1"}
	cmd := selfexec.Command(args...)
	cmd.Env = append(os.Environ(), crashDirEnv+"="+e.dir, crashManifestEnv+"="+mpath,
		crashCAEnv+"="+e.writeCA(), crashKeyEnv+"="+e.signer.PublicKey(), crashStepEnv+"="+step)
	return cmd
}

func wantKilled(t *testing.T, err error, out []byte) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helper error = %v, want it killed; output:\n%s", err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, want SIGKILL; output:\n%s", err, out)
	}
}

// TestKillMidSwap kills the agent after each step of the switch, and
// while the new model is being watched: after a restart the committed
// model is the current one again.
func TestKillMidSwap(t *testing.T) {
	for _, step := range []string{"swapping", "previous", "current", "watching", "watched"} {
		t.Run(step, func(t *testing.T) {
			e := newEnv(t)
			m := e.open(1)
			e.install(m, zooRelease(t, "v1", "fashion_mnist_cnn_energy_int8", nil))
			signed := e.sign(zooRelease(t, "v2", "fashion_mnist_cnn_int8", nil).manifest(e.srv))

			out, err := helperCommand(e, signed, step).CombinedOutput()
			wantKilled(t, err, out)

			st, err := loadState(filepath.Join(e.dir, stateFile))
			if err != nil {
				t.Fatal(err)
			}
			wantPhase := map[string]Phase{"swapping": PhaseSwapping, "previous": PhaseSwapping, "current": PhaseSwapping}[step]
			if wantPhase == "" {
				wantPhase = PhaseWatching
			}
			if st.Phase != wantPhase || st.Version != "v2" {
				t.Fatalf("state on disk after the kill: %+v, want %s of v2", st, wantPhase)
			}
			// From the "current" step on, the link already named v2: the
			// restart has something to undo.
			link, _ := os.Readlink(filepath.Join(e.dir, currentLink))
			if live := strings.Contains(link, "v2-"); live != (step != "swapping" && step != "previous") {
				t.Errorf("after the kill at %s, current -> %q", step, link)
			}
			m = e.open(1)
			e.wantCurrent(m, "v1")
			if st := m.State(); st.Phase != PhaseRolledBack || !strings.Contains(st.Reason, "restarted during "+string(wantPhase)) {
				t.Errorf("state after restart %+v, want rolled back because of the restart", st)
			}
			// The same release can be rolled out again afterwards.
			e.install(m, zooRelease(t, "v2", "fashion_mnist_cnn_int8", nil))
			e.wantCurrent(m, "v2")
		})
	}
}

// TestKillMidDownload kills the agent while the model is half downloaded;
// after a restart the old model runs, and the retried rollout resumes
// where the download stopped.
func TestKillMidDownload(t *testing.T) {
	e := newEnv(t)
	m := e.open(1)
	e.install(m, zooRelease(t, "v1", "fashion_mnist_cnn_energy_int8", nil))
	v2 := zooRelease(t, "v2", "fashion_mnist_cnn_int8", nil)
	signed := e.sign(v2.manifest(e.srv))
	e.srv.cut("/models/v2/model.tflite", 150_000, true)

	cmd := helperCommand(e, signed, "never")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(e.dir, partialDir, v2.manifestSHA()+".part")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if fi, err := os.Stat(part); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no partial download appeared; helper output:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wantKilled(t, cmd.Wait(), []byte(out.String()))
	fi, err := os.Stat(part)
	if err != nil {
		t.Fatal(err)
	}

	m = e.open(1)
	e.wantCurrent(m, "v1")
	if st := m.State(); st.Phase != PhaseFailed || !strings.Contains(st.Reason, "restarted during downloading") {
		t.Errorf("state after restart %+v, want failed because of the restart", st)
	}
	e.srv.unstall()
	before := len(e.srv.requests())
	e.install(m, v2)
	e.wantCurrent(m, "v2")
	reqs := e.srv.requests()[before:]
	if want := "/models/v2/model.tflite bytes=" + itoa(fi.Size()) + "-"; len(reqs) == 0 || reqs[0] != want {
		t.Errorf("requests after restart %q, want the first to be %q", reqs, want)
	}
}
