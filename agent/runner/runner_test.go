package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ood-agent/ood-agent/internal/selfexec"
	"image"
	"image/png"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/internal/logtest"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/agent/outbox"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
	"github.com/ood-agent/ood-agent/model/zoo"
)

// testConfig is a configuration for a directory source in dir, the broker at
// url and an outbox in state.
func testConfig(t *testing.T, dir, state, url string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DeviceID = "test-device"
	cfg.MQTT.Broker = url
	cfg.MQTT.ClientID = "agent-" + strings.ReplaceAll(t.Name(), "/", "-")
	cfg.MQTT.BackoffInitial = 50 * time.Millisecond
	cfg.MQTT.BackoffMax = 300 * time.Millisecond
	cfg.MQTT.ConnectTimeout = 2 * time.Second
	cfg.MQTT.StatsInterval = time.Hour
	cfg.Source.Type = config.SourceDir
	cfg.Source.Dir.Path = dir
	cfg.Source.Dir.Watch = true
	cfg.Outbox.Path = filepath.Join(state, "outbox.db")
	cfg.HTTP.Listen = "127.0.0.1:0"
	// Every frame out of distribution: each frame yields exactly one alert,
	// so the tests can count.
	everything := -1e9
	cfg.Decision.Threshold = &everything
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newAgent(t *testing.T, cfg *config.Config) *Agent {
	t.Helper()
	file, calib, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Model: file, Calibration: calib, Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func writeFrame(t *testing.T, dir string, i int) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	rng := rand.New(rand.NewPCG(uint64(i), 1))
	for k := range img.Pix {
		img.Pix[k] = uint8(rng.IntN(256))
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	tmp := filepath.Join(dir, fmt.Sprintf(".frame-%04d.tmp", i))
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("frame-%04d.png", i))); err != nil {
		t.Fatal(err)
	}
}

// collector is a central server: a persistent-session subscriber that
// records alert messages by id.
type collector struct {
	mu    sync.Mutex
	ids   map[string]int
	byOri map[string]string
}

func subscribe(t *testing.T, url, clientID string) *collector {
	t.Helper()
	c := &collector{ids: map[string]int{}, byOri: map[string]string{}}
	subscribeAlerts(t, url, clientID, func(m event.Message) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.ids[m.ID]++
		frame := fmt.Sprintf("%s#%d", m.Origin, m.FrameSeq)
		if prev, ok := c.byOri[frame]; ok && prev != m.ID {
			t.Errorf("frame %s got two different alert ids %s and %s", frame, prev, m.ID)
		}
		c.byOri[frame] = m.ID
	})
	return c
}

// subscribeAlerts is a central server: a persistent-session subscriber to
// every device's alerts.
func subscribeAlerts(t *testing.T, url, clientID string, handle func(event.Message)) {
	t.Helper()
	runSubscriber(t, url, clientID, false, "ood/+/alert", func(_ string, payload []byte) {
		var m event.Message
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Errorf("alert payload: %v", err)
			return
		}
		handle(m)
	})
}

// alertIDs records the ids of the alerts a central server receives, in
// order.
type alertIDs struct {
	mu  sync.Mutex
	ids []string
}

// collectAlertIDs subscribes a central server that records alert ids.
func collectAlertIDs(t *testing.T, url, clientID string) *alertIDs {
	t.Helper()
	a := &alertIDs{}
	subscribeAlerts(t, url, clientID, func(m event.Message) {
		a.mu.Lock()
		a.ids = append(a.ids, m.ID)
		a.mu.Unlock()
	})
	return a
}

// count is how many alerts arrived.
func (a *alertIDs) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ids)
}

// from returns the ids of the alerts from the i-th on.
func (a *alertIDs) from(i int) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.ids[i:]...)
}

// runSubscriber runs a client subscribed to filter until the test ends. It
// returns once the broker has acknowledged the subscription: connected is
// not yet subscribed, and a message published in between would be lost
// (or, with a persistent session, missing from it across a broker
// restart).
func runSubscriber(t *testing.T, url, clientID string, clean bool, filter string, handler func(topic string, payload []byte)) {
	t.Helper()
	sub, err := mqtt.New(mqtt.Options{Broker: url, ClientID: clientID, KeepAlive: 5 * time.Second, CleanSession: clean,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := sub.Subscribe(ctx, filter, 1, handler); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { sub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := sub.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe(wctx, filter, 1, handler); err != nil {
		t.Fatal(err)
	}
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byOri)
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrokerRestartLosesNoAlert stops the broker while frames keep coming
// and restarts it: every frame's alert must arrive, each under one id.
func TestBrokerRestartLosesNoAlert(t *testing.T) {
	broker := mosquittotest.Start(t)
	frames, state := t.TempDir(), t.TempDir()
	col := subscribe(t, broker.URL(), "central-"+t.Name())
	a := newAgent(t, testConfig(t, frames, state, broker.URL()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	n := 0
	for ; n < 10; n++ {
		writeFrame(t, frames, n)
	}
	waitFor(t, "first alerts", 20*time.Second, func() bool { return col.distinct() >= 5 })
	broker.Stop()
	for ; n < 30; n++ {
		writeFrame(t, frames, n)
	}
	// Let the agent classify them while the broker is away.
	waitFor(t, "frames processed while the broker is down", 20*time.Second, func() bool { return a.frames.Get() >= 30 })
	if a.ob.Len() == 0 {
		t.Error("outbox empty while the broker is down; alerts were not kept")
	}
	broker.Restart()
	restarted := time.Now()
	// The sender is woken by the reconnect: the queue drains within the
	// client's longest reconnect delay, plus a second.
	bound := a.cfg.MQTT.BackoffMax + time.Second
	waitFor(t, "the outbox to drain", 30*time.Second, func() bool { return a.ob.Len() == 0 })
	if d := time.Since(restarted); d > bound {
		t.Errorf("outbox drained %v after the broker returned, want ≤ backoff_max + 1s = %v", d, bound)
	}
	for ; n < 40; n++ {
		writeFrame(t, frames, n)
	}
	waitFor(t, "every alert after the restart", 60*time.Second, func() bool { return col.distinct() == 40 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.ids) != 40 {
		t.Errorf("%d distinct alert ids for 40 frames", len(col.ids))
	}
}

// TestHelperAgentProcess is run as a child process by TestKill9: it runs an
// agent on the configuration in OOD_RUNNER_TEST_CONFIG until killed.
func TestHelperAgentProcess(t *testing.T) {
	path := os.Getenv("OOD_RUNNER_TEST_CONFIG")
	if path == "" {
		return // not a child
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	file, calib, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	// The parent shows the child's log when it fails.
	a, err := New(Options{Config: cfg, Model: file, Calibration: calib, Version: "test",
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LoadConfig: func() (*config.Config, error) { return config.Load(path, nil) }})
	if err != nil {
		t.Fatal(err)
	}
	a.Run(context.Background())
}

// childAgents writes cfg to the state directory and returns a function
// that starts an agent on it in a child process (TestHelperAgentProcess).
// The children's log is shown if the test fails.
func childAgents(t *testing.T, state string, cfg *config.Config) func() *exec.Cmd {
	t.Helper()
	cfgPath := filepath.Join(state, "agent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", logs)
		}
	})
	return func() *exec.Cmd {
		cmd := selfCommand("-test.run=^TestHelperAgentProcess$")
		cmd.Env = append(os.Environ(), "OOD_RUNNER_TEST_CONFIG="+cfgPath)
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
}

// TestKill9OutboxDeliversAfterRestart runs the agent in a child process with
// the broker down, kills it with SIGKILL once alerts are queued, and starts
// it again with the broker up: the queued alerts must be delivered.
func TestKill9OutboxDeliversAfterRestart(t *testing.T) {
	broker := mosquittotest.Start(t)
	url := broker.URL()
	col := subscribe(t, url, "central-"+t.Name())
	broker.Stop()
	frames, state := t.TempDir(), t.TempDir()
	for i := 0; i < 12; i++ {
		writeFrame(t, frames, i)
	}
	cfg := testConfig(t, frames, state, url)
	child := childAgents(t, state, cfg)
	first := child()
	// Wait until the child has queued an alert for every frame: the outbox
	// file is locked while the child runs, so wait for the frames to be
	// processed, kill it, then read what it left on disk.
	time.Sleep(3 * time.Second)
	var queued []string
	waitFor(t, "alerts queued on disk", 60*time.Second, func() bool {
		first.Process.Signal(syscall.SIGKILL)
		first.Wait()
		queued = pendingIDs(t, cfg.Outbox.Path)
		if len(queued) == 12 {
			return true
		}
		first = child() // not all queued yet: run it again for a while
		time.Sleep(2 * time.Second)
		return false
	})
	// The frames are gone: whatever arrives now comes from the outbox.
	for i := 0; i < 12; i++ {
		os.Remove(filepath.Join(frames, fmt.Sprintf("frame-%04d.png", i)))
	}
	broker.Restart()
	second := child()
	defer func() { second.Process.Kill(); second.Wait() }()
	waitFor(t, "queued alerts after restart", 60*time.Second, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		for _, id := range queued {
			if col.ids[id] == 0 {
				return false
			}
		}
		return true
	})
}

// pendingIDs opens the outbox left by a killed agent and lists the ids of
// its alert messages.
func pendingIDs(t *testing.T, path string) []string {
	t.Helper()
	ob, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatalf("reopen outbox after SIGKILL: %v", err)
	}
	defer ob.Close()
	entries, err := ob.Peek(1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		if strings.HasSuffix(e.Message.Topic, "/alert") {
			ids = append(ids, e.Message.ID)
		}
	}
	return ids
}

// TestBadFramesAreSkipped feeds corrupt, truncated, empty and oversized
// images among good ones: they are counted and skipped, the good ones still
// alert.
func TestBadFramesAreSkipped(t *testing.T) {
	broker := mosquittotest.Start(t)
	frames, state := t.TempDir(), t.TempDir()
	col := subscribe(t, broker.URL(), "central-"+t.Name())
	cfg := testConfig(t, frames, state, broker.URL())
	cfg.Preprocess.MaxPixels = 1000 * 1000
	a := newAgent(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	writeFrame(t, frames, 0)
	var good bytes.Buffer
	png.Encode(&good, image.NewGray(image.Rect(0, 0, 28, 28)))
	var huge bytes.Buffer
	png.Encode(&huge, image.NewGray(image.Rect(0, 0, 2000, 2000)))
	bad := map[string][]byte{
		"corrupt.png":   []byte("\x89PNG\r\n\x1a\nthis is not a png"),
		"truncated.png": good.Bytes()[:good.Len()/2],
		"empty.jpg":     nil,
		"huge.png":      huge.Bytes(),
	}
	for name, data := range bad {
		if err := os.WriteFile(filepath.Join(frames, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFrame(t, frames, 1)
	waitFor(t, "alerts for the good frames", 20*time.Second, func() bool { return col.distinct() == 2 })
	// The directory source waits IncompleteTimeout (10 s) for a file that
	// does not parse as a complete image before it skips it.
	waitFor(t, "bad frames counted", 30*time.Second, func() bool {
		return a.skipped.Get()+a.pump.Stats().Skipped >= uint64(len(bad))
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestNewRejectsCalibrationOfAnotherModel(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), t.TempDir(), "tcp://127.0.0.1:1")
	file, _, err := zoo.Open("fashion_mnist_cnn")
	if err != nil {
		t.Fatal(err)
	}
	_, otherCalib, err := zoo.Open("fashion_mnist_cnn_int8")
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{Config: cfg, Model: file, Calibration: otherCalib})
	if err == nil || !strings.Contains(err.Error(), "calibration") {
		t.Fatalf("New with another model's calibration = %v, want an error naming the calibration", err)
	}
}

// TestStatusAndStats checks the retained online status, the periodic stats
// and the offline status published at shutdown.
func TestStatusAndStats(t *testing.T) {
	broker := mosquittotest.Start(t)
	frames, state := t.TempDir(), t.TempDir()
	cfg := testConfig(t, frames, state, broker.URL())
	cfg.MQTT.StatsInterval = 300 * time.Millisecond
	var mu sync.Mutex
	var statuses []event.Status
	var stats []event.Stats
	runSubscriber(t, broker.URL(), "observer", true, "ood/test-device/#", func(topic string, payload []byte) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasSuffix(topic, "/status"):
			var s event.Status
			if err := json.Unmarshal(payload, &s); err != nil {
				t.Errorf("status: %v", err)
			}
			statuses = append(statuses, s)
		case strings.HasSuffix(topic, "/stats"):
			var s event.Stats
			if err := json.Unmarshal(payload, &s); err != nil {
				t.Errorf("stats: %v", err)
			}
			stats = append(stats, s)
		}
	})

	a := newAgent(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for i := 0; i < 5; i++ {
		writeFrame(t, frames, i)
	}
	waitFor(t, "stats with frames", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		var n uint64
		for _, s := range stats {
			n += s.Frames
		}
		return n == 5
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "offline status", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(statuses) > 0 && statuses[len(statuses)-1].State == event.StateOffline
	})
	mu.Lock()
	defer mu.Unlock()
	if statuses[0].State != event.StateOnline {
		t.Errorf("first status = %s, want online", statuses[0].State)
	}
	// Each status carries the time it was sent and the start time.
	first, last := statuses[0], statuses[len(statuses)-1]
	if !first.Started.Equal(last.Started) || first.Time.Before(first.Started) || !last.Time.After(first.Time) {
		t.Errorf("status times: online sent %v, offline sent %v, started %v and %v", first.Time, last.Time, first.Started, last.Started)
	}
	for _, s := range stats {
		if s.Frames > 0 && (s.Inference == nil || s.Energy == nil || s.Calibration.EnergyP50 == nil) {
			t.Errorf("stats with frames lack quantiles: %+v", s)
		}
	}
}

// selfCommand re-executes the test binary; under qemu user emulation
// (make test-arm) through the emulator, which does not follow execve.
func selfCommand(args ...string) *exec.Cmd { return selfexec.Command(args...) }

// TestHTTPSnapshotSource polls a snapshot URL that requires basic auth: the
// agent authenticates, classifies the snapshots and alerts.
func TestHTTPSnapshotSource(t *testing.T) {
	broker := mosquittotest.Start(t)
	var frame bytes.Buffer
	png.Encode(&frame, image.NewGray(image.Rect(0, 0, 28, 28)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "cam" || p != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(frame.Bytes())
	}))
	defer srv.Close()
	col := subscribe(t, broker.URL(), "central-"+t.Name())
	cfg := testConfig(t, t.TempDir(), t.TempDir(), broker.URL())
	cfg.Source.Type = config.SourceHTTP
	cfg.Source.HTTP.URL = srv.URL
	cfg.Source.HTTP.Interval = 50 * time.Millisecond
	cfg.Source.HTTP.Username = "cam"
	cfg.Source.HTTP.Password = "secret"
	a := newAgent(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, "alerts from snapshots", 20*time.Second, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		return len(col.ids) >= 3
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFFmpegStreamEvents runs a video file through a real ffmpeg in stream
// mode: the test pattern is out of distribution for the demo model, so the
// frames form one event whose start and end arrive with the same event id.
func TestFFmpegStreamEvents(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg not found (apt-get install ffmpeg)")
		}
		t.Skip("ffmpeg not found")
	}
	video := filepath.Join(t.TempDir(), "pattern.mp4")
	if out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
		"-t", "3", "-pix_fmt", "yuv420p", video).CombinedOutput(); err != nil {
		t.Fatalf("make test video: %v\n%s", err, out)
	}
	broker := mosquittotest.Start(t)
	var mu sync.Mutex
	var msgs []event.Message
	runSubscriber(t, broker.URL(), "central", true, "ood/+/alert", func(_ string, payload []byte) {
		var m event.Message
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Errorf("alert: %v", err)
			return
		}
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	})

	cfg := testConfig(t, t.TempDir(), t.TempDir(), broker.URL())
	cfg.Decision.Threshold = nil // the calibrated threshold
	cfg.Decision.Mode = config.ModeStream
	cfg.Source.Type = config.SourceFFmpeg
	cfg.Source.FFmpeg.Input = video
	cfg.Source.FFmpeg.FPS = 10
	cfg.Source.FFmpeg.Binary = ffmpeg
	a := newAgent(t, cfg)
	// A file input ends: Run returns once the outbox is delivered.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := a.frames.Get(); got < 20 {
		t.Errorf("classified %d frames of a 3 s, 10 fps video", got)
	}
	waitFor(t, "event end", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(msgs) > 0 && msgs[len(msgs)-1].Type == event.TypeEventEnd
	})
	mu.Lock()
	defer mu.Unlock()
	if msgs[0].Type != event.TypeEventStart {
		t.Fatalf("first message %s, want event_start", msgs[0].Type)
	}
	start, end := msgs[0], msgs[len(msgs)-1]
	if start.Event == nil || end.Event == nil || start.Event.ID != end.Event.ID || end.Event.OODFrames < 3 {
		t.Errorf("event_start %+v and event_end %+v do not describe one event", start.Event, end.Event)
	}
}

// TestSystemdNotify runs the agent as systemd would, with a notify socket
// and a watchdog: it must report ready, feed the watchdog while running and
// report stopping.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	a := newAgent(t, testConfig(t, t.TempDir(), t.TempDir(), "tcp://127.0.0.1:1"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	got := map[string]int{}
	buf := make([]byte, 256)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for got["READY=1"] == 0 || got["WATCHDOG=1"] < 2 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got[string(buf[:n])]++
	}
	cancel()
	for got["STOPPING=1"] == 0 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no STOPPING=1 after %v: %v", got, err)
		}
		got[string(buf[:n])]++
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestMetricsEndpoint scrapes /metrics: the agent's counters, its
// histograms and the process and Go runtime metrics are there.
func TestMetricsEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	frames := t.TempDir()
	cfg := testConfig(t, frames, t.TempDir(), "tcp://127.0.0.1:1")
	cfg.HTTP.Listen = addr
	a := newAgent(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	writeFrame(t, frames, 0)
	waitFor(t, "a frame classified", 20*time.Second, func() bool { return a.frames.Get() == 1 })
	var body string
	waitFor(t, "/metrics", 10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	for _, want := range []string{
		"ood_agent_frames_total 1\n", "ood_agent_alerts_total 1\n", "# TYPE ood_agent_frames_total counter",
		`ood_agent_inference_seconds_bucket{le="+Inf"} 1`, "ood_agent_outbox_depth ", "ood_agent_mqtt_connected 0",
		"go_goroutines ", "process_resident_memory_bytes ", "go_gc_duration_seconds",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// originCollector records the alert ids received per frame file, across
// agent restarts (frame_seq restarts with each run; the origin does not).
type originCollector struct {
	mu       sync.Mutex
	byOrigin map[string]map[string]int // origin → id → times received
}

func subscribeOrigins(t *testing.T, url, clientID string) *originCollector {
	t.Helper()
	c := &originCollector{byOrigin: map[string]map[string]int{}}
	subscribeAlerts(t, url, clientID, func(m event.Message) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.byOrigin[m.Origin] == nil {
			c.byOrigin[m.Origin] = map[string]int{}
		}
		c.byOrigin[m.Origin][m.ID]++
	})
	return c
}

// snapshot returns a copy of what has been received.
func (c *originCollector) snapshot() map[string]map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]map[string]int, len(c.byOrigin))
	for o, ids := range c.byOrigin {
		out[o] = maps.Clone(ids)
	}
	return out
}

// TestKill9RestartDoesNotRealert kills the agent with SIGKILL while it is
// working through a directory and starts it again: every frame is alerted
// on under exactly one id, the frames whose alerts arrived before the kill
// are not processed again (the ledger), and whatever is re-sent carries the
// id it had.
func TestKill9RestartDoesNotRealert(t *testing.T) {
	broker := mosquittotest.Start(t)
	url := broker.URL()
	col := subscribeOrigins(t, url, "central-"+t.Name())
	frames, state := t.TempDir(), t.TempDir()
	cfg := testConfig(t, frames, state, url)
	child := childAgents(t, state, cfg)
	const total = 60
	first := child()
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := range total {
			writeFrame(t, frames, i)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	waitFor(t, "alerts before the kill", 60*time.Second, func() bool { return len(col.snapshot()) >= 15 })
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	<-written
	time.Sleep(300 * time.Millisecond) // let in-flight PUBLISHes land
	before := col.snapshot()

	second := child()
	defer func() { second.Process.Kill(); second.Wait() }()
	waitFor(t, "an alert for every frame after the restart", 60*time.Second, func() bool { return len(col.snapshot()) == total })
	time.Sleep(500 * time.Millisecond) // would-be duplicates arrive
	after := col.snapshot()

	resent := 0
	for origin, ids := range after {
		if len(ids) != 1 {
			t.Errorf("frame %s alerted under %d ids: %v", filepath.Base(origin), len(ids), ids)
		}
		for id, n := range ids {
			if prev := before[origin][id]; prev > 0 {
				resent += n - prev
			}
		}
	}
	t.Logf("%d frames delivered before the kill; %d of their alerts sent again after the restart", len(before), resent)
	// Without the ledger the restart reads the directory again and re-sends
	// every one; with it, only alerts queued in the last moments before
	// the kill can come twice.
	if resent > len(before)/3 {
		t.Errorf("%d of the %d alerts delivered before the kill were sent again", resent, len(before))
	}
}

// TestFullOutboxBackpressure restarts on a big inbox with the broker away:
// the outbox fills to outbox.max_messages and the directory source waits
// instead of dropping queued alerts; once the broker is back every frame's
// alert arrives.
func TestFullOutboxBackpressure(t *testing.T) {
	broker := mosquittotest.Start(t)
	url := broker.URL()
	col := subscribeOrigins(t, url, "central-"+t.Name())
	broker.Stop()
	frames, state := t.TempDir(), t.TempDir()
	// More frames than the pipeline can hold in flight with a full outbox
	// (the writer's queue and the batch it commits, 64 each, plus the
	// decoded frames waiting), so that only backpressure keeps it bounded.
	const total, capacity = 180, 10
	for i := range total {
		writeFrame(t, frames, i)
	}
	cfg := testConfig(t, frames, state, url)
	cfg.Outbox.MaxMessages = capacity
	a := newAgent(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, "a full outbox", 20*time.Second, func() bool { return a.ob.Len() == capacity })
	time.Sleep(time.Second) // time to overflow, were it to
	if n, st := a.ob.Len(), a.ob.Stats(); n > capacity || st.Dropped > 0 {
		t.Fatalf("outbox holds %d (max %d), dropped %d", n, capacity, st.Dropped)
	}
	if n := a.frames.Get(); n >= total {
		t.Errorf("all %d frames classified with room for %d alerts: no backpressure", n, capacity)
	}
	broker.Restart()
	waitFor(t, "every frame's alert", 60*time.Second, func() bool { return len(col.snapshot()) == total })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := a.ob.Stats(); st.Dropped > 0 {
		t.Errorf("outbox dropped %d alerts", st.Dropped)
	}
}

// TestSnapshotOverwrittenAlertsAgain: a camera that overwrites one file
// gets an alert for each version, under different ids.
func TestSnapshotOverwrittenAlertsAgain(t *testing.T) {
	broker := mosquittotest.Start(t)
	col := subscribeOrigins(t, broker.URL(), "central-"+t.Name())
	frames := t.TempDir()
	a := newAgent(t, testConfig(t, frames, t.TempDir(), broker.URL()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	snapshot := filepath.Join(frames, "snapshot.png")
	write := func(seed uint64) {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for k := range img.Pix {
			img.Pix[k] = uint8(seed * uint64(k))
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		if err := os.WriteFile(snapshot, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	waitFor(t, "the first version's alert", 20*time.Second, func() bool { return len(col.snapshot()[snapshot]) == 1 })
	write(2)
	waitFor(t, "the second version's alert", 20*time.Second, func() bool { return len(col.snapshot()[snapshot]) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFailingPartStopsTheAgent: a part added with Add that fails stops the
// whole group, and Run reports it; a part that ends cleanly does not stop it.
func TestFailingPartStopsTheAgent(t *testing.T) {
	a := newAgent(t, testConfig(t, t.TempDir(), t.TempDir(), "tcp://127.0.0.1:1"))
	a.Add("quiet", func(context.Context) error { return nil })
	boom := errors.New("boom")
	a.Add("fails", func(ctx context.Context) error {
		select {
		case <-time.After(300 * time.Millisecond):
			return boom
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "fails") {
			t.Fatalf("Run = %v, want the failing part's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the agent kept running after a part failed")
	}
	if a.Healthy() {
		t.Error("agent healthy after Run returned")
	}
}

// startBroker starts a real Mosquitto for the test; other test files use
// it instead of importing the helper package themselves.
func startBroker(t *testing.T) *mosquittotest.Broker { return mosquittotest.Start(t) }

// TestHomeAssistantDiscovery: with discovery on, the agent publishes
// retained discovery configs that a Home Assistant connecting later still
// receives, with availability on the agent's status topic.
func TestHomeAssistantDiscovery(t *testing.T) {
	broker := startBroker(t)
	cfg := testConfig(t, t.TempDir(), t.TempDir(), broker.URL())
	cfg.MQTT.HomeAssistant = config.HomeAssistant{Discovery: true, Prefix: "hass"}
	a := newAgent(t, cfg)
	defer runAgent(t, a)()
	if err := a.client.WaitConnected(t.Context()); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	configs := map[string]map[string]any{}
	// Subscribed after the agent connected: only retained messages arrive.
	waitFor(t, "the agent's discovery messages", 10*time.Second, func() bool {
		runSubscriber(t, broker.URL(), "home-assistant", true, "hass/#", func(topic string, payload []byte) {
			var c map[string]any
			if err := json.Unmarshal(payload, &c); err != nil {
				t.Errorf("%s: %v", topic, err)
				return
			}
			mu.Lock()
			configs[topic] = c
			mu.Unlock()
		})
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return len(configs) >= 4
	})
	mu.Lock()
	defer mu.Unlock()
	var binary bool
	for topic, c := range configs {
		if !strings.HasPrefix(topic, "hass/") || !strings.HasSuffix(topic, "/config") {
			t.Errorf("discovery topic %q, want hass/…/config", topic)
		}
		if strings.HasPrefix(topic, "hass/binary_sensor/") {
			binary = true
		}
		if !strings.Contains(string(mustJSON(t, c)), "ood/test-device/status") {
			t.Errorf("%s: no availability on the status topic: %v", topic, c)
		}
	}
	if !binary {
		t.Errorf("no binary_sensor among %d discovery topics", len(configs))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
