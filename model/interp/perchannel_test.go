package interp_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
	"github.com/ood-agent/ood-agent/model/internal/oracle"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/kernels"
	"github.com/ood-agent/ood-agent/model/quantize"
)

// TestPerChannelMobileNetV2MatchesRuntime builds a TF2-style int8
// MobileNetV2 — per-channel symmetric weights, asymmetric int8 activations,
// from model/quantize — out of the shared uint8 MobileNetV2 (dequantized to
// float, its average pool optionally replaced by the MEAN the TF2 converter
// writes), marks every operator's output as a model output and compares
// them all, at every kernel level, with the real runtime on random inputs:
// bit for bit, layer by layer.
func TestPerChannelMobileNetV2MatchesRuntime(t *testing.T) {
	o := oracle.Require(t)
	path := filepath.Join(conformance.Dir("."), "mobilenet_v2_224_uint8", "model.tflite")
	for _, variant := range []struct {
		name string
		mean bool
		io   model.TensorType
	}{{"avgpool/int8-io", false, model.Int8}, {"mean/float-io", true, model.Float32}} {
		if variant.mean && (testing.Short() || os.Getenv("OOD_AGENT_TEST_EMULATOR") != "") {
			t.Logf("%s: left out with -short and under emulation", variant.name)
			continue
		}
		t.Run(variant.name, func(t *testing.T) {
			fm, err := model.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			dequantize(fm)
			if variant.mean {
				avgPoolToMean(fm)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			randomInput := func(typ model.TensorType, n int) []byte {
				if typ == model.Float32 {
					v := make([]float32, n)
					for i := range v {
						v[i] = rng.Float32()*2 - 1
					}
					return model.Float32Bytes(v)
				}
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(rng.IntN(256))
				}
				return b
			}
			in := fm.Subgraphs[0].Tensors[fm.Subgraphs[0].Inputs[0]]
			n := numel(in.Shape)
			calib := [][][]byte{{randomInput(model.Float32, n)}, {randomInput(model.Float32, n)}}
			qm, err := quantize.Quantize(fm, calib, quantize.Options{IOType: variant.io})
			if err != nil {
				t.Fatal(err)
			}
			sg := &qm.Subgraphs[0]
			sg.Outputs = nil
			for _, op := range sg.Operators {
				sg.Outputs = append(sg.Outputs, op.Outputs[0])
			}
			data, err := model.Encode(qm)
			if err != nil {
				t.Fatal(err)
			}
			input := randomInput(variant.io, n)
			want, _, err := o.Run(context.Background(), data, [][]byte{input})
			if err != nil {
				t.Fatalf("TFLite runtime: %v", err)
			}
			for _, level := range kernels.Levels() {
				decoded, err := model.Decode(data)
				if err != nil {
					t.Fatal(err)
				}
				it, err := interp.New(decoded, interp.Options{Kernels: level, Threads: 1})
				if err != nil {
					t.Fatal(err)
				}
				copy(it.Input(0).Data, input)
				if err := it.Invoke(); err != nil {
					t.Fatal(err)
				}
				for k := range sg.Outputs {
					if got := it.Output(k).Data; string(got) != string(want[k]) {
						op := qm.OperatorCodes[sg.Operators[k].OpcodeIndex].Builtin
						t.Fatalf("%v: op %d (%v) output differs from the runtime's: %s", level, k, op, firstStepDiff(it.Output(k).Type, got, want[k]))
					}
				}
				it.Close()
			}
		})
	}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// firstStepDiff describes the first differing element.
func firstStepDiff(typ model.TensorType, got, want []byte) string {
	if typ == model.Float32 {
		for i := 0; i+4 <= len(got); i += 4 {
			a := math.Float32frombits(binary.LittleEndian.Uint32(got[i:]))
			b := math.Float32frombits(binary.LittleEndian.Uint32(want[i:]))
			if a != b {
				return fmt.Sprintf("element %d = %v, runtime %v", i/4, a, b)
			}
		}
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("element %d = %d, runtime %d", i, int8(got[i]), int8(want[i]))
		}
	}
	return "sizes differ"
}

// dequantize turns a uint8 model into its float equivalent: constant
// weights and biases become their real values, activations float32.
func dequantize(m *model.Model) {
	sg := &m.Subgraphs[0]
	for i := range sg.Tensors {
		tt := &sg.Tensors[i]
		q := tt.Quant
		isBias := tt.Type == model.Int32 && q != nil && len(q.Scale) > 0
		if tt.Type != model.Uint8 && !isBias {
			continue
		}
		if data := m.Buffers[tt.Buffer]; tt.Buffer > 0 && len(data) > 0 {
			n := numel(tt.Shape)
			out := make([]float32, n)
			for j := range out {
				if isBias {
					out[j] = float32(float64(q.Scale[0]) * float64(int32(binary.LittleEndian.Uint32(data[4*j:]))))
				} else {
					out[j] = float32(float64(q.Scale[0]) * (float64(data[j]) - float64(q.ZeroPoint[0])))
				}
			}
			m.Buffers[tt.Buffer] = model.Float32Bytes(out)
		}
		tt.Type, tt.Quant = model.Float32, nil
	}
}

// avgPoolToMean replaces AVERAGE_POOL_2D by MEAN over height and width
// (keeping the dimensions), as the TF2 converter writes a global average
// pool.
func avgPoolToMean(m *model.Model) {
	sg := &m.Subgraphs[0]
	m.OperatorCodes = append(m.OperatorCodes, model.OperatorCode{Builtin: model.OpMean, Version: 1})
	code := len(m.OperatorCodes) - 1
	m.Buffers = append(m.Buffers, model.Int32Bytes([]int32{1, 2}))
	sg.Tensors = append(sg.Tensors, model.Tensor{Name: "mean_axes", Type: model.Int32, Shape: []int{2}, Buffer: len(m.Buffers) - 1})
	axes := len(sg.Tensors) - 1
	for i := range sg.Operators {
		op := &sg.Operators[i]
		if m.OperatorCodes[op.OpcodeIndex].Builtin == model.OpAveragePool2D {
			op.OpcodeIndex = code
			op.Inputs = []int{op.Inputs[0], axes}
			op.Options = &model.ReducerOptions{KeepDims: true}
		}
	}
}
