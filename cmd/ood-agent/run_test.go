package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func metric(addr, name string) (string, bool) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" "), true
		}
	}
	return "", false
}

// TestRunReloadsThreshold starts the agent from a config file and changes
// decision.threshold, first by rewriting the file, then by SIGHUP after
// another rewrite; /metrics shows the threshold in force.
func TestRunReloadsThreshold(t *testing.T) {
	dir := t.TempDir()
	frames := filepath.Join(dir, "frames")
	os.Mkdir(frames, 0o755)
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "agent.yaml")
	write := func(threshold string) {
		cfg := fmt.Sprintf(`device_id: reload-test
source:
  type: dir
  dir:
    path: %s
outbox:
  path: %s
http:
  listen: %s
mqtt:
  broker: tcp://127.0.0.1:1
decision:
  threshold: %s
`, frames, filepath.Join(dir, "outbox.db"), addr, threshold)
		tmp := cfgPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	write("null")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, cfgPath, nil, nil, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runAgent: %v", err)
		}
	}()
	wait := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if v, ok := metric(addr, "ood_agent_threshold"); ok && v == want {
				return
			}
			if time.Now().After(deadline) {
				v, _ := metric(addr, "ood_agent_threshold")
				t.Fatalf("ood_agent_threshold = %q, want %q", v, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The embedded calibration's threshold first (an ID score, −E).
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, ok := metric(addr, "ood_agent_threshold"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("agent did not serve /metrics")
		}
		time.Sleep(50 * time.Millisecond)
	}
	write("-7.5") // energy threshold: E > -7.5 is OOD, i.e. −E < 7.5
	wait("7.5")
	// A bad value is rejected and the running configuration kept.
	write("not-a-number")
	time.Sleep(500 * time.Millisecond)
	wait("7.5")
	write("-3")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	wait("3")
}

// TestRunSaysWhatHappened runs the agent on a directory: the start-up line
// lists only the keys that differ from the defaults, with the password
// redacted, and the frame's alert gets one info line with its frame, label,
// score and threshold.
func TestRunSaysWhatHappened(t *testing.T) {
	dir := t.TempDir()
	frames := filepath.Join(dir, "frames")
	os.Mkdir(frames, 0o755)
	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 28, 28)))
	if err := os.WriteFile(filepath.Join(frames, "cam-7.png"), img.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.yaml")
	cfg := fmt.Sprintf(`device_id: say-test
source:
  type: dir
  dir:
    path: %s
    watch: false
outbox:
  path: %s
http:
  listen: ""
mqtt:
  broker: tcp://127.0.0.1:1
  username: agent
  password: s3cret-pw
decision:
  threshold: -1e9
`, frames, filepath.Join(dir, "outbox.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, cfgPath, nil, nil, logs) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "msg=alert") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runAgent: %v", err)
	}
	out := logs.String()
	var start, alert string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, "msg=starting"):
			start = line
		case strings.Contains(line, "msg=alert"):
			alert = line
		}
	}
	for _, want := range []string{"config_not_default.device_id=say-test", "config_not_default.mqtt.password=", "config_not_default.decision.threshold=-1e+09"} {
		if !strings.Contains(start, want) {
			t.Errorf("start-up line lacks %q:\n%s", want, start)
		}
	}
	for _, unwanted := range []string{"s3cret-pw", "keepalive", "stats_interval"} {
		if strings.Contains(start, unwanted) {
			t.Errorf("start-up line has %q:\n%s", unwanted, start)
		}
	}
	for _, want := range []string{"frame=" + filepath.Join(frames, "cam-7.png"), "label=", "score=", "threshold=1e+09", "id="} {
		if !strings.Contains(alert, want) {
			t.Errorf("alert line lacks %q:\n%s\nlog:\n%s", want, alert, out)
		}
	}
}
