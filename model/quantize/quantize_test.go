package quantize_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/internal/oracle"
	"github.com/ood-agent/ood-agent/model/quantize"
)

// TestQuantizeFloatIO quantizes the small CNN keeping float inputs and
// outputs: the graph must start with QUANTIZE and end with DEQUANTIZE, keep
// the float tensors' names, agree with TFLite, approximate the float model's
// probabilities, and leave the float model untouched.
func TestQuantizeFloatIO(t *testing.T) {
	o := oracle.Require(t)
	r := rand.New(rand.NewPCG(11, 12))
	fm := cnnModel(r)
	md := &model.Metadata{Name: "cnn", Inputs: []model.TensorMetadata{{Name: "image", Mean: []float32{0}, Std: []float32{255}}}}
	fm = fm.WithMetadata(md)
	before, err := model.Encode(fm)
	if err != nil {
		t.Fatal(err)
	}
	qm, err := quantize.Quantize(fm, randomSamples(r, fm, 64, 0, 1), quantize.Options{IOType: model.Float32})
	if err != nil {
		t.Fatalf("Quantize: %v", err)
	}
	after, err := model.Encode(fm)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("Quantize modified the float model")
	}

	sg := &qm.Subgraphs[0]
	first := qm.OperatorCodes[sg.Operators[0].OpcodeIndex].Builtin
	last := qm.OperatorCodes[sg.Operators[len(sg.Operators)-1].OpcodeIndex].Builtin
	if first != model.OpQuantize || last != model.OpDequantize {
		t.Errorf("ops run %s … %s, want QUANTIZE … DEQUANTIZE", first, last)
	}
	for _, tn := range []*model.Tensor{qm.Input(0), qm.Output(0)} {
		if tn.Type != model.Float32 || tn.Quant != nil {
			t.Errorf("io tensor %s is %s %+v, want plain float32", tn.Name, tn.Type, tn.Quant)
		}
	}
	if qm.Input(0).Name != "image" || qm.Output(0).Name != "probabilities" {
		t.Errorf("io names = %q, %q, want image, probabilities", qm.Input(0).Name, qm.Output(0).Name)
	}
	for _, op := range sg.Operators {
		code := qm.OperatorCodes[op.OpcodeIndex].Builtin
		if code == model.OpQuantize || code == model.OpDequantize {
			continue
		}
		for _, i := range append(append([]int(nil), op.Inputs...), op.Outputs...) {
			if i >= 0 && sg.Tensors[i].Type == model.Float32 {
				t.Errorf("%s touches float tensor %s", code, sg.Tensors[i].Name)
			}
		}
	}
	got, err := qm.ReadMetadata(nil)
	if err != nil || got == nil || got.Name != "cnn" || len(got.Inputs) != 1 || got.Inputs[0].Std[0] != 255 {
		t.Errorf("quantized metadata = %+v, %v; want the float model's", got, err)
	}

	raw, err := model.Encode(qm)
	if err != nil {
		t.Fatal(err)
	}
	worst, agree := 0.0, 0
	const n = 40
	for _, sample := range randomSamples(r, fm, n, 0, 1) {
		agreeWithOracle(t, o, qm, raw, sample)
		want := f64s(f32s(runInterp(t, fm, sample)[0]))
		got := f64s(f32s(runInterp(t, qm, sample)[0]))
		for j := range want {
			worst = max(worst, math.Abs(got[j]-want[j]))
		}
		if argmax(got) == argmax(want) {
			agree++
		}
	}
	if worst >= 0.05 {
		t.Errorf("max |quantized − float| probability = %.4f, want < 0.05", worst)
	}
	if agree < n*9/10 {
		t.Errorf("argmax agrees on %d of %d inputs, want ≥ 90%%", agree, n)
	}
}

// TestQuantizeVersions checks the operator versions recorded for int8.
func TestQuantizeVersions(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	fm := cnnModel(r)
	qm, err := quantize.Quantize(fm, randomSamples(r, fm, 4, 0, 1), quantize.Options{IOType: model.Int8})
	if err != nil {
		t.Fatal(err)
	}
	want := map[model.BuiltinOp]int32{
		model.OpConv2D: 3, model.OpDepthwiseConv2D: 3, model.OpFullyConnected: 4, model.OpSoftmax: 2,
		model.OpMaxPool2D: 2, model.OpAveragePool2D: 2, model.OpMean: 2, model.OpRelu: 2, model.OpReshape: 1,
	}
	if len(qm.OperatorCodes) != len(want) {
		t.Errorf("%d operator codes, want %d", len(qm.OperatorCodes), len(want))
	}
	for _, c := range qm.OperatorCodes {
		if c.Version != want[c.Builtin] {
			t.Errorf("%s version = %d, want %d", c.Builtin, c.Version, want[c.Builtin])
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fc := fcModel(4, 3, model.ActNone, true)(r)
	good := randomSamples(r, fc, 2, -1, 1)

	div := model.NewBuilder("div")
	x := div.Tensor("x", model.Float32, []int{1, 4}, nil)
	y := div.Tensor("y", model.Float32, []int{1, 4}, nil)
	e := div.Tensor("e", model.Float32, []int{1, 4}, nil)
	z := div.Tensor("z", model.Float32, []int{1, 4}, nil)
	div.Op(model.OpExp, nil, []int{x}, e)
	div.Op(model.OpDiv, &model.DivOptions{}, []int{e, y}, z)
	divModel := div.Model([]int{x, y}, []int{z})

	dyn := model.NewBuilder("dynamic weights")
	dx := dyn.Tensor("x", model.Float32, []int{1, 4}, nil)
	dw := dyn.Tensor("w", model.Float32, []int{3, 4}, nil)
	dz := dyn.Tensor("z", model.Float32, []int{1, 3}, nil)
	dyn.Op(model.OpFullyConnected, &model.FullyConnectedOptions{}, []int{dx, dw, -1}, dz)
	dynModel := dyn.Model([]int{dx, dw}, []int{dz})

	i8 := model.NewBuilder("int8")
	ix := i8.Tensor("x", model.Int8, []int{1, 4}, &model.Quantization{Scale: []float32{0.1}, ZeroPoint: []int64{0}})
	iz := i8.Tensor("z", model.Int8, []int{1, 4}, &model.Quantization{Scale: []float32{0.1}, ZeroPoint: []int64{0}})
	i8.Op(model.OpRelu, nil, []int{ix}, iz)
	int8Model := i8.Model([]int{ix}, []int{iz})

	tests := []struct {
		name  string
		m     *model.Model
		calib [][][]byte
		opts  quantize.Options
		want  error
		msg   []string
	}{
		{"unsupported ops named", divModel, randomSamples(r, divModel, 1, 0, 1), quantize.Options{}, quantize.ErrUnsupported, []string{"EXP", "DIV"}},
		{"non-constant weights", dynModel, randomSamples(r, dynModel, 1, 0, 1), quantize.Options{}, quantize.ErrUnsupported, []string{"FULLY_CONNECTED", "constant"}},
		{"already quantized", int8Model, [][][]byte{{make([]byte, 4)}}, quantize.Options{}, quantize.ErrUnsupported, []string{"int8"}},
		{"bad io type", fc, good, quantize.Options{IOType: model.Int16}, quantize.ErrUnsupported, []string{"int16"}},
		{"no samples", fc, nil, quantize.Options{}, quantize.ErrCalibration, []string{"no samples"}},
		{"wrong byte size", fc, [][][]byte{good[0], {make([]byte, 12)}}, quantize.Options{}, quantize.ErrCalibration, []string{"sample 1", "12 bytes", "want 16"}},
		{"wrong input count", fc, [][][]byte{{good[0][0], good[0][0]}}, quantize.Options{}, quantize.ErrCalibration, []string{"2 inputs"}},
		{"non-finite values", fc, [][][]byte{{model.Float32Bytes([]float32{1, float32(math.Inf(1)), 0, 0})}}, quantize.Options{}, quantize.ErrCalibration, []string{"non-finite"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := quantize.Quantize(tt.m, tt.calib, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Quantize() = %v, %v; want error %v", m, err, tt.want)
			}
			for _, s := range tt.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Quantize() error %q does not mention %q", err, s)
				}
			}
		})
	}
}
