package oracle

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// conformanceCase is the case.json of one conformance folder.
type conformanceCase struct {
	Model     string       `json:"model"`
	Inputs    []caseTensor `json:"inputs"`
	Outputs   []caseTensor `json:"outputs"`
	Tolerance tolerance    `json:"tolerance"`
	Samples   []sample     `json:"samples"`
}

type caseTensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

type tolerance struct {
	QuantizedSteps float64 `json:"quantized_steps"`
	FloatRelative  float64 `json:"float_relative"`
	FloatAbsolute  float64 `json:"float_absolute"`
}

type sample struct {
	Name         string   `json:"name"`
	Inputs       []string `json:"inputs"`
	Expected     []string `json:"expected"`
	ExpectedFrom string   `json:"expected_from"`
	Check        *struct {
		Argmax       *int `json:"argmax"`
		Top3Contains *int `json:"top3_contains"`
	} `json:"check"`
}

// conformanceDir finds the shared conformance cases: OOD_CONFORMANCE_DIR, or
// ../shared/conformance beside the module root.
func conformanceDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("OOD_CONFORMANCE_DIR")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("moduleRoot() error: %v", err)
		}
		dir = filepath.Join(root, "..", "shared", "conformance")
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("conformance cases required on CI: %v", err)
		}
		t.Skipf("skipping: no conformance cases (set OOD_CONFORMANCE_DIR): %v", err)
	}
	return dir
}

func loadCase(t testing.TB, dir string) conformanceCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c conformanceCase
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("parse %s/case.json: %v", dir, err)
	}
	return c
}

func readFiles(t testing.TB, dir string, names []string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestConformance(t *testing.T) {
	root := conformanceDir(t)
	o := Require(t)
	tests := []struct {
		name string
		// clampQuantDim marks models that full TFLite rejects for a
		// quantized_dimension outside the tensor's rank (TFLite Micro
		// accepts them); they are checked to be rejected as they are and
		// then run with the field set to 0.
		clampQuantDim bool
	}{
		{name: "hello_world_float"},
		{name: "hello_world_int8"},
		{name: "iris_float"},
		{name: "mnist_cnn_float"},
		{name: "mobilenet_v1_025_128_uint8"},
		{name: "micro_speech_int8"},
		{name: "micro_speech_lstm_int8"},
		{name: "mnist_lstm_float"},
		{name: "mnist_lstm_int8"},
		{name: "person_detect_int8", clampQuantDim: true},
		{name: "conformer_float"},
		{name: "conv_int16x8_bitexact"},
		{name: "dwconv_int8_bitexact"},
	}
	for _, tt := range tests {
		name := tt.name
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(root, name)
			c := loadCase(t, dir)
			model, err := os.ReadFile(filepath.Join(dir, c.Model))
			if err != nil {
				t.Fatal(err)
			}
			if tt.clampQuantDim {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_, err := o.Inspect(ctx, model)
				if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "quantized_dimension") {
					t.Errorf("Inspect(%s) error = %v, want %v about quantized_dimension", name, err, ErrRejected)
				}
				var n int
				model, n, err = clampQuantizedDimension(model)
				if err != nil {
					t.Fatalf("clampQuantizedDimension(%s) error: %v", name, err)
				}
				if n == 0 {
					t.Fatalf("clampQuantizedDimension(%s) changed no tensor", name)
				}
				t.Logf("set quantized_dimension to 0 in %d tensors", n)
			}
			for _, s := range c.Samples {
				t.Run(s.Name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					got, info, err := o.Run(ctx, model, readFiles(t, dir, s.Inputs))
					if err != nil {
						t.Fatalf("Run(%s, %s) error: %v", name, s.Name, err)
					}
					if got := describe(info.Inputs); !equalTensors(got, c.Inputs) {
						t.Errorf("Run(%s) inputs = %+v, want %+v", name, got, c.Inputs)
					}
					if got := describe(info.Outputs); !equalTensors(got, c.Outputs) {
						t.Errorf("Run(%s) outputs = %+v, want %+v", name, got, c.Outputs)
					}
					want := readFiles(t, dir, s.Expected)
					if len(got) != len(want) {
						t.Fatalf("Run(%s, %s) returned %d outputs, want %d", name, s.Name, len(got), len(want))
					}
					for i := range want {
						dtype := info.Outputs[i].DType
						worst, err := compare(dtype, got[i], want[i], c.Tolerance)
						if err != nil {
							t.Errorf("Run(%s, %s) output %d (%s, expected from %s): %v", name, s.Name, i, dtype, s.ExpectedFrom, err)
						}
						t.Logf("output %d: largest difference %g", i, worst)
					}
					if s.Check != nil && len(got) > 0 {
						vals, err := decode(info.Outputs[0].DType, got[0])
						if err != nil {
							t.Fatal(err)
						}
						if want := s.Check.Argmax; want != nil {
							if got := argmax(vals); got != *want {
								t.Errorf("argmax(Run(%s, %s)) = %d, want %d", name, s.Name, got, *want)
							}
						}
						if want := s.Check.Top3Contains; want != nil {
							if got := topK(vals, 3); !slices.Contains(got, *want) {
								t.Errorf("top3(Run(%s, %s)) = %v, want it to contain %d", name, s.Name, got, *want)
							}
						}
					}
				})
			}
		})
	}
}

func describe(ts []Tensor) []caseTensor {
	out := make([]caseTensor, len(ts))
	for i, t := range ts {
		out[i] = caseTensor{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	return out
}

// compare checks got against want element by element under tol and returns
// the largest absolute difference seen.
func compare(dtype string, got, want []byte, tol tolerance) (float64, error) {
	g, err := decode(dtype, got)
	if err != nil {
		return 0, err
	}
	w, err := decode(dtype, want)
	if err != nil {
		return 0, err
	}
	if len(g) != len(w) {
		return 0, fmt.Errorf("%d elements, want %d", len(g), len(w))
	}
	isFloat := dtype == "float32" || dtype == "float64"
	var worst float64
	bad, first := 0, -1
	for i := range g {
		d := math.Abs(g[i] - w[i])
		if math.IsNaN(g[i]) != math.IsNaN(w[i]) {
			d = math.Inf(1)
		} else if math.IsNaN(g[i]) {
			d = 0
		}
		worst = max(worst, d)
		limit := tol.QuantizedSteps
		if isFloat {
			limit = tol.FloatAbsolute + tol.FloatRelative*math.Abs(w[i])
		}
		if dtype == "bool" {
			limit = 0
		}
		if d > limit {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		return worst, fmt.Errorf("%d of %d elements out of tolerance (largest difference %g); first at %d: got %g, want %g",
			bad, len(g), worst, first, g[first], w[first])
	}
	return worst, nil
}

// decode widens raw little-endian tensor bytes to float64.
func decode(dtype string, b []byte) ([]float64, error) {
	size := map[string]int{
		"float32": 4, "float64": 8, "int8": 1, "uint8": 1, "bool": 1,
		"int16": 2, "int32": 4, "uint32": 4,
	}[dtype]
	if size == 0 {
		return nil, fmt.Errorf("decode: unsupported dtype %q", dtype)
	}
	if len(b)%size != 0 {
		return nil, fmt.Errorf("decode: %d bytes is not a whole number of %s", len(b), dtype)
	}
	out := make([]float64, len(b)/size)
	le := binary.LittleEndian
	for i := range out {
		p := b[i*size:]
		switch dtype {
		case "float32":
			out[i] = float64(math.Float32frombits(le.Uint32(p)))
		case "float64":
			out[i] = math.Float64frombits(le.Uint64(p))
		case "int8":
			out[i] = float64(int8(p[0]))
		case "uint8", "bool":
			out[i] = float64(p[0])
		case "int16":
			out[i] = float64(int16(le.Uint16(p)))
		case "int32":
			out[i] = float64(int32(le.Uint32(p)))
		case "uint32":
			out[i] = float64(le.Uint32(p))
		}
	}
	return out, nil
}

func argmax(v []float64) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

func topK(v []float64, k int) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] > v[idx[b]] })
	return idx[:min(k, len(idx))]
}
