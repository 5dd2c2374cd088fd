package kernels_test

import (
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/kernels"
)

// The LSTM conformance models end in RESHAPE → FULLY_CONNECTED → SOFTMAX.
// These tests run only the LSTM through the interpreter (a graph truncated
// after it) and finish the network with a plain float reference of the
// tail, so the LSTM is checked against the real runtime's outputs without
// depending on the other kernels.

// lstmCases loads the conformance cases whose model has an LSTM; a missing
// directory fails under CI=true and skips elsewhere.
func lstmCases(t *testing.T) []*conformance.Case {
	t.Helper()
	cases, err := conformance.Load(conformance.Dir("."))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("conformance cases: %v", err)
		}
		t.Skipf("conformance cases not available (%v)", err)
	}
	var out []*conformance.Case
	for _, c := range cases {
		switch c.Name {
		case "mnist_lstm_float", "mnist_lstm_int8", "micro_speech_lstm_int8":
			out = append(out, c)
		}
	}
	if len(out) != 3 {
		t.Fatalf("found %d LSTM conformance cases, want 3", len(out))
	}
	return out
}

// lstmPrefix returns a copy of m whose main subgraph stops after its first
// operator (the LSTM), with that operator's output as the graph output, and
// the tail operators.
func lstmPrefix(t *testing.T, m *model.Model) (*model.Model, []model.Operator) {
	t.Helper()
	sg := m.Subgraphs[0]
	if got := m.OperatorCodes[sg.Operators[0].OpcodeIndex].Builtin; got != model.OpUnidirectionalSequenceLstm {
		t.Fatalf("first operator is %s, want UNIDIRECTIONAL_SEQUENCE_LSTM", got)
	}
	tail := sg.Operators[1:]
	sg.Operators = sg.Operators[:1]
	sg.Outputs = []int{sg.Operators[0].Outputs[0]}
	cp := *m
	cp.Subgraphs = []model.Subgraph{sg}
	return &cp, tail
}

// lstmTailReference finishes the network (reshape, fully connected, softmax) on
// the LSTM output and returns the softmax probabilities as float64.
func lstmTailReference(t *testing.T, m *model.Model, tail []model.Operator, lstmOut *kernels.Tensor) []float64 {
	t.Helper()
	sg := &m.Subgraphs[0]
	var fc *model.Operator
	for i := range tail {
		if m.OperatorCodes[tail[i].OpcodeIndex].Builtin == model.OpFullyConnected {
			fc = &tail[i]
		}
	}
	if fc == nil {
		t.Fatal("no FULLY_CONNECTED in the tail")
	}
	deq := func(mt *model.Tensor, data []byte, i int) float64 {
		switch mt.Type {
		case model.Float32:
			return float64(math.Float32frombits(uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24))
		case model.Int8:
			return float64(mt.Quant.Scale[0]) * float64(int64(int8(data[i]))-mt.Quant.ZeroPoint[0])
		case model.Int32:
			v := int32(uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24)
			return float64(mt.Quant.Scale[0]) * float64(v)
		}
		t.Fatalf("tensor %q: unexpected type %s", mt.Name, mt.Type)
		return 0
	}
	lstmT := &sg.Tensors[sg.Operators[0].Outputs[0]]
	wT := &sg.Tensors[fc.Inputs[1]]
	outT := &sg.Tensors[fc.Outputs[0]]
	rows, cols := wT.Shape[0], wT.Shape[1]
	if n := lstmOut.NumElements(); n != cols {
		t.Fatalf("LSTM output has %d elements, FULLY_CONNECTED wants %d", n, cols)
	}
	logits := make([]float64, rows)
	for r := range logits {
		var acc float64
		if fc.Inputs[2] >= 0 {
			bT := &sg.Tensors[fc.Inputs[2]]
			acc = deq(bT, m.Buffers[bT.Buffer], r)
		}
		for c := range cols {
			acc += deq(wT, m.Buffers[wT.Buffer], r*cols+c) * deq(lstmT, lstmOut.Data, c)
		}
		if outT.Type == model.Int8 {
			// The logits are int8 in the real network: round them the same way.
			s, zp := float64(outT.Quant.Scale[0]), float64(outT.Quant.ZeroPoint[0])
			q := max(-128, min(127, math.Round(acc/s)+zp))
			acc = s * (q - zp)
		}
		logits[r] = acc
	}
	hi := math.Inf(-1)
	for _, v := range logits {
		hi = max(hi, v)
	}
	var sum float64
	for i, v := range logits {
		logits[i] = math.Exp(v - hi)
		sum += logits[i]
	}
	for i := range logits {
		logits[i] /= sum
	}
	return logits
}

func TestLSTMConformanceModels(t *testing.T) {
	for _, c := range lstmCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			full, err := model.Load(c.ModelPath())
			if err != nil {
				t.Fatal(err)
			}
			prefix, tail := lstmPrefix(t, full)
			it, err := interp.New(prefix, interp.Options{Threads: 2})
			if err != nil {
				t.Fatalf("interp.New: %v", err)
			}
			defer it.Close()
			sg := &full.Subgraphs[0]
			outT := &sg.Tensors[sg.Outputs[0]]
			worst := 0.0
			for _, s := range c.Samples {
				it.Reset()
				data, err := c.ReadFile(s.Inputs[0])
				if err != nil {
					t.Fatal(err)
				}
				copy(it.Input(0).Data, data)
				if err := it.Invoke(); err != nil {
					t.Fatalf("%s: Invoke: %v", s.Name, err)
				}
				probs := lstmTailReference(t, full, tail, it.Output(0))
				want, err := c.ReadFile(s.Expected[0])
				if err != nil {
					t.Fatal(err)
				}
				for i, p := range probs {
					var diff float64
					if outT.Type == model.Int8 {
						q := max(-128, min(127, math.Round(p/float64(outT.Quant.Scale[0]))+float64(outT.Quant.ZeroPoint[0])))
						diff = math.Abs(q - float64(int8(want[i])))
					} else {
						w := float64(math.Float32frombits(uint32(want[4*i]) | uint32(want[4*i+1])<<8 | uint32(want[4*i+2])<<16 | uint32(want[4*i+3])<<24))
						diff = math.Abs(p-w) / (1e-5 + 1e-4*math.Abs(w))
					}
					worst = max(worst, diff)
				}
				if s.Check != nil {
					if err := s.Check.Verify(probs); err != nil {
						t.Errorf("%s: %v", s.Name, err)
					}
				}
			}
			// Quantized: steps of the final int8 output; float: multiples
			// of the case's tolerance.
			t.Logf("worst difference %.3g", worst)
			if worst > 1 {
				t.Errorf("worst difference %.3g, want <= 1", worst)
			}
		})
	}
}

// TestLSTMInterpreterReset checks that the LSTM state persists across
// Invoke and that Interpreter.Reset restores the fresh state.
func TestLSTMInterpreterReset(t *testing.T) {
	for _, c := range lstmCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			full, err := model.Load(c.ModelPath())
			if err != nil {
				t.Fatal(err)
			}
			prefix, _ := lstmPrefix(t, full)
			it, err := interp.New(prefix, interp.Options{})
			if err != nil {
				t.Fatalf("interp.New: %v", err)
			}
			defer it.Close()
			data, err := c.ReadFile(c.Samples[0].Inputs[0])
			if err != nil {
				t.Fatal(err)
			}
			copy(it.Input(0).Data, data)
			invoke := func() string {
				if err := it.Invoke(); err != nil {
					t.Fatalf("Invoke: %v", err)
				}
				return string(it.Output(0).Data)
			}
			first := invoke()
			if invoke() == first {
				t.Fatal("second Invoke repeated the first output: LSTM state did not persist")
			}
			it.Reset()
			if invoke() != first {
				t.Fatal("Invoke after Reset differs from the first Invoke")
			}
		})
	}
}

// BenchmarkLSTMConformanceModels times the LSTM operator of each
// conformance model alone.
func BenchmarkLSTMConformanceModels(b *testing.B) {
	cases, err := conformance.Load(conformance.Dir("."))
	if err != nil {
		b.Skipf("conformance cases not available: %v", err)
	}
	for _, c := range cases {
		switch c.Name {
		case "mnist_lstm_float", "mnist_lstm_int8", "micro_speech_lstm_int8":
		default:
			continue
		}
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", c.Name, threads), func(b *testing.B) {
				full, err := model.Load(c.ModelPath())
				if err != nil {
					b.Fatal(err)
				}
				sg := full.Subgraphs[0]
				sg.Operators = sg.Operators[:1]
				sg.Outputs = []int{sg.Operators[0].Outputs[0]}
				prefix := *full
				prefix.Subgraphs = []model.Subgraph{sg}
				it, err := interp.New(&prefix, interp.Options{Threads: threads})
				if err != nil {
					b.Fatal(err)
				}
				defer it.Close()
				data, err := c.ReadFile(c.Samples[0].Inputs[0])
				if err != nil {
					b.Fatal(err)
				}
				copy(it.Input(0).Data, data)
				b.ReportAllocs()
				for b.Loop() {
					it.Reset()
					if err := it.Invoke(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
