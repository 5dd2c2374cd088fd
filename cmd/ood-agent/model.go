package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/kernels"
)

func newModelCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Inspect, run, benchmark and quantize .tflite models",
	}
	cmd.AddCommand(newModelInspectCommand(), newModelRunCommand(), newModelBenchCommand(), newModelQuantizeCommand())
	return cmd
}

// tensorRef names a tensor in the JSON of inspect and run.
type tensorRef struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

type tensorInfo struct {
	tensorRef
	Const bool      `json:"const,omitempty"`
	Scale []float32 `json:"scale,omitempty"`
	Zero  []int64   `json:"zero_point,omitempty"`
	Axis  *int      `json:"quantized_dimension,omitempty"`
}

type inspectReport struct {
	Path        string          `json:"path"`
	Bytes       int             `json:"bytes"`
	SHA256      string          `json:"sha256"`
	Version     uint32          `json:"schema_version"`
	Description string          `json:"description,omitempty"`
	Inputs      []tensorInfo    `json:"inputs"`
	Outputs     []tensorInfo    `json:"outputs"`
	Ops         map[string]int  `json:"ops"`
	TensorCount int             `json:"tensor_count"`
	Tensors     []tensorInfo    `json:"tensors,omitempty"` // with --tensors
	Metadata    *model.Metadata `json:"metadata,omitempty"`
	Labels      int             `json:"labels,omitempty"`
	Logits      *logitsInfo     `json:"logits,omitempty"`
	Features    *featuresInfo   `json:"features,omitempty"`
	Supported   bool            `json:"supported"`
	Problem     string          `json:"problem,omitempty"`
	ArenaBytes  int             `json:"arena_bytes,omitempty"`
}

type logitsInfo struct {
	Tensor     int    `json:"tensor"`
	Name       string `json:"name"`
	ViaSoftmax bool   `json:"via_softmax"`
	Error      string `json:"error,omitempty"`
}

// featuresInfo is the penultimate-feature tap that the feature-space
// scores (react, ash, knn, support) and adapt read.
type featuresInfo struct {
	Tensor  int    `json:"tensor"`
	Name    string `json:"name"`
	Dim     int    `json:"dim"`
	HeadOp  string `json:"head_op"`
	Classes int    `json:"classes"`
	Error   string `json:"error,omitempty"`
}

func describeTensor(m *model.Model, i int) tensorInfo {
	t := &m.Subgraphs[0].Tensors[i]
	info := tensorInfo{tensorRef: tensorRef{Index: i, Name: t.Name, DType: t.Type.String(), Shape: t.Shape}, Const: t.Buffer > 0 && len(m.Buffers[t.Buffer]) > 0}
	if q := t.Quant; q != nil {
		info.Scale, info.Zero = q.Scale, q.ZeroPoint
		if len(q.Scale) > 1 {
			axis := q.QuantizedDimension
			info.Axis = &axis
		}
	}
	return info
}

func inspect(f *model.File, withTensors bool) inspectReport {
	m := f.Model
	sg := &m.Subgraphs[0]
	r := inspectReport{
		Path: f.Name, Bytes: len(f.Raw), SHA256: f.SHA256(), Version: m.Version,
		Description: m.Description, Ops: m.OpCounts(), Metadata: f.Metadata,
	}
	if f.Metadata != nil {
		r.Labels = len(f.Metadata.Labels())
		r.Metadata = &model.Metadata{}
		*r.Metadata = *f.Metadata
		r.Metadata.Files = nil // contents are summarized, not dumped
	}
	for _, i := range sg.Inputs {
		r.Inputs = append(r.Inputs, describeTensor(m, i))
	}
	for _, i := range sg.Outputs {
		r.Outputs = append(r.Outputs, describeTensor(m, i))
	}
	r.TensorCount = len(sg.Tensors)
	for i := range sg.Tensors {
		if withTensors {
			r.Tensors = append(r.Tensors, describeTensor(m, i))
		}
	}
	if l, err := m.FindLogits(); err != nil {
		r.Logits = &logitsInfo{Tensor: -1, Error: err.Error()}
	} else {
		r.Logits = &logitsInfo{Tensor: l.Tensor, Name: sg.Tensors[l.Tensor].Name, ViaSoftmax: l.ViaSoftmax}
	}
	if f, err := m.FindFeatures(); err != nil {
		r.Features = &featuresInfo{Tensor: -1, Error: err.Error()}
	} else {
		r.Features = &featuresInfo{Tensor: f.Tensor, Name: sg.Tensors[f.Tensor].Name, Dim: f.Dim, HeadOp: f.HeadOp.String(), Classes: f.Classes}
	}
	it, err := interp.New(m, interp.Options{})
	if err != nil {
		r.Problem = err.Error()
	} else {
		r.Supported = true
		r.ArenaBytes = it.ArenaBytes()
		it.Close()
	}
	return r
}

func newModelInspectCommand() *cobra.Command {
	var asJSON, tensors bool
	cmd := &cobra.Command{
		Use:   "inspect MODEL [--tensors] [--json]",
		Short: "Summarize a model: inputs, outputs, logits tensor, operators, whether it runs, metadata",
		Long: `Summarize a model: its inputs and outputs, the tensor the scores are computed
from (the logits), operator counts, whether every operator is supported (and
the arena it needs), and its metadata. --tensors adds every tensor with its
type, shape and quantization. Long tensor names are shortened in the middle;
--json keeps them whole.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := model.Open(args[0])
			if err != nil {
				return err
			}
			r := inspect(f, tensors)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			printInspect(cmd.OutOrStdout(), r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&tensors, "tensors", false, "list every tensor")
	return cmd
}

// printInspect prints the summary first, so that it does not scroll away
// behind a long tensor list.
func printInspect(w io.Writer, r inspectReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s (%d bytes, schema v%d)\n", r.Path, r.Bytes, r.Version)
	fmt.Fprintf(tw, "sha256\t%s\n", r.SHA256)
	if r.Description != "" {
		fmt.Fprintf(tw, "description\t%s\n", r.Description)
	}
	for _, t := range r.Inputs {
		fmt.Fprintf(tw, "input %d\t%s\n", t.Index, formatTensor(t))
	}
	for _, t := range r.Outputs {
		fmt.Fprintf(tw, "output %d\t%s\n", t.Index, formatTensor(t))
	}
	if r.Logits != nil {
		if r.Logits.Error != "" {
			fmt.Fprintf(tw, "logits\t%s\n", r.Logits.Error)
		} else {
			via := "output (no softmax)"
			if r.Logits.ViaSoftmax {
				via = "input of the final SOFTMAX"
			}
			fmt.Fprintf(tw, "logits\ttensor %d %q, %s\n", r.Logits.Tensor, elide(r.Logits.Name), via)
		}
	}
	if f := r.Features; f != nil {
		if f.Error != "" {
			fmt.Fprintf(tw, "features\t%s\n", f.Error)
		} else {
			fmt.Fprintf(tw, "features\ttensor %d %q, %d values, input of the %s head (%d classes)\n", f.Tensor, elide(f.Name), f.Dim, f.HeadOp, f.Classes)
		}
	}
	var ops []string
	total := 0
	for name, n := range r.Ops {
		ops = append(ops, fmt.Sprintf("%s×%d", name, n))
		total += n
	}
	sort.Strings(ops)
	fmt.Fprintf(tw, "ops\t%d: %s\n", total, strings.Join(ops, " "))
	if r.Supported {
		fmt.Fprintf(tw, "supported\tyes (arena %d bytes)\n", r.ArenaBytes)
	} else {
		fmt.Fprintf(tw, "supported\tno: %s\n", r.Problem)
	}
	if md := r.Metadata; md != nil {
		fmt.Fprintf(tw, "metadata\t%s %s: %s\n", md.Name, md.Version, md.Description)
		for i, in := range md.Inputs {
			fmt.Fprintf(tw, "  input %d\t%s color=%s mean=%v std=%v\n", i, in.Name, in.ColorSpace, in.Mean, in.Std)
		}
		if r.Labels > 0 {
			fmt.Fprintf(tw, "  labels\t%d\n", r.Labels)
		}
		for _, warning := range md.Warnings {
			fmt.Fprintf(tw, "  warning\t%s\n", warning)
		}
	} else {
		fmt.Fprintf(tw, "metadata\tnone (set preprocess.mean/std/color, or --mean/--std/--color)\n")
	}
	if len(r.Tensors) == 0 {
		fmt.Fprintf(tw, "tensors\t%d (--tensors lists them)\n", r.TensorCount)
	} else {
		fmt.Fprintf(tw, "tensors\t%d\n", r.TensorCount)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range r.Tensors {
		fmt.Fprintf(tw, "  %d\t%s\n", t.Index, formatTensor(t))
	}
	tw.Flush()
}

// maxNameLen bounds tensor names in text output; converters produce
// names of hundreds of characters that would wrap every line.
const maxNameLen = 60

// elide shortens a long name in the middle, where converter-generated
// names repeat themselves, keeping the start and the distinctive end.
func elide(name string) string {
	r := []rune(name)
	if len(r) <= maxNameLen {
		return name
	}
	keep := (maxNameLen - 1) / 2
	return string(r[:keep]) + "…" + string(r[len(r)-keep:])
}

func formatTensor(t tensorInfo) string {
	s := fmt.Sprintf("%s %s%v", elide(t.Name), t.DType, t.Shape)
	if len(t.Scale) == 1 {
		s += fmt.Sprintf(" q(scale=%g, zero=%d)", t.Scale[0], t.Zero[0])
	} else if len(t.Scale) > 1 {
		s += fmt.Sprintf(" q(per-channel ×%d, axis %d)", len(t.Scale), *t.Axis)
	}
	if t.Const {
		s += " const"
	}
	return s
}

func newModelRunCommand() *cobra.Command {
	var (
		inputs []string
		outDir string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "run MODEL --input FILE [--input FILE ...] --output-dir DIR",
		Short: "Run a model on raw little-endian input tensors and write each output's raw bytes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := model.Open(args[0])
			if err != nil {
				return err
			}
			it, err := interp.New(f.Model, interp.Options{})
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			defer it.Close()
			if len(inputs) != len(it.Inputs()) {
				return fmt.Errorf("model has %d inputs, got %d --input files", len(it.Inputs()), len(inputs))
			}
			for i, path := range inputs {
				data, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("input %d: %w", i, err)
				}
				in := it.Input(i)
				if len(data) != len(in.Data) {
					return fmt.Errorf("input %d (%s): %s holds %d bytes, tensor %s%v needs %d",
						i, in.Name, path, len(data), in.Type, in.Shape, len(in.Data))
				}
				copy(in.Data, data)
			}
			if err := it.Invoke(); err != nil {
				return err
			}
			if outDir != "" {
				if err := os.MkdirAll(outDir, 0o755); err != nil {
					return err
				}
			}
			var results []runOutput
			for i, out := range it.Outputs() {
				if outDir != "" {
					path := filepath.Join(outDir, fmt.Sprintf("output_%d.bin", i))
					if err := os.WriteFile(path, out.Data, 0o644); err != nil {
						return err
					}
				}
				values, err := out.Dequantize(nil)
				if err != nil {
					return err
				}
				results = append(results, runOutput{tensorRef: tensorRef{Index: i, Name: out.Name, DType: out.Type.String(), Shape: out.Shape}, Values: values})
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"outputs": results})
			}
			for _, r := range results {
				fmt.Fprintf(cmd.OutOrStdout(), "output %d %s %s%v: %s\n", r.Index, r.Name, r.DType, r.Shape, summarize(r.Values))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&inputs, "input", nil, "raw little-endian bytes of one input tensor, in input order (repeat)")
	cmd.Flags().StringVar(&outDir, "output-dir", "", "directory for output_<i>.bin files")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print shapes, dtypes and dequantized values as JSON")
	return cmd
}

type runOutput struct {
	tensorRef
	Values []float32 `json:"values"`
}

func summarize(v []float32) string {
	const show = 10
	parts := make([]string, 0, show)
	for _, x := range v[:min(show, len(v))] {
		parts = append(parts, fmt.Sprintf("%.6g", x))
	}
	s := strings.Join(parts, " ")
	if len(v) > show {
		s += fmt.Sprintf(" … (%d values)", len(v))
	}
	return s
}

type benchResult struct {
	MedianMS   float64 `json:"median_ms"`
	P90MS      float64 `json:"p90_ms"`
	Threads    int     `json:"threads"`
	Kernels    string  `json:"kernels"`
	Iterations int     `json:"iterations"`
	ArenaBytes int     `json:"arena_bytes"`
	// Ops is the per-operator profile (--ops), slowest first.
	Ops []opTime `json:"ops,omitempty"`
}

// opTime is one operator's mean time per Invoke over the profiled runs.
type opTime struct {
	Index  int     `json:"index"`
	Op     string  `json:"op"`
	Output string  `json:"output"`
	Shape  []int   `json:"shape"`
	MeanMS float64 `json:"mean_ms"`
	Share  float64 `json:"share"`
}

// profileOps runs iterations timed invocations and returns each
// operator's mean time, slowest first.
func profileOps(it *interp.Interpreter, iterations int) ([]opTime, error) {
	ops := it.Ops()
	times := make([]time.Duration, len(ops))
	for range iterations {
		if err := it.InvokeTimed(times); err != nil {
			return nil, err
		}
	}
	var total time.Duration
	for _, d := range times {
		total += d
	}
	out := make([]opTime, len(ops))
	for i, op := range ops {
		out[i] = opTime{Index: op.Index, Op: op.Name, Output: op.Output, Shape: op.Shape,
			MeanMS: float64(times[i].Nanoseconds()) / 1e6 / float64(iterations), Share: float64(times[i]) / float64(max(total, 1))}
	}
	slices.SortStableFunc(out, func(a, b opTime) int { return cmp.Compare(b.MeanMS, a.MeanMS) })
	return out, nil
}

// writeOps prints the profile by operator type, then the slowest
// operators.
func writeOps(w io.Writer, ops []opTime, slowest int) {
	type sum struct {
		ms    float64
		count int
	}
	byType := map[string]*sum{}
	var types []string
	for _, o := range ops {
		if byType[o.Op] == nil {
			byType[o.Op] = &sum{}
			types = append(types, o.Op)
		}
		byType[o.Op].ms += o.MeanMS
		byType[o.Op].count++
	}
	slices.SortStableFunc(types, func(a, b string) int { return cmp.Compare(byType[b].ms, byType[a].ms) })
	var total float64
	for _, o := range ops {
		total += o.MeanMS
	}
	fmt.Fprintf(w, "\nby operator type (mean per Invoke, %.3f ms in all):\n", total)
	for _, t := range types {
		fmt.Fprintf(w, "  %-22s %3d× %10.1f µs %5.1f%%\n", t, byType[t].count, 1000*byType[t].ms, 100*byType[t].ms/max(total, 1e-12))
	}
	fmt.Fprintf(w, "\nslowest operators:\n")
	for _, o := range ops[:min(slowest, len(ops))] {
		fmt.Fprintf(w, "  %4d %-22s %10.1f µs %5.1f%%  %v %s\n", o.Index, o.Op, 1000*o.MeanMS, 100*o.Share, o.Shape, shorten(o.Output, 48))
	}
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func newModelBenchCommand() *cobra.Command {
	var (
		threads, iterations, warmup int
		asJSON, ops                 bool
	)
	cmd := &cobra.Command{
		Use:   "bench MODEL",
		Short: "Time Invoke on random inputs after a warm-up",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if iterations < 1 {
				return errors.New("--iterations must be at least 1")
			}
			f, err := model.Open(args[0])
			if err != nil {
				return err
			}
			it, err := interp.New(f.Model, interp.Options{Threads: threads})
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			defer it.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			for _, in := range it.Inputs() {
				fillRandom(rng, in)
			}
			for range warmup {
				if err := it.Invoke(); err != nil {
					return err
				}
			}
			times := make([]float64, iterations)
			for i := range times {
				start := time.Now()
				if err := it.Invoke(); err != nil {
					return err
				}
				times[i] = float64(time.Since(start).Nanoseconds()) / 1e6
			}
			slices.Sort(times)
			r := benchResult{
				MedianMS: times[len(times)/2], P90MS: times[min(len(times)-1, len(times)*9/10)],
				Threads: it.Threads(), Kernels: it.KernelLevel().String(),
				Iterations: iterations, ArenaBytes: it.ArenaBytes(),
			}
			if ops {
				if r.Ops, err = profileOps(it, iterations); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: median %.3f ms, p90 %.3f ms (%d iterations, %d threads, %s kernels, arena %d bytes)\n",
				args[0], r.MedianMS, r.P90MS, r.Iterations, r.Threads, r.Kernels, r.ArenaBytes)
			if ops {
				writeOps(cmd.OutOrStdout(), r.Ops, 15)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&threads, "threads", 1, "goroutines kernels may use")
	cmd.Flags().IntVar(&iterations, "iterations", 100, "timed invocations")
	cmd.Flags().IntVar(&warmup, "warmup", 10, "untimed invocations first")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&ops, "ops", false, "after the timing, profile each operator over as many more invocations")
	return cmd
}

// fillRandom fills a tensor with values valid for its type: floats in
// [-1, 1), booleans 0 or 1, integers across their range.
func fillRandom(rng *rand.Rand, t *kernels.Tensor) {
	switch t.Type {
	case model.Float32:
		for i := range t.F32() {
			t.F32()[i] = rng.Float32()*2 - 1
		}
	case model.Bool:
		for i := range t.Data {
			t.Data[i] = byte(rng.IntN(2))
		}
	default:
		for i := range t.Data {
			t.Data[i] = byte(rng.IntN(256))
		}
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
