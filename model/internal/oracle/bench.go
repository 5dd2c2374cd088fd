package oracle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
)

// BenchResult is the timing of Infer() calls on one model, single-threaded,
// with random inputs.
type BenchResult struct {
	MedianMS   float64 `json:"median_ms"`
	P90MS      float64 `json:"p90_ms"`
	MinMS      float64 `json:"min_ms"`
	MeanMS     float64 `json:"mean_ms"`
	Iterations int     `json:"iterations"`
	Warmup     int     `json:"warmup"`
	Threads    int     `json:"threads"`
	Variant    Variant `json:"variant"`
}

// Bench times iterations runs of the model at modelPath with the SIMD build
// when possible, after a warm-up of a tenth as many runs.
func Bench(ctx context.Context, modelPath string, iterations int) (BenchResult, error) {
	return BenchVariant(ctx, VariantAuto, modelPath, iterations)
}

// BenchVariant is Bench with a chosen build of the runtime.
func BenchVariant(ctx context.Context, v Variant, modelPath string, iterations int) (BenchResult, error) {
	if iterations < 1 {
		return BenchResult{}, fmt.Errorf("bench %s: iterations = %d, want at least 1", modelPath, iterations)
	}
	s, err := locate()
	if err != nil {
		return BenchResult{}, err
	}
	abs, err := filepath.Abs(modelPath)
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench %s: %w", modelPath, err)
	}
	cmd := exec.CommandContext(ctx, s.node, filepath.Join(s.dir, "oracle.mjs"), "bench",
		"--model", abs,
		"--iterations", strconv.Itoa(iterations),
		"--warmup", strconv.Itoa(iterations/10+1),
		"--variant", string(v))
	cmd.Dir = s.dir
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	runErr := cmd.Run()
	res, err := parseBench(stdout.Bytes())
	if err != nil {
		if runErr != nil {
			err = fmt.Errorf("%w (%v): %s", err, runErr, stderr.String())
		}
		return BenchResult{}, fmt.Errorf("bench %s: %w", modelPath, err)
	}
	return res, nil
}

// parseBench reads the result line of `oracle.mjs bench`.
func parseBench(out []byte) (BenchResult, error) {
	for _, line := range bytes.Split(out, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var fail struct {
			OK    *bool  `json:"ok"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(line, &fail); err != nil {
			continue
		}
		if fail.OK != nil && !*fail.OK {
			return BenchResult{}, fmt.Errorf("%w: %s", ErrRejected, fail.Error)
		}
		var r BenchResult
		if err := json.Unmarshal(line, &r); err != nil {
			return BenchResult{}, fmt.Errorf("parse bench result: %w", err)
		}
		if r.Iterations < 1 || r.MedianMS < 0 || r.P90MS < r.MedianMS {
			return BenchResult{}, fmt.Errorf("parse bench result: implausible %+v", r)
		}
		return r, nil
	}
	return BenchResult{}, errors.New("no bench result in oracle output")
}
