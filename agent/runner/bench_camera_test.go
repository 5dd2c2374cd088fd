package runner

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/source"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/ood"
)

// birdModel is the 224×224 bird classifier of the shared conformance set.
var birdModel = filepath.Join("..", "..", "..", "shared", "conformance", "inat_bird_v2_224_uint8", "model.tflite")

// openBird opens the bird model with a calibration over energies the model
// gives on a few frames: the benchmarks measure speed and memory, not the
// detector's quality.
func openBird(tb testing.TB) (*model.File, *ood.Calibration) {
	file, err := model.Open(birdModel)
	if err != nil {
		tb.Skipf("camera model: %v (the shared conformance set is not here)", err)
	}
	calib, err := ood.Calibrate(file.SHA256(), ood.MethodEnergy, 1, 0.95, []float64{-1, 0, 1, 2, 3})
	if err != nil {
		tb.Fatal(err)
	}
	return file, calib
}

// BenchmarkPipelineCamera is BenchmarkPipeline on a camera-size model: the
// bird classifier on JPEG frames as a camera delivers them, at the source's
// resolution (resized by the agent) and already at the model's, and on raw
// frames at the model's size as the ffmpeg source delivers them (decoded
// and scaled in ffmpeg's process), with one and two inference threads.
// x-interpreter is the agent's frame rate over Invoke's alone at the same
// thread count. Use -benchtime 300x or more: each frame takes milliseconds.
func BenchmarkPipelineCamera(b *testing.B) {
	file, calib := openBird(b)
	for _, threads := range []int{1, 2} {
		it, err := interp.New(file.Model, interp.Options{Threads: threads})
		if err != nil {
			b.Fatal(err)
		}
		for _, set := range []struct {
			name   string
			frames []source.Frame
		}{
			{"224x224", encoded(cameraFrames(b, 40, 224, 224))},
			{"640x480", encoded(cameraFrames(b, 40, 640, 480))},
			{"raw224x224", rawFrames(40, 224, 224)},
		} {
			frames := set.frames
			b.Run(fmt.Sprintf("%s/threads=%d", set.name, threads), func(b *testing.B) {
				benchmarkPipeline(b, file, calib, frames, it, nil, threads)
			})
		}
		it.Close()
	}
}

// BenchmarkPipelineCameraRSS reports the peak resident memory (VmHWM) of
// the agent alone: a fresh process (TestHelperAgentRSS) that runs the bird
// model with the default settings on 200 640×480 JPEG files from a
// directory, next to the model file's size. The goal is
// over-model-MB ≤ 30. b.N does not matter: one child per run.
func BenchmarkPipelineCameraRSS(b *testing.B) {
	st, err := os.Stat(birdModel)
	if err != nil {
		b.Skipf("camera model: %v (the shared conformance set is not here)", err)
	}
	dir, state := b.TempDir(), b.TempDir()
	for i, f := range cameraFrames(b, 40, 640, 480) {
		for rep := range 5 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("frame-%d-%03d.jpg", rep, i)), f, 0o600); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	cmd := selfCommand("-test.run=^TestHelperAgentRSS$")
	cmd.Env = append(os.Environ(), "OOD_RUNNER_RSS_FRAMES="+dir, "OOD_RUNNER_RSS_STATE="+state)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	b.StopTimer()
	if err != nil {
		b.Fatalf("child: %v\n%s%s", err, out, stderr.Bytes())
	}
	var kb, frames int
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "agent-rss" {
			kb, _ = strconv.Atoi(f[1])
			frames, _ = strconv.Atoi(f[2])
		}
	}
	if kb == 0 || frames != 200 {
		b.Fatalf("child reported %d kB after %d frames:\n%s%s", kb, frames, out, stderr.Bytes())
	}
	modelMB := float64(st.Size()) / (1 << 20)
	b.ReportMetric(float64(kb)/1024, "peak-rss-MB")
	b.ReportMetric(modelMB, "model-MB")
	b.ReportMetric(float64(kb)/1024-modelMB, "over-model-MB")
}

// TestHelperAgentRSS is run as a child process by
// BenchmarkPipelineCameraRSS: it runs an agent on the bird model over the
// JPEG files in OOD_RUNNER_RSS_FRAMES, as the command does (default settings,
// TuneGC), and prints its peak resident memory and the frames classified.
func TestHelperAgentRSS(t *testing.T) {
	dir := os.Getenv("OOD_RUNNER_RSS_FRAMES")
	if dir == "" {
		return // not a child
	}
	file, calib := openBird(t)
	cfg := config.Default()
	cfg.DeviceID = "rss"
	cfg.MQTT.Broker = "tcp://127.0.0.1:1"
	cfg.Source.Type = config.SourceDir
	cfg.Source.Dir.Path = dir
	cfg.Outbox.Path = filepath.Join(os.Getenv("OOD_RUNNER_RSS_STATE"), "outbox.db")
	cfg.HTTP.Listen = ""
	a, err := New(Options{Config: cfg, Model: file, Calibration: calib, Version: "rss", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	TuneGC()
	stop := runAgent(t, a)
	waitFor(t, "frames classified", time.Minute, func() bool { return a.frames.Get()+a.skipped.Get() >= 200 })
	stop()
	fmt.Printf("agent-rss %d %d\n", vmHWM(t), a.frames.Get())
}

// vmHWM is the process's peak resident set size in kB.
func vmHWM(t *testing.T) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// cameraFrames makes n JPEG frames of w×h (see cameraImages).
func cameraFrames(b *testing.B, n, w, h int) [][]byte {
	out := make([][]byte, n)
	for i, img := range cameraImages(n, w, h) {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
			b.Fatal(err)
		}
		out[i] = buf.Bytes()
	}
	return out
}

// rawFrames makes n decoded frames of w×h, as the ffmpeg source delivers
// them.
func rawFrames(n, w, h int) []source.Frame {
	out := make([]source.Frame, n)
	for i, img := range cameraImages(n, w, h) {
		out[i].Image = img
	}
	return out
}

// cameraImages makes n pictures of w×h with smooth gradients and noise,
// about what a camera's encoder gets.
func cameraImages(n, w, h int) []*image.RGBA {
	rng := rand.New(rand.NewPCG(7, uint64(w)))
	out := make([]*image.RGBA, n)
	for i := range out {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				n := uint8(rng.IntN(24))
				img.SetRGBA(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, uint8((x+y+i*7)%256) / 2, 255})
			}
		}
		out[i] = img
	}
	return out
}
