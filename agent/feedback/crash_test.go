package feedback

import (
	"fmt"
	"github.com/ood-agent/ood-agent/internal/selfexec"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/internal/logtest"
)

// crashDirEnv makes the test binary a process that fills a store until
// it is killed.
const crashDirEnv = "FEEDBACK_CRASH_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		fillForever(dir)
	}
	os.Exit(m.Run())
}

func crashOptions(dir string) Options {
	return Options{Dir: dir, MaxFlagged: 5, Reservoir: 3, Evidence: true, Seed: uint64(time.Now().UnixNano())}
}

func fillForever(dir string) {
	s, err := Open(crashOptions(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.WriteFile(filepath.Join(dir, "started"), nil, 0o640)
	for i := 0; ; i++ {
		r := flagged(i % 1000)
		r.AlertID = fmt.Sprintf("p%d-%d", os.Getpid(), i)
		r.JPEG = make([]byte, 4096+i%512)
		if err := s.AddFlagged(r); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		r.AlertID = ""
		if err := s.OfferUnflagged(r); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

// TestStoreSurvivesKill kills a process filling the store with SIGKILL at
// several points; each time the store opens, holds at most its bounds, and
// every record it lists reads back whole.
func TestStoreSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	for round, delay := range []time.Duration{0, 3 * time.Millisecond, 17 * time.Millisecond, 40 * time.Millisecond, 90 * time.Millisecond} {
		os.Remove(filepath.Join(dir, "started"))
		cmd := selfexec.Command("-test.run", "^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, "started")); err == nil || time.Now().After(deadline) {
				break
			}
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		if strings.TrimSpace(stderr.String()) != "" {
			t.Fatalf("round %d: filler failed: %s", round, stderr.String())
		}
		log, logs := logtest.New()
		o := crashOptions(dir)
		o.Log = log
		s, err := Open(o)
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		entries := s.List()
		if len(entries) > 5 {
			t.Errorf("round %d: %d flagged frames, bound 5", round, len(entries))
		}
		for _, e := range entries {
			r, _, err := readRecord(s.path(flaggedDir, e.AlertID+recExt))
			if err != nil || len(r.Features) != 4 || !e.HasJPEG {
				t.Errorf("round %d: %s: %v, %d features, jpeg %v", round, e.AlertID, err, len(r.Features), e.HasJPEG)
			}
		}
		recs, _ := filepath.Glob(filepath.Join(dir, reservoirDir, "*.rec"))
		if len(recs) > 3 {
			t.Errorf("round %d: reservoir holds %d, bound 3", round, len(recs))
		}
		if tmp, _ := filepath.Glob(filepath.Join(dir, "*", ".*")); len(tmp) > 0 {
			t.Errorf("round %d: temporary files left after open: %v", round, tmp)
		}
		t.Logf("round %d (kill after %v): %d flagged, %d kept, warnings: %q", round, delay, len(entries), len(recs), logs.String())
	}
}
