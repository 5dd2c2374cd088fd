package conformance

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/kernels"
)

// EnvDir names the environment variable that overrides the cases directory.
const EnvDir = "OOD_CONFORMANCE_DIR"

// Case is one conformance case: a model and samples.
type Case struct {
	Name      string
	Dir       string
	Model     string       `json:"model"`
	Source    string       `json:"source"`
	Inputs    []TensorSpec `json:"inputs"`
	Outputs   []TensorSpec `json:"outputs"`
	Tolerance Tolerance    `json:"tolerance"`
	Samples   []Sample     `json:"samples"`
	Notes     string       `json:"notes"`
}

// TensorSpec describes an input or output tensor.
type TensorSpec struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

// Tolerance bounds the allowed difference from the expected outputs.
type Tolerance struct {
	QuantizedSteps int     `json:"quantized_steps"`
	FloatRelative  float64 `json:"float_relative"`
	FloatAbsolute  float64 `json:"float_absolute"`
}

// Sample is one set of inputs with expected outputs.
type Sample struct {
	Name         string   `json:"name"`
	Inputs       []string `json:"inputs"`
	Expected     []string `json:"expected"`
	ExpectedFrom string   `json:"expected_from"`
	Check        *Check   `json:"check"`
}

// Check is an assertion the upstream project makes on output 0.
type Check struct {
	Argmax       *int `json:"argmax"`
	Top3Contains *int `json:"top3_contains"`
}

// Dir returns the conformance directory: $OOD_CONFORMANCE_DIR, or
// ../shared/conformance relative to the module root found from start.
func Dir(start string) string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	dir, err := filepath.Abs(start)
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "conformance")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Load reads every case below dir, sorted by name.
func Load(dir string) ([]*Case, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*", "case.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no conformance cases in %s", dir)
	}
	sort.Strings(paths)
	var cases []*Case
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		c := &Case{}
		if err := json.Unmarshal(data, c); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		c.Dir = filepath.Dir(p)
		c.Name = filepath.Base(c.Dir)
		cases = append(cases, c)
	}
	return cases, nil
}

// ModelPath is the path of the case's model file.
func (c *Case) ModelPath() string { return filepath.Join(c.Dir, c.Model) }

// ReadFile reads one of the case's data files.
func (c *Case) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(c.Dir, name))
}

// Compare checks got against want (raw bytes of one output tensor of type
// typ) within tol and returns a description of the worst mismatch, or nil.
func Compare(typ model.TensorType, got, want []byte, tol Tolerance) error {
	if len(got) != len(want) {
		return fmt.Errorf("output has %d bytes, want %d", len(got), len(want))
	}
	size := typ.Size()
	if size == 0 {
		return fmt.Errorf("cannot compare %s tensors", typ)
	}
	bad, worstAt := 0, -1
	worst := 0.0
	for i := 0; i < len(got)/size; i++ {
		var diff, limit float64
		switch typ {
		case model.Float32:
			g := float64(math.Float32frombits(binary.LittleEndian.Uint32(got[4*i:])))
			w := float64(math.Float32frombits(binary.LittleEndian.Uint32(want[4*i:])))
			diff = math.Abs(g - w)
			limit = tol.FloatAbsolute + tol.FloatRelative*math.Abs(w)
			if math.IsNaN(g) != math.IsNaN(w) {
				diff = math.Inf(1)
			}
		default:
			diff = math.Abs(float64(intAt(typ, got, i) - intAt(typ, want, i)))
			limit = float64(tol.QuantizedSteps)
		}
		if diff > limit {
			bad++
			if diff-limit > worst || worstAt < 0 {
				worst, worstAt = diff-limit, i
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements out of tolerance; worst at %d: got %v want %v",
			bad, len(got)/size, worstAt, valueAt(typ, got, worstAt), valueAt(typ, want, worstAt))
	}
	return nil
}

func intAt(typ model.TensorType, b []byte, i int) int64 {
	switch typ {
	case model.Int8:
		return int64(int8(b[i]))
	case model.Uint8, model.Bool:
		return int64(b[i])
	case model.Int16:
		return int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
	case model.Int32:
		return int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
	case model.Int64:
		return int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return 0
}

func valueAt(typ model.TensorType, b []byte, i int) any {
	if typ == model.Float32 {
		return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return intAt(typ, b, i)
}

// Values dequantizes an output tensor to float64 for checks.
func Values(t *kernels.Tensor) []float64 {
	n := t.NumElements()
	out := make([]float64, n)
	for i := range out {
		if t.Type == model.Float32 {
			out[i] = float64(t.F32()[i])
		} else {
			out[i] = float64(intAt(t.Type, t.Data, i))
		}
	}
	return out
}

// Verify applies a sample's check to the values of output 0.
func (ch *Check) Verify(values []float64) error {
	if ch == nil {
		return nil
	}
	order := make([]int, len(values))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return values[order[a]] > values[order[b]] })
	if ch.Argmax != nil && order[0] != *ch.Argmax {
		return fmt.Errorf("argmax = %d, want %d", order[0], *ch.Argmax)
	}
	if ch.Top3Contains != nil {
		for _, k := range order[:min(3, len(order))] {
			if k == *ch.Top3Contains {
				return nil
			}
		}
		return fmt.Errorf("top-3 %v does not contain %d", order[:min(3, len(order))], *ch.Top3Contains)
	}
	return nil
}
