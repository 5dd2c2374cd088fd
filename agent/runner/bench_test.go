package runner

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// memSource serves encoded frames from memory, like a directory of files.
type memSource struct {
	frames [][]byte
	i      int
}

func (m *memSource) Next(ctx context.Context) (source.Frame, error) {
	if err := ctx.Err(); err != nil {
		return source.Frame{}, err
	}
	if m.i >= len(m.frames) {
		return source.Frame{}, io.EOF
	}
	m.i++
	return source.Frame{Seq: uint64(m.i), Time: time.Now(), Origin: "mem", Data: m.frames[m.i-1]}, nil
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

func peakRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkPipeline measures end-to-end frames per second of the whole agent
// (PNG decode, preprocessing, inference, scoring, decisions, outbox) on the
// demo model, next to the raw interpreter rate measured in the same run; the
// metric x-interpreter is their ratio (1 = the pipeline adds nothing).
func BenchmarkPipeline(b *testing.B) {
	TuneGC() // as the agent runs

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
			benchmarkPipeline(b, file, calib, demoFrames(b, 3000, set.match), it, set.trusted)
		})
	}
}

func benchmarkPipeline(b *testing.B, file *model.File, calib *ood.Calibration, frames [][]byte, it *interp.Interpreter, trusted []string) {
	benchmarkPipelineWith(b, file, calib, frames, it, trusted, 1)
}

// benchmarkPipelineThreads runs the agent with the given inference threads,
// compared with it (built with the same count).
func benchmarkPipelineThreads(b *testing.B, file *model.File, calib *ood.Calibration, frames [][]byte, it *interp.Interpreter, threads int) {
	benchmarkPipelineWith(b, file, calib, frames, it, nil, threads)
}

func benchmarkPipelineWith(b *testing.B, file *model.File, calib *ood.Calibration, frames [][]byte, it *interp.Interpreter, trusted []string, threads int) {
	b.ResetTimer()
	var total, rawTotal time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// The raw interpreter rate, Invoke alone in a tight loop, measured
		// right before each pipeline run so both see the same machine.
		t0 := time.Now()
		for range frames {
			if err := it.Invoke(); err != nil {
				b.Fatal(err)
			}
		}
		rawTotal += time.Since(t0)
		cfg := testConfigB(b)
		cfg.Model.Threads = threads
		cfg.Control.TrustedKeys = trusted
		a, err := New(Options{Config: cfg, Model: file, Calibration: calib, Version: "bench",
			Source: &memSource{frames: frames}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		t0 = time.Now()
		go func() { done <- a.Run(ctx) }()
		for a.frames.Get()+a.skipped.Get() < uint64(len(frames)) {
			time.Sleep(time.Millisecond)
		}
		total += time.Since(t0)
		b.StopTimer()
		cancel()
		<-done
	}
	fps := float64(len(frames)*b.N) / total.Seconds()
	interpFPS := float64(len(frames)*b.N) / rawTotal.Seconds()
	b.ReportMetric(fps, "frames/s")
	b.ReportMetric(interpFPS, "interp-frames/s")
	b.ReportMetric(fps/interpFPS, "x-interpreter")
	b.ReportMetric(peakRSSMB(), "peak-rss-MB")
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
