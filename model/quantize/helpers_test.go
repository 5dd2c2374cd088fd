package quantize_test

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/internal/modeltest"
	"github.com/ood-agent/ood-agent/model/internal/oracle"
	"github.com/ood-agent/ood-agent/model/interp"
)

func f32s(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// randomSamples draws n samples of uniform values in [lo, hi) for every
// input of m.
func randomSamples(r *rand.Rand, m *model.Model, n int, lo, hi float32) [][][]byte {
	samples := make([][][]byte, n)
	for s := range samples {
		for k := range m.Subgraphs[0].Inputs {
			samples[s] = append(samples[s], model.Float32Bytes(modeltest.RandF32(r, modeltest.Numel(m.Input(k).Shape), lo, hi)))
		}
	}
	return samples
}

// runInterp runs m in the project's interpreter and returns copies of its
// outputs.
func runInterp(t testing.TB, m *model.Model, inputs [][]byte) [][]byte {
	t.Helper()
	it, err := interp.New(m, interp.Options{})
	if err != nil {
		t.Fatalf("interp.New: %v", err)
	}
	defer it.Close()
	for k, in := range inputs {
		copy(it.Input(k).Data, in)
	}
	if err := it.Invoke(); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var outs [][]byte
	for _, o := range it.Outputs() {
		outs = append(outs, append([]byte(nil), o.Data...))
	}
	return outs
}

func runOracle(t testing.TB, o *oracle.Oracle, raw []byte, inputs [][]byte) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	outs, _, err := o.Run(ctx, raw, inputs)
	if err != nil {
		t.Fatalf("oracle Run: %v", err)
	}
	return outs
}

// quantizeInput maps float values to int8 with the parameters of tensor t.
func quantizeInput(t *model.Tensor, v []float32) []byte {
	s, zp := float64(t.Quant.Scale[0]), float64(t.Quant.ZeroPoint[0])
	out := make([]byte, len(v))
	for i, x := range v {
		out[i] = byte(int8(math.Max(-128, math.Min(127, math.Round(float64(x)/s)+zp))))
	}
	return out
}

// dequantize maps int8 output bytes of tensor t to real values.
func dequantize(t *model.Tensor, b []byte) []float64 {
	s, zp := float64(t.Quant.Scale[0]), float64(t.Quant.ZeroPoint[0])
	out := make([]float64, len(b))
	for i, x := range b {
		out[i] = s * (float64(int8(x)) - zp)
	}
	return out
}

// agreeWithOracle runs the encoded quantized model in the real runtime and
// in the interpreter on inputs and checks that every output agrees within
// one quantization step.
func agreeWithOracle(t *testing.T, o *oracle.Oracle, m *model.Model, raw []byte, inputs [][]byte) {
	t.Helper()
	want := runOracle(t, o, raw, inputs)
	got := runInterp(t, m, inputs)
	for k := range want {
		typ := m.Output(k).Type
		tol := conformance.Tolerance{QuantizedSteps: 1}
		if typ == model.Float32 {
			// Float outputs come from a DEQUANTIZE: one step is one scale.
			tol.FloatAbsolute = 1.001 * float64(dequantizedFrom(t, m, k).Quant.Scale[0])
		}
		if err := conformance.Compare(typ, got[k], want[k], tol); err != nil {
			t.Errorf("output %d: interpreter vs TFLite: %v", k, err)
		}
	}
}

// dequantizedFrom returns the int8 tensor that the DEQUANTIZE producing
// float output k reads.
func dequantizedFrom(t *testing.T, m *model.Model, k int) *model.Tensor {
	t.Helper()
	sg := &m.Subgraphs[0]
	for _, op := range sg.Operators {
		if op.Outputs[0] == sg.Outputs[k] && m.OperatorCodes[op.OpcodeIndex].Builtin == model.OpDequantize {
			return &sg.Tensors[op.Inputs[0]]
		}
	}
	t.Fatalf("output %d is not produced by DEQUANTIZE", k)
	return nil
}
