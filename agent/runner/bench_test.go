package runner

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/source"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/dataset"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/zoo"
)

// memSource serves frames from memory (encoded, like a directory of files,
// or decoded, like ffmpeg), cycling through frames: as many as have been
// sent on gate, so that a benchmark can run the agent in measured steps.
type memSource struct {
	frames []source.Frame
	gate   chan int
	left   int
	i      int
}

func (m *memSource) Next(ctx context.Context) (source.Frame, error) {
	if m.left == 0 {
		select {
		case m.left = <-m.gate:
		case <-ctx.Done():
			return source.Frame{}, ctx.Err()
		}
	}
	m.left--
	m.i++
	f := m.frames[(m.i-1)%len(m.frames)]
	f.Seq, f.Time, f.Origin = uint64(m.i), time.Now(), "mem"
	return f, nil
}
func (m *memSource) Close() error { return nil }
func (m *memSource) Live() bool   { return false }

// demoFrames returns the bundled demo frames whose names contain match as
// PNG bytes, repeated to n.
func demoFrames(b *testing.B, n int, match string) [][]byte {
	all, err := dataset.ImageFiles(filepath.Join("..", "demo", "frames"))
	if err != nil || len(all) == 0 {
		b.Fatalf("demo frames: %v", err)
	}
	var paths []string
	for _, p := range all {
		if strings.Contains(filepath.Base(p), match) {
			paths = append(paths, p)
		}
	}
	var out [][]byte
	for len(out) < n {
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, data)
		}
	}
	return out[:n]
}

// BenchmarkPipeline measures the whole agent (PNG decode, preprocessing,
// inference, scoring, decisions, outbox) on the demo model: b.N frames
// through a started, warmed-up agent, so ns/op and allocs/op are per frame.
// Invoke alone runs b.N times in the same run; x-interpreter is the ratio
// of the rates (1 = the pipeline adds nothing).
func BenchmarkPipeline(b *testing.B) {
	file, calib, err := zoo.Open(zoo.Default)
	if err != nil {
		b.Fatal(err)
	}
	it, err := interp.New(file.Model, interp.Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()

	key, err := control.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, set := range []struct {
		name, match string
		trusted     []string
	}{
		{"in-distribution", "fashion", nil}, // a camera's usual day: no alerts
		{"demo-mix", "", nil},               // 7 of 15 frames out of distribution
		// With fleet control on: the rollout watch and the kept
		// self-test frames on every frame.
		{"in-distribution-control", "fashion", []string{control.NewSigner(key).PublicKey()}},
	} {
		b.Run(set.name, func(b *testing.B) {
			benchmarkPipeline(b, file, calib, encoded(demoFrames(b, 100, set.match)), it, set.trusted, 1)
		})
	}
}

// benchmarkPipeline runs b.N frames, cycling through frames, through an
// agent with the given inference threads, next to it (an interpreter of
// the same model with the same thread count). The agent is started and
// has classified every frame once before the timer starts: start-up (the
// outbox, the MQTT client) and first-touch costs are not per-frame costs.
//
// The machine is shared, so its load changes during a run: the agent and
// Invoke alone take turns in steps of up to 100 frames, and each step of
// the agent is timed from its first frame classified to its last, so that
// filling the pipeline at each step is not counted against it.
func benchmarkPipeline(b *testing.B, file *model.File, calib *ood.Calibration, frames []source.Frame, it *interp.Interpreter, trusted []string, threads int) {
	cfg := testConfigB(b)
	cfg.Model.Threads = threads
	cfg.Control.TrustedKeys = trusted
	src := &memSource{frames: frames, gate: make(chan int, 1)}
	a, err := New(Options{Config: cfg, Model: file, Calibration: calib, Version: "bench",
		Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	TuneGC() // as the agent runs
	stop := runAgent(b, a)
	defer stop()
	// classified waits until the agent has handled n frames in all and
	// says when.
	classified := func(n int) time.Time {
		for a.frames.Get()+a.skipped.Get() < uint64(n) {
			time.Sleep(time.Millisecond)
		}
		return time.Now()
	}
	done := len(frames)
	src.gate <- done
	classified(done)

	b.ReportAllocs()
	b.ResetTimer()
	var agent, raw, agentCPU, rawCPU time.Duration
	var agentFrames, rawFrames int
	for left := b.N; left > 0; {
		step := min(left, 100)
		left -= step
		b.StopTimer()
		t0, c0 := time.Now(), cpuTime(b)
		for range step {
			if err := it.Invoke(); err != nil {
				b.Fatal(err)
			}
		}
		raw += time.Since(t0)
		rawCPU += cpuTime(b) - c0
		rawFrames += step
		b.StartTimer()
		c0 = cpuTime(b)
		src.gate <- step
		first := classified(done + 1)
		agent += classified(done + step).Sub(first)
		agentCPU += cpuTime(b) - c0
		agentFrames += step - 1
		done += step
	}
	b.StopTimer()
	if n := a.skipped.Get(); n > 0 {
		b.Fatalf("%d frames skipped", n)
	}
	if agentFrames == 0 {
		return // b.N = 1: nothing to compare
	}
	fps := float64(agentFrames) / agent.Seconds()
	interpFPS := float64(rawFrames) / raw.Seconds()
	b.ReportMetric(fps, "frames/s")
	b.ReportMetric(interpFPS, "interp-frames/s")
	b.ReportMetric(fps/interpFPS, "x-interpreter")
	// CPU time per frame, all threads: what the agent spends beyond
	// Invoke, whatever else runs on the machine.
	b.ReportMetric(float64(agentCPU.Microseconds())/1000/float64(b.N), "agent-cpu-ms/frame")
	b.ReportMetric(float64(rawCPU.Microseconds())/1000/float64(rawFrames), "interp-cpu-ms/frame")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// encoded makes frames of encoded images.
func encoded(data [][]byte) []source.Frame {
	frames := make([]source.Frame, len(data))
	for i, d := range data {
		frames[i].Data = d
	}
	return frames
}

// runAgent runs a until the returned stop is called; stop reports an error
// from Run.
func runAgent(tb testing.TB, a *Agent) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	}
}

func testConfigB(b *testing.B) *config.Config {
	cfg := config.Default()
	cfg.DeviceID = "bench"
	cfg.Model.Threads = 1 // like the raw interpreter it is compared with
	cfg.MQTT.Broker = "tcp://127.0.0.1:1"
	cfg.MQTT.StatsInterval = time.Hour
	cfg.Outbox.Path = filepath.Join(b.TempDir(), "outbox.db")
	cfg.HTTP.Listen = ""
	return cfg
}
