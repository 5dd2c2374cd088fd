package conformance_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/kernels"
)

// loadCases returns the conformance cases; a missing directory fails under
// CI=true and skips elsewhere.
func loadCases(t testing.TB) []*conformance.Case {
	t.Helper()
	dir := conformance.Dir(".")
	cases, err := conformance.Load(dir)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("conformance cases: %v", err)
		}
		t.Skipf("conformance cases not available (%v); set %s", err, conformance.EnvDir)
	}
	return cases
}

// heavyModelBytes marks the real-size models (the 224×224 MobileNetV2s):
// with -short, or under emulation (qemu-exec.sh sets
// OOD_AGENT_TEST_EMULATOR), they run at the best level only, the generic
// kernels being covered by native runs.
const heavyModelBytes = 2 << 20

// lightRun reports whether heavy cases should be trimmed.
func lightRun() bool { return testing.Short() || os.Getenv("OOD_AGENT_TEST_EMULATOR") != "" }

// TestConformance runs every case at every kernel level the machine runs:
// each level must meet the same expectations.
func TestConformance(t *testing.T) {
	cases := loadCases(t)
	for _, level := range kernels.Levels() {
		t.Run(level.String(), func(t *testing.T) {
			for _, c := range cases {
				if lightRun() && level != kernels.BestLevel() && modelBytes(c) > heavyModelBytes {
					t.Logf("%s: -short and emulated runs take it at %s only", c.Name, kernels.BestLevel())
					continue
				}
				t.Run(c.Name, func(t *testing.T) { runCase(t, c, level) })
			}
		})
	}
}

// modelBytes is the size of a case's model file, 0 when unknown.
func modelBytes(c *conformance.Case) int64 {
	fi, err := os.Stat(c.ModelPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

func runCase(t *testing.T, c *conformance.Case, level kernels.Level) {
	m, err := model.Load(c.ModelPath())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	it, err := interp.New(m, interp.Options{Kernels: level, Threads: 1})
	if err != nil {
		t.Fatalf("interp.New: %v", err)
	}
	defer it.Close()
	// Expectations from TFLite Micro's reference kernels are
	// checked with the reference rounding, bit for bit.
	ref, err := interp.New(m, interp.Options{ReferenceRounding: true, Kernels: level, Threads: 1})
	if err != nil {
		t.Fatalf("interp.New: %v", err)
	}
	defer ref.Close()
	for _, s := range c.Samples {
		t.Run(s.Name, func(t *testing.T) {
			it := it
			tol := c.Tolerance
			if strings.Contains(s.ExpectedFrom, "TFLite Micro") {
				it, tol = ref, conformance.Tolerance{FloatAbsolute: tol.FloatAbsolute, FloatRelative: tol.FloatRelative}
			}
			it.Reset()
			for i, name := range s.Inputs {
				data, err := c.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				in := it.Input(i)
				if len(data) != len(in.Data) {
					t.Fatalf("input %d: file has %d bytes, tensor %v needs %d", i, len(data), in, len(in.Data))
				}
				copy(in.Data, data)
			}
			if err := it.Invoke(); err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			for i, name := range s.Expected {
				want, err := c.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				out := it.Output(i)
				if err := conformance.Compare(out.Type, out.Data, want, tol); err != nil {
					t.Errorf("output %d (%s, expected from %s): %v", i, out.Name, s.ExpectedFrom, err)
				}
			}
			if err := s.Check.Verify(conformance.Values(it.Output(0))); err != nil {
				t.Errorf("check: %v", err)
			}
		})
	}
}

func TestCompareDetectsMismatch(t *testing.T) {
	tol := conformance.Tolerance{QuantizedSteps: 1, FloatAbsolute: 1e-5, FloatRelative: 1e-4}
	tests := []struct {
		name      string
		typ       model.TensorType
		got, want []byte
		ok        bool
	}{
		{"int8 within one step", model.Int8, []byte{1, 0xff}, []byte{2, 0xfe}, true},
		{"int8 two steps", model.Int8, []byte{1}, []byte{3}, false},
		{"int8 wraps", model.Int8, []byte{0x7f}, []byte{0x80}, false},
		{"size mismatch", model.Int8, []byte{1}, []byte{1, 2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := conformance.Compare(tt.typ, tt.got, tt.want, tol)
			if (err == nil) != tt.ok {
				t.Errorf("Compare = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
