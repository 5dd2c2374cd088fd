package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/ood"
)

// run executes the CLI with args and returns stdout and the error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := runErr(t, args...)
	return out, err
}

func conformanceModel(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(conformance.Dir("."), name, "model.tflite")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("conformance model missing: %v", err)
		}
		t.Skipf("conformance model missing: %v", err)
	}
	return path
}

func TestModelInspectJSON(t *testing.T) {
	out, err := run(t, "model", "inspect", conformanceModel(t, "mobilenet_v1_025_128_uint8"), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r inspectReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("inspect --json is not JSON: %v", err)
	}
	if !r.Supported || r.Ops["CONV_2D"] != 15 || r.Logits == nil || !r.Logits.ViaSoftmax || r.Labels < 1000 {
		t.Errorf("inspect = supported %v, CONV_2D %d, logits %+v, labels %d", r.Supported, r.Ops["CONV_2D"], r.Logits, r.Labels)
	}
}

func TestModelRunMatchesConformance(t *testing.T) {
	dir := filepath.Join(conformance.Dir("."), "hello_world_float")
	modelPath := conformanceModel(t, "hello_world_float")
	outDir := t.TempDir()
	if _, err := run(t, "model", "run", modelPath, "--input", filepath.Join(dir, "x1_f32.bin"), "--output-dir", outDir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(outDir, "output_0.bin"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "x1_expected_output_0.bin"))
	if err := conformance.Compare(model.Float32, got, want, conformance.Tolerance{FloatAbsolute: 1e-5, FloatRelative: 1e-4}); err != nil {
		t.Errorf("output_0.bin: %v", err)
	}
}

func TestModelRunWrongInputSize(t *testing.T) {
	modelPath := conformanceModel(t, "hello_world_float")
	in := filepath.Join(t.TempDir(), "in.bin")
	os.WriteFile(in, []byte{1, 2, 3}, 0o644)
	_, err := run(t, "model", "run", modelPath, "--input", in, "--output-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "needs 4") {
		t.Fatalf("model run with a 3-byte input = %v, want an error naming the 4 bytes needed", err)
	}
}

func TestModelBenchJSON(t *testing.T) {
	out, err := run(t, "model", "bench", conformanceModel(t, "hello_world_int8"), "--iterations", "5", "--json", "--ops")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Median  *float64 `json:"median_ms"`
		P90     *float64 `json:"p90_ms"`
		Threads int      `json:"threads"`
		Ops     []struct {
			Op     string  `json:"op"`
			MeanMS float64 `json:"mean_ms"`
			Share  float64 `json:"share"`
		} `json:"ops"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Median == nil || r.P90 == nil || r.Threads != 1 {
		t.Fatalf("bench --json = %s (%v)", out, err)
	}
	// hello_world_int8 is three FULLY_CONNECTED layers.
	var share float64
	for i, o := range r.Ops {
		share += o.Share
		if o.Op != "FULLY_CONNECTED" || (i > 0 && o.MeanMS > r.Ops[i-1].MeanMS) {
			t.Errorf("ops %+v: want three FULLY_CONNECTED, slowest first", r.Ops)
			break
		}
	}
	if len(r.Ops) != 3 || share < 0.999 || share > 1.001 {
		t.Errorf("ops %+v: want 3 with shares summing to 1 (got %v)", r.Ops, share)
	}
	text, err := run(t, "model", "bench", conformanceModel(t, "hello_world_int8"), "--iterations", "5", "--ops")
	if err != nil || !strings.Contains(text, "by operator type") || !strings.Contains(text, "slowest operators") || strings.Count(text, "FULLY_CONNECTED") != 4 {
		t.Errorf("bench --ops = %q (%v), want the per-type summary", text, err)
	}
}

func TestModelInspectCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.tflite")
	os.WriteFile(path, []byte("12345678 not a model"), 0o644)
	if _, err := run(t, "model", "inspect", path); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("inspect of a corrupt file = %v, want a malformed-model error", err)
	}
	if _, err := run(t, "model", "inspect", filepath.Join(t.TempDir(), "missing.tflite")); err == nil {
		t.Fatal("inspect of a missing file succeeded")
	}
}

// TestScoreCalibrateEval runs the ood commands on the demo frames with the
// embedded model.
func TestScoreCalibrateEval(t *testing.T) {
	frames := filepath.Join("..", "..", "agent", "demo", "frames")
	out, err := run(t, "score", frames, "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 15 {
		t.Fatalf("score printed %d lines for 15 frames", len(lines))
	}
	var first scoreLine
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.OOD == nil || first.LabelName == "" {
		t.Fatalf("score line = %s (%v)", lines[0], err)
	}
	calib := filepath.Join(t.TempDir(), "c.json")
	if _, err := run(t, "calibrate", "--id", "noise:uniform:200", "--out", calib); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(calib); err != nil {
		t.Fatal(err)
	}
	plot := filepath.Join(t.TempDir(), "p.png")
	out, err = run(t, "eval", "--id", frames, "--ood", "noise:uniform:100", "--ood", "noise:gaussian:100", "--json", "--plot", plot)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Results []EvalRow `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Results) != 6 {
		t.Fatalf("eval --json = %s (%v), want 6 rows", out, err)
	}
	for _, r := range res.Results {
		if r.AUROC < 0 || r.AUROC > 1 || r.FPR95 < 0 || r.FPR95 > 1 {
			t.Errorf("row %+v: metrics outside [0,1]", r)
		}
	}
	if st, err := os.Stat(plot); err != nil || st.Size() < 1000 {
		t.Errorf("plot not written: %v", err)
	}
}

func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runDemo(context.Background(), &out, &errOut, "frame", false); err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "the central server received") || strings.Contains(out.String(), "received 0 messages") {
		t.Errorf("demo output:\n%s", out.String())
	}
}

// TestDemoStreamListsEventFrames: in stream mode the OOD frames before the
// event_start message belong to the event and are listed so.
func TestDemoStreamListsEventFrames(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runDemo(context.Background(), &out, &errOut, "stream", false); err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut.String())
	}
	seen := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "09-mnist-digit.png ") && !strings.HasPrefix(line, "10-mnist-digit.png ") {
			continue
		}
		seen++
		if !strings.Contains(line, "OUT-OF-DISTRIBUTION") || !strings.Contains(line, "event …") {
			t.Errorf("stream mode lists an OOD frame of the event as %q", line)
		}
	}
	if seen != 2 {
		t.Errorf("frames 09 and 10 listed %d times, want once each:\n%s", seen, out.String())
	}
	if !strings.Contains(out.String(), "energy > −threshold") {
		t.Errorf("the demo does not explain score and energy:\n%s", out.String())
	}
}

func TestDemoReportedIn(t *testing.T) {
	names := []string{"a.png", "b.png", "c.png", "d.png", "e.png"}
	msg := func(typ, id, event string, seq, frames int) map[string]any {
		m := map[string]any{"type": typ, "id": id, "frame_seq": float64(seq), "origin": "/x/" + names[seq-1]}
		if event != "" {
			m["event_id"] = event
		}
		if frames > 0 {
			m["frames"] = float64(frames)
		}
		return m
	}
	tests := []struct {
		name     string
		received []map[string]any
		want     []string
	}{
		{"frame mode", []map[string]any{msg("alert", "id-000000000002", "", 2, 0), msg("alert", "id-000000000004", "", 4, 0)},
			[]string{"", "alert …000000000002", "", "alert …000000000004", ""}},
		{"stream: start after k frames, end later", []map[string]any{
			msg("event_start", "ev-00000000000e", "ev-00000000000e", 3, 2),
			msg("event_end", "id-0000000000ff", "ev-00000000000e", 5, 4),
		}, []string{"", "event …00000000000e", "event …00000000000e (started here)", "event …00000000000e", "event …00000000000e"}},
		{"origin disagreeing with the numbering is ignored", []map[string]any{{"type": "alert", "id": "x", "frame_seq": float64(1), "origin": "/x/zz.png"}},
			[]string{"", "", "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := demoReportedIn(names, tt.received); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("demoReportedIn = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCalibrationRecordsPreprocessing: calibrate records the preprocessing,
// score follows it by default and refuses a flag that contradicts it.
func TestCalibrationRecordsPreprocessing(t *testing.T) {
	frames := filepath.Join("..", "..", "agent", "demo", "frames")
	calib := filepath.Join(t.TempDir(), "c.json")
	if _, err := run(t, "calibrate", "--id", frames, "--crop", "pad", "--mean", "10", "--out", calib); err != nil {
		t.Fatal(err)
	}
	c, err := ood.Load(calib)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Preprocess; p == nil || p.Crop != "pad" || p.Mean[0] != 10 || p.Width != 28 || p.Color != "gray" {
		t.Fatalf("recorded preprocessing %+v, want pad, mean 10, 28×28 gray", c.Preprocess)
	}
	_, err = run(t, "score", "--calibration", calib, "--mean", "0", frames)
	const want = "preprocess.mean (--mean) = [0] but the calibration was made with [10]"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("score with a contradicting --mean = %v, want %q", err, want)
	}
	if _, err := run(t, "score", "--calibration", calib, frames); err != nil {
		t.Fatalf("score with the calibration's preprocessing: %v", err)
	}
}

// TestRunRefusesPreprocessingMismatch: the agent refuses a configuration
// that contradicts the calibration's preprocessing, naming both values.
func TestRunRefusesPreprocessingMismatch(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	yaml := "source:\n  dir:\n    path: " + dir + "\n    watch: false\noutbox:\n  path: " + filepath.Join(dir, "outbox.db") +
		"\nhttp:\n  listen: \"\"\npreprocess:\n  mean: [0.5]\n  crop: pad\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	err := runAgent(context.Background(), cfg, nil, nil, &logs)
	for _, want := range []string{
		"preprocess.mean (--mean) = [0.5] but the calibration was made with [0]",
		"preprocess.crop (--crop) = pad but the calibration was made with center",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run with a contradicting config = %v, want %q", err, want)
		}
	}
}

// runErr executes the CLI with args and returns stdout, stderr and the error.
func runErr(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// TestEvalDeployedThreshold checks eval's rates at the deployed threshold
// against the verdicts score prints for the same inputs.
func TestEvalDeployedThreshold(t *testing.T) {
	frames := filepath.Join("..", "..", "agent", "demo", "frames")
	kept := func(input string) (float64, int) {
		out, err := run(t, "score", input, "--json")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		n := 0
		for _, l := range lines {
			var s scoreLine
			if err := json.Unmarshal([]byte(l), &s); err != nil || s.OOD == nil {
				t.Fatalf("score line %s (%v)", l, err)
			}
			if !*s.OOD {
				n++
			}
		}
		return float64(n) / float64(len(lines)), len(lines)
	}
	wantTPR, nID := kept(frames)
	wantFPR, nOOD := kept("noise:gaussian:50")
	out, err := run(t, "eval", "--id", frames, "--ood", "noise:gaussian:50", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Deployed []DeployedRow `json:"deployed"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Deployed) != 1 {
		t.Fatalf("eval --json = %s (%v), want one deployed row", out, err)
	}
	d := res.Deployed[0]
	if d.TPR != wantTPR || d.FPR != wantFPR || d.NID != nID || d.NOOD != nOOD || d.Method != "energy" ||
		d.EnergyThreshold == nil || *d.EnergyThreshold != -d.Threshold {
		t.Errorf("deployed %+v, want TPR %v FPR %v over %d/%d inputs, energy threshold = −threshold", d, wantTPR, wantFPR, nID, nOOD)
	}
	out, err = run(t, "eval", "--id", frames, "--ood", "noise:gaussian:50")
	if err != nil || !strings.Contains(out, "at the deployed threshold (energy") {
		t.Errorf("eval table = %s (%v), want the deployed rates", out, err)
	}
}

// TestSkippedInputsAreLogged: an input that cannot be decoded is logged with
// its name and reason, and counted.
func TestSkippedInputsAreLogged(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("..", "..", "agent", "demo", "frames", "06-fashion-sandal.png"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "good.png"), good, 0o644)
	os.WriteFile(filepath.Join(dir, "broken.webp"), []byte("RIFF not really"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644)
	out, stderr, err := runErr(t, "calibrate", "--id", dir, "--out", filepath.Join(dir, "c.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "(1 skipped)") || !strings.Contains(stderr, "input skipped") ||
		!strings.Contains(stderr, "broken.webp") || !strings.Contains(stderr, "cannot decode image") ||
		!strings.Contains(stderr, "notes.txt reason=\"not an image by its extension") {
		t.Errorf("calibrate with a broken input:\nstdout %s\nstderr %s", out, stderr)
	}
}

func TestUnknownEnvWarnedAtStart(t *testing.T) {
	t.Setenv("OOD_AGENT_MQTT_BROKR", "tcp://127.0.0.1:1883")
	_, stderr, err := runErr(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "OOD_AGENT_MQTT_BROKR is not a configuration key and is ignored (did you mean OOD_AGENT_MQTT_BROKER?)") {
		t.Errorf("stderr = %q, want a warning with a suggestion", stderr)
	}
}

func TestModelInspectConcise(t *testing.T) {
	path := conformanceModel(t, "mobilenet_v2_224_uint8")
	out, err := run(t, "model", "inspect", path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 20 || !strings.Contains(out, "tensors      174 (--tensors lists them)") ||
		!strings.Contains(out, "supported    yes") || !strings.Contains(out, "logits       tensor 172") {
		t.Errorf("inspect is not a concise summary (%d lines):\n%s", len(lines), out)
	}
	out, err = run(t, "model", "inspect", path, "--tensors")
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if n := len(lines); n < 174 {
		t.Errorf("inspect --tensors printed %d lines, want the 174 tensors", n)
	}
	for _, l := range lines {
		if len([]rune(l)) > 160 {
			t.Errorf("line of %d characters: %s", len([]rune(l)), l)
		}
	}
	for flags, want := range map[string]int{"--json": 0, "--json --tensors": 174} {
		out, err := run(t, append([]string{"model", "inspect", path}, strings.Fields(flags)...)...)
		if err != nil {
			t.Fatal(err)
		}
		var r inspectReport
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Tensors) != want || r.TensorCount != 174 {
			t.Errorf("inspect %s: %d tensors of %d (%v), want %d", flags, len(r.Tensors), r.TensorCount, err, want)
		}
	}
}

func TestElide(t *testing.T) {
	long := strings.Repeat("a", 40) + strings.Repeat("b", 40)
	tests := map[string]string{
		"short":                 "short",
		strings.Repeat("x", 60): strings.Repeat("x", 60),
		long:                    strings.Repeat("a", 29) + "…" + strings.Repeat("b", 29),
		strings.Repeat("é", 61): strings.Repeat("é", 29) + "…" + strings.Repeat("é", 29),
	}
	for in, want := range tests {
		if got := elide(in); got != want {
			t.Errorf("elide(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProgressOnlyOnATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []io.Writer{&bytes.Buffer{}, f} {
		if bar := newProgress(w, "x", 10); bar != nil {
			t.Errorf("newProgress(%T) drew a bar on a non-terminal", w)
		}
	}
}

// TestScoreThresholdOverride: --threshold is an energy for the energy
// method, as decision.threshold is in the agent.
func TestScoreThresholdOverride(t *testing.T) {
	frame := filepath.Join("..", "..", "agent", "demo", "frames", "06-fashion-sandal.png")
	verdict := func(args ...string) scoreLine {
		out, err := run(t, append([]string{"score", "--json", frame}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var l scoreLine
		if err := json.Unmarshal([]byte(out), &l); err != nil || l.OOD == nil {
			t.Fatalf("score line %s (%v)", out, err)
		}
		return l
	}
	base := verdict()
	above := strconv.FormatFloat(base.Energy+0.5, 'g', -1, 64)
	below := strconv.FormatFloat(base.Energy-0.5, 'g', -1, 64)
	if l := verdict("--threshold", above); *l.OOD || *l.EnergyThreshold != base.Energy+0.5 || *l.Threshold != -(base.Energy+0.5) {
		t.Errorf("energy %v, threshold %s: %+v, want in-distribution", base.Energy, above, l)
	}
	if l := verdict("--threshold", below); !*l.OOD {
		t.Errorf("energy %v, threshold %s: want OOD", base.Energy, below)
	}
	if _, err := run(t, "score", frame, "--threshold", "NaN"); err == nil {
		t.Error("--threshold NaN accepted")
	}
}
