package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/event"
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
	sub, err := mqtt.New(mqtt.Options{Broker: url, ClientID: clientID, KeepAlive: 5 * time.Second,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := sub.Subscribe(ctx, "ood/+/alert", 1, func(_ string, payload []byte) {
		var m event.Message
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Errorf("alert payload: %v", err)
			return
		}
		c.mu.Lock()
		c.ids[m.ID]++
		frame := fmt.Sprintf("%s#%d", m.Origin, m.FrameSeq)
		if prev, ok := c.byOri[frame]; ok && prev != m.ID {
			t.Errorf("frame %s got two different alert ids %s and %s", frame, prev, m.ID)
		}
		c.byOri[frame] = m.ID
		c.mu.Unlock()
	}); err != nil {
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
	return c
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
	waitFor(t, "frames processed while the broker is down", 20*time.Second, func() bool { return a.frames.Value() >= 30 })
	if a.ob.Len() == 0 {
		t.Error("outbox empty while the broker is down; alerts were not kept")
	}
	broker.Restart()
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
	a := newAgent(t, cfg)
	a.Run(context.Background())
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
	cfgPath := filepath.Join(state, "agent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	child := func() *exec.Cmd {
		cmd := selfCommand("-test.run=^TestHelperAgentProcess$")
		cmd.Env = append(os.Environ(), "OOD_RUNNER_TEST_CONFIG="+cfgPath)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
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
		return a.skipped.Value()+a.pump.Stats().Skipped >= uint64(len(bad))
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
	sub, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "observer", KeepAlive: 5 * time.Second, CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	sub.Subscribe(sctx, "ood/test-device/#", 1, func(topic string, payload []byte) {
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
	go sub.Run(sctx)

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
	for _, s := range stats {
		if s.Frames > 0 && (s.Inference == nil || s.Energy == nil || s.Calibration.EnergyP50 == nil) {
			t.Errorf("stats with frames lack quantiles: %+v", s)
		}
	}
}

// selfCommand re-executes the test binary; under qemu user emulation
// (make test-arm) through the emulator, which does not follow execve.
func selfCommand(args ...string) *exec.Cmd {
	if emu := os.Getenv("OOD_AGENT_TEST_EMULATOR"); emu != "" {
		return exec.Command(emu, append([]string{os.Args[0]}, args...)...)
	}
	return exec.Command(os.Args[0], args...)
}

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
	sub, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "central", KeepAlive: 5 * time.Second, CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	sub.Subscribe(sctx, "ood/+/alert", 1, func(_ string, payload []byte) {
		var m event.Message
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Errorf("alert: %v", err)
			return
		}
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	})
	go sub.Run(sctx)
	if err := sub.WaitConnected(sctx); err != nil {
		t.Fatal(err)
	}

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
	if got := a.frames.Value(); got < 20 {
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
