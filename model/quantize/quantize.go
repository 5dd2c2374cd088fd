package quantize

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/interp"
)

// Errors callers branch on.
var (
	// ErrUnsupported is wrapped when the model holds an operator, a tensor
	// type or a graph shape the quantizer cannot convert; the message names
	// the operator.
	ErrUnsupported = errors.New("unsupported for quantization")
	// ErrCalibration is wrapped when the calibration samples are missing or
	// do not fit the model's inputs.
	ErrCalibration = errors.New("invalid calibration data")
)

// Options configures Quantize.
type Options struct {
	// IOType is the element type of the quantized model's inputs and
	// outputs. With model.Int8 they become int8 tensors carrying their
	// quantization, which is what the agent runs best. With model.Float32
	// (the zero value, and the TFLite converter's default) they stay float:
	// a QUANTIZE operator follows each input and a DEQUANTIZE precedes each
	// output.
	IOType model.TensorType
	// PerChannelFullyConnected gives FULLY_CONNECTED weights one scale per
	// output row, as convolutions have, which is more accurate for layers
	// whose rows differ in magnitude. The default is one scale per tensor,
	// which the TFLite converter writes and every runtime reads; per-row
	// scales need a runtime that honours them (the project's interpreter
	// and the pinned TFLite build do).
	PerChannelFullyConnected bool
}

// Quantize returns a full-integer int8 version of the float32 model m.
// calibration holds representative samples, each one raw little-endian
// tensor per model input, in input order; the float model runs on every
// sample to find the range of each activation, so more samples give ranges
// closer to what the model will see. The result carries m's metadata
// unchanged (input normalization still describes the float domain). m is
// not modified, but the result shares its operator options and the buffers
// of constants that stay as they are (int32 shapes and axes).
//
// Supported operators: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
// AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, ADD, SUB, MUL, MAXIMUM, MINIMUM,
// RESHAPE, SQUEEZE, TRANSPOSE, PAD, CONCATENATION, RELU, RELU6, HARD_SWISH,
// LOGISTIC, TANH and SOFTMAX. Any other operator fails with an error that
// wraps ErrUnsupported and names it.
func Quantize(m *model.Model, calibration [][][]byte, opts Options) (*model.Model, error) {
	if opts.IOType != model.Int8 && opts.IOType != model.Float32 {
		return nil, fmt.Errorf("%w: io type %s, want int8 or float32", ErrUnsupported, opts.IOType)
	}
	rules, err := check(m)
	if err != nil {
		return nil, err
	}
	ranges, err := calibrate(m, calibration)
	if err != nil {
		return nil, err
	}
	q := newQuantizer(m, rules, ranges)
	q.group()
	return q.rewrite(opts), nil
}

// check validates that m is a float model made of supported operators and
// returns each operator's rule.
func check(m *model.Model) ([]rule, error) {
	if len(m.Subgraphs) != 1 {
		return nil, fmt.Errorf("%w: %d subgraphs (control flow)", ErrUnsupported, len(m.Subgraphs))
	}
	sg := &m.Subgraphs[0]
	for k, i := range sg.Inputs {
		if t := &sg.Tensors[i]; t.Type != model.Float32 {
			return nil, fmt.Errorf("%w: input %d (%s) is %s, want a float32 model", ErrUnsupported, k, t.Name, t.Type)
		}
	}
	for k, i := range sg.Outputs {
		if t := &sg.Tensors[i]; t.Type != model.Float32 {
			return nil, fmt.Errorf("%w: output %d (%s) is %s, want a float32 model", ErrUnsupported, k, t.Name, t.Type)
		}
	}
	rules := make([]rule, len(sg.Operators))
	var missing []string
	seen := map[string]bool{}
	for oi, op := range sg.Operators {
		code := m.OperatorCodes[op.OpcodeIndex]
		r, ok := ruleFor(code.Builtin)
		if !ok || code.Builtin == model.OpCustom {
			if name := m.OpName(op); !seen[name] {
				seen[name] = true
				missing = append(missing, name)
			}
			continue
		}
		rules[oi] = r
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: operators %s", ErrUnsupported, strings.Join(missing, ", "))
	}
	for oi := range sg.Operators {
		if err := checkOp(m, oi, rules[oi]); err != nil {
			return nil, err
		}
	}
	return rules, nil
}

// calibrate runs the float model on every sample and returns the range of
// each float32 tensor: observed for activations, of the data for constants.
func calibrate(m *model.Model, samples [][][]byte) ([]valueRange, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("%w: no samples", ErrCalibration)
	}
	sg := &m.Subgraphs[0]
	for s, sample := range samples {
		if len(sample) != len(sg.Inputs) {
			return nil, fmt.Errorf("%w: sample %d has %d inputs, the model takes %d", ErrCalibration, s, len(sample), len(sg.Inputs))
		}
		for k, data := range sample {
			t := &sg.Tensors[sg.Inputs[k]]
			if want := numel(t.Shape) * t.Type.Size(); len(data) != want {
				return nil, fmt.Errorf("%w: sample %d input %d (%s %v) has %d bytes, want %d", ErrCalibration, s, k, t.Name, t.Shape, len(data), want)
			}
		}
	}
	it, err := interp.New(m, interp.Options{PreserveAll: true})
	if err != nil {
		return nil, fmt.Errorf("run float model: %w", err)
	}
	defer it.Close()
	ranges := make([]valueRange, len(sg.Tensors))
	for s, sample := range samples {
		for k, data := range sample {
			copy(it.Input(k).Data, data)
		}
		if err := it.Invoke(); err != nil {
			return nil, fmt.Errorf("run float model on sample %d: %w", s, err)
		}
		for i := range sg.Tensors {
			if t := &sg.Tensors[i]; t.Type == model.Float32 && !isConst(m, t) {
				ranges[i].addAll(it.Tensor(i).F32())
			}
		}
	}
	for i := range sg.Tensors {
		t := &sg.Tensors[i]
		if t.Type == model.Float32 && isConst(m, t) {
			ranges[i].addAll(floats(m.Buffers[t.Buffer]))
		}
		r := ranges[i]
		if r.seen && (math.IsNaN(r.lo) || math.IsNaN(r.hi) || math.IsInf(r.lo, 0) || math.IsInf(r.hi, 0)) {
			return nil, fmt.Errorf("%w: tensor %d (%s) took non-finite values [%g, %g]", ErrCalibration, i, t.Name, r.lo, r.hi)
		}
	}
	return ranges, nil
}

// floats decodes little-endian float32 data.
func floats(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
