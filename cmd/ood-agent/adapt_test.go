package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/adapt"
	"github.com/ood-agent/ood-agent/model/dataset"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
)

// writeIdx writes the first n Fashion-MNIST test images and labels as
// uncompressed idx files.
func writeIdx(t *testing.T, n int) (images, labels string) {
	t.Helper()
	const dir = "/usr/share/datasets/fashion-mnist"
	img, err := dataset.ReadIdxImages(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Fashion-MNIST required on CI: %v", err)
		}
		t.Skipf("skipping: Fashion-MNIST not installed: %v", err)
	}
	lab, err := dataset.ReadIdxLabels(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	var ib, lb bytes.Buffer
	binary.Write(&ib, binary.BigEndian, []uint32{0x803, uint32(n), 28, 28})
	ib.Write(img.Pixels[:n*28*28])
	binary.Write(&lb, binary.BigEndian, []uint32{0x801, uint32(n)})
	lb.Write(lab[:n])
	tmp := t.TempDir()
	images, labels = filepath.Join(tmp, "images.idx3"), filepath.Join(tmp, "labels.idx1")
	os.WriteFile(images, ib.Bytes(), 0o644)
	os.WriteFile(labels, lb.Bytes(), 0o644)
	return images, labels
}

func runAdapt(args ...string) (string, error) {
	cmd := newAdaptCommand()
	cmd.SilenceUsage = true
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func meanEnergy(t *testing.T, f *model.File, input string) float64 {
	t.Helper()
	d, err := detect.New(f, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	o, _, err := collectOutputs(d, []string{input}, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, l := range o.logits {
		e, _ := ood.Energy(l, 1)
		sum += e
	}
	return sum / float64(len(o.logits))
}

// TestAdaptCLI adapts the int8 demo model with labeled ID images and
// confirmed noise outliers, and checks the new model and calibration.
func TestAdaptCLI(t *testing.T) {
	images, labels := writeIdx(t, 2000)
	dir := t.TempDir()
	out := filepath.Join(dir, "adapted.tflite")
	stdout, err := runAdapt("--model", "zoo:fashion_mnist_cnn_int8", "--id", images, "--id-labels", labels,
		"--ood", "noise:uniform:100", "--out", out)
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, "cross-validated (") || !strings.Contains(stdout, "adapted.calibration.json") {
		t.Errorf("adapt output:\n%s", stdout)
	}
	nf, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ood.Load(filepath.Join(dir, "adapted.calibration.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckModel(nf.SHA256()); err != nil {
		t.Errorf("calibration not bound to the adapted model: %v", err)
	}
	orig, _, _ := openModel("zoo:fashion_mnist_cnn_int8")
	before, after := meanEnergy(t, orig, "noise:uniform:100"), meanEnergy(t, nf, "noise:uniform:100")
	if after <= before {
		t.Errorf("mean energy of the confirmed noise %.3f before, %.3f after; want it raised", before, after)
	}

	// Refusal writes nothing.
	refused := filepath.Join(dir, "refused.tflite")
	if _, err := runAdapt("--model", "zoo:fashion_mnist_cnn_int8", "--id", images, "--id-labels", labels,
		"--max-drop", "-0.5", "--epochs", "5", "--out", refused); !errors.Is(err, adapt.ErrAccuracyDrop) {
		t.Errorf("adapt demanding +50 points = %v, want ErrAccuracyDrop", err)
	}
	if _, err := os.Stat(refused); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused adaptation wrote %s (%v)", refused, err)
	}
	// The model in use is never overwritten.
	if _, err := runAdapt("--model", out, "--id", images, "--out", out); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("adapt --out = --model: %v", err)
	}
}

// TestAdaptFromFeatures trains from a feedback export's features.jsonl
// (no images) and refuses vectors computed by another model.
func TestAdaptFromFeatures(t *testing.T) {
	images, labels := writeIdx(t, 2000)
	orig, _, err := openModel("zoo:fashion_mnist_cnn_int8")
	if err != nil {
		t.Fatal(err)
	}
	d, err := detect.New(orig, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	id, _, err := collectOutputs(d, []string{images}, "id", 0)
	if err != nil {
		t.Fatal(err)
	}
	noise, _, err := collectOutputs(d, []string{"noise:uniform:100"}, "ood", 0)
	if err != nil {
		t.Fatal(err)
	}
	lab, err := dataset.ReadIdxLabels(labels)
	if err != nil {
		t.Fatal(err)
	}
	write := func(modelSum string) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for i, f := range id.features {
			enc.Encode(feedback.FeatureLine{ID: fmt.Sprintf("k%d", i), Set: "kept", Predicted: int(lab[i]), Model: modelSum, Logits: id.logits[i], Features: f})
		}
		for i, f := range noise.features {
			enc.Encode(feedback.FeatureLine{ID: fmt.Sprintf("c%d", i), Set: "confirmed", Model: modelSum, Logits: noise.logits[i], Features: f})
		}
		path := filepath.Join(t.TempDir(), "features.jsonl")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	out := filepath.Join(t.TempDir(), "adapted.tflite")
	stdout, err := runAdapt("--model", "zoo:fashion_mnist_cnn_int8", "--features", write(orig.SHA256()), "--out", out)
	if err != nil {
		t.Fatalf("adapt --features: %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, "100 confirmed OOD") {
		t.Errorf("adapt output does not count the confirmed frames:\n%s", stdout)
	}
	nf, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if after, before := meanEnergy(t, nf, "noise:uniform:100"), meanEnergy(t, orig, "noise:uniform:100"); after <= before {
		t.Errorf("mean energy of the confirmed noise %.3f before, %.3f after; want it raised", before, after)
	}
	_, err = runAdapt("--model", "zoo:fashion_mnist_cnn_int8", "--features", write(strings.Repeat("ab", 32)), "--out", filepath.Join(t.TempDir(), "x.tflite"))
	if err == nil || !strings.Contains(err.Error(), "computed by model") {
		t.Errorf("features of another model: %v, want a refusal naming the model", err)
	}
}

// TestAdaptKilled kills an adapt process at several points with SIGKILL
// and checks that the model in use never changes and that the adapted
// model, when present, is complete and has its calibration.
func TestAdaptKilled(t *testing.T) {
	if os.Getenv("OOD_ADAPT_HELPER") == "1" {
		_, err := runAdapt(strings.Split(os.Getenv("OOD_ADAPT_ARGS"), "\n")...)
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	images, labels := writeIdx(t, 2000)
	dir := t.TempDir()
	inUse := filepath.Join(dir, "model.tflite")
	f, _, _ := openModel("zoo:fashion_mnist_cnn_int8")
	os.WriteFile(inUse, f.Raw, 0o644)
	out := filepath.Join(dir, "adapted.tflite")
	args := strings.Join([]string{"--model", inUse, "--id", images, "--id-labels", labels, "--ood", "noise:uniform:100", "--out", out}, "\n")
	interrupted := 0
	for _, delay := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, 800 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second} {
		os.Remove(out)
		cmd := exec.Command(os.Args[0], "-test.run", "^TestAdaptKilled$")
		if emu := os.Getenv("OOD_AGENT_TEST_EMULATOR"); emu != "" {
			// Under qemu user emulation (make test-arm), which does not
			// follow execve.
			cmd = exec.Command(emu, os.Args[0], "-test.run", "^TestAdaptKilled$")
		}
		cmd.Env = append(os.Environ(), "OOD_ADAPT_HELPER=1", "OOD_ADAPT_ARGS="+args)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		now, err := os.ReadFile(inUse)
		if err != nil || !bytes.Equal(now, f.Raw) {
			t.Fatalf("killed after %v: the model in use changed (%v)", delay, err)
		}
		nf, err := model.Open(out)
		if errors.Is(err, os.ErrNotExist) {
			interrupted++
			continue
		}
		if err != nil {
			t.Fatalf("killed after %v: partial adapted model: %v", delay, err)
		}
		// The calibration is written last: its absence means the adapted
		// model is not ready yet, its presence that it is bound to it.
		c, err := ood.Load(calibrationPath(out))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil || c.CheckModel(nf.SHA256()) != nil {
			t.Fatalf("killed after %v: calibration %v, bound: %v", delay, err, c.CheckModel(nf.SHA256()))
		}
	}
	if interrupted == 0 {
		t.Error("no kill landed before the adapted model was written; the test checked nothing")
	}
}
