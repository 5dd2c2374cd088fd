package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/feedback"
)

func runFeedback(args ...string) (string, error) {
	cmd := newFeedbackCommand()
	cmd.SilenceUsage = true
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// noiseJPEG is a 28×28 grey JPEG of uniform noise, the size the demo
// model reads.
func noiseJPEG(t *testing.T, rng *rand.Rand) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	img.SetGray(0, 0, color.Gray{Y: 255})
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFeedbackCLIToAdapt fills a store as the agent would, labels alerts
// with the CLI, exports, and has ood-agent adapt read the export.
func TestFeedbackCLIToAdapt(t *testing.T) {
	images, _ := writeIdx(t, 600)
	state := t.TempDir()
	s, err := feedback.Open(feedback.Options{Dir: feedback.Dir(state), Evidence: true, Reservoir: 8, Seed: 1, Precision: feedback.Float16})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		err := s.AddFlagged(feedback.Record{AlertID: fmt.Sprintf("a-%d", i), Time: t0.Add(time.Duration(i) * time.Minute),
			Source: "cam0", Frame: fmt.Sprint(i), Class: 0, Label: "T-shirt/top", Score: -1, Threshold: -4,
			Logits: make([]float32, 10), Features: make([]float32, 16), JPEG: noiseJPEG(t, rng)})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		if err := s.OfferUnflagged(feedback.Record{Class: 1, Label: "Trouser", Logits: make([]float32, 10), JPEG: noiseJPEG(t, rng)}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	for _, args := range [][]string{
		{"label", "a-0", "false_alarm", "--class", "3"},
		{"label", "a-1", "false_alarm"},
		{"label", "a-2", "confirmed"},
		{"label", "a-3", "confirmed"},
	} {
		if out, err := runFeedback(append(args, "--state-dir", state)...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if out, err := runFeedback("label", "a-9", "confirmed", "--state-dir", state); err == nil || !strings.Contains(err.Error(), "not in the feedback store") {
		t.Errorf("labeling an unknown alert: %v\n%s", err, out)
	}
	out, err := runFeedback("list", "--state-dir", state)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[1], "a-5") || !strings.Contains(lines[6], "false_alarm (3)") || !strings.Contains(lines[4], "confirmed") {
		t.Errorf("list:\n%s", out)
	}
	out, err = runFeedback("list", "--json", "--limit", "2", "--state-dir", state)
	if err != nil {
		t.Fatal(err)
	}
	var listed []struct {
		AlertID string `json:"alert_id"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 2 || listed[0].AlertID != "a-5" {
		t.Errorf("list --json: %v\n%s", err, out)
	}

	exp := filepath.Join(t.TempDir(), "fb")
	if out, err := runFeedback("export", exp, "--state-dir", state); err != nil || !strings.Contains(out, "2 false alarms, 2 confirmed, 8 kept (12 with images)") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	for _, p := range []string{"false_alarms/3/a-0.jpg", "false_alarms/0/a-1.jpg", "confirmed/a-2.jpg", "features.jsonl"} {
		if !fileExists(filepath.Join(exp, p)) {
			t.Errorf("export has no %s", p)
		}
	}
	adapted := filepath.Join(t.TempDir(), "adapted.tflite")
	out, err = runAdapt("--model", "zoo:fashion_mnist_cnn_int8", "--id", images, "--id", filepath.Join(exp, "kept"),
		"--false-alarms", filepath.Join(exp, "false_alarms"), "--ood", filepath.Join(exp, "confirmed"),
		"--max-drop", "0.2", "--out", adapted) // noise labeled as a class costs accuracy; the layout is what is tested
	if err != nil {
		t.Fatalf("adapt on the export: %v\n%s", err, out)
	}
	if !strings.Contains(out, "and 2 confirmed OOD") || !fileExists(adapted) {
		t.Errorf("adapt did not train on the 2 confirmed alerts:\n%s", out)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
