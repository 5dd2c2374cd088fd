package model

import (
	"errors"
	"fmt"
	"os"
)

// ErrFormat is wrapped by every error that reports a malformed .tflite file.
var ErrFormat = errors.New("malformed tflite model")

// fileIdentifier is the flatbuffer file identifier of TFLite schema 3.
const fileIdentifier = "TFL3"

// maxRank bounds tensor ranks; TFLite kernels support far fewer.
const maxRank = 16

// maxElements bounds the elements of one tensor (4 GiB of float32), so that
// sizes fit in an int on 32-bit ARM too.
const maxElements = 1 << 30

// Load reads and decodes a .tflite file.
func Load(path string) (*Model, error) {
	data, _, err := readModelFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func readFileBytes(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	return data, nil
}

// Decode decodes a .tflite flatbuffer. The returned model's buffers alias
// data, which must not be modified afterwards. Every offset, length and index
// is checked: a truncated, corrupt or hostile file yields an error wrapping
// ErrFormat that says what is wrong.
func Decode(data []byte) (*Model, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: file of %d bytes is too short", ErrFormat, len(data))
	}
	if string(data[4:8]) != fileIdentifier {
		return nil, fmt.Errorf("%w: file identifier %q, want %q", ErrFormat, data[4:8], fileIdentifier)
	}
	r := &reader{buf: data, budget: len(data)}
	m := r.decodeModel()
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, r.err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return m, nil
}

func (r *reader) decodeModel() *Model {
	root := r.tableAt(r.indirect(0, "root"), "model")
	m := &Model{}
	m.Version = r.fieldU32(root, 0, 0)
	r.tables(root, 1, "operator_codes", func(k int, t table) {
		code := BuiltinOp(r.fieldI32(t, 3, 0))
		if dep := BuiltinOp(int8(r.fieldU8(t, 0, 0))); dep > code {
			// Files from before the builtin_code field carry the code in
			// the deprecated byte only.
			code = dep
		}
		m.OperatorCodes = append(m.OperatorCodes, OperatorCode{
			Builtin: code,
			Custom:  r.fieldString(t, 1, "custom_code"),
			Version: r.fieldI32(t, 2, 1),
		})
	})
	r.tables(root, 2, "subgraphs", func(k int, t table) {
		m.Subgraphs = append(m.Subgraphs, r.decodeSubgraph(t, m.OperatorCodes))
	})
	m.Description = r.fieldString(root, 3, "description")
	r.tables(root, 4, "buffers", func(k int, t table) {
		data := r.fieldBytes(t, 0, "buffer data")
		if off := r.fieldU64(t, 1, 0); off > 1 {
			size := r.fieldU64(t, 2, 0)
			if off > uint64(len(r.buf)) || size > uint64(len(r.buf))-off {
				r.fail("buffer %d: external data at %d+%d outside file of %d bytes", k, off, size, len(r.buf))
				return
			}
			data = r.buf[off : off+size : off+size]
		}
		m.Buffers = append(m.Buffers, data)
	})
	r.tables(root, 6, "metadata", func(k int, t table) {
		m.Metadata = append(m.Metadata, MetadataEntry{
			Name:   r.fieldString(t, 0, "metadata name"),
			Buffer: int(r.fieldU32(t, 1, 0)),
		})
	})
	return m
}

func (r *reader) decodeSubgraph(t table, codes []OperatorCode) Subgraph {
	var sg Subgraph
	r.tables(t, 0, "tensors", func(k int, tt table) {
		sg.Tensors = append(sg.Tensors, r.decodeTensor(tt))
	})
	sg.Inputs = r.fieldInts(t, 1, "subgraph inputs")
	sg.Outputs = r.fieldInts(t, 2, "subgraph outputs")
	r.tables(t, 3, "operators", func(k int, ot table) {
		op := Operator{
			OpcodeIndex:   int(r.fieldU32(ot, 0, 0)),
			Inputs:        r.fieldInts(ot, 1, "operator inputs"),
			Outputs:       r.fieldInts(ot, 2, "operator outputs"),
			CustomOptions: r.fieldBytes(ot, 5, "custom options"),
			Intermediates: r.fieldInts(ot, 8, "intermediates"),
		}
		if op.OpcodeIndex < 0 || op.OpcodeIndex >= len(codes) {
			r.fail("operator %d: opcode index %d out of range (%d codes)", k, op.OpcodeIndex, len(codes))
			return
		}
		code := codes[op.OpcodeIndex].Builtin
		if ot2, ok := r.fieldTable(ot, 4, "builtin options"); ok {
			op.Options = r.decodeOptions(code, ot2)
		} else {
			op.Options = defaultOptions(code)
		}
		sg.Operators = append(sg.Operators, op)
	})
	sg.Name = r.fieldString(t, 4, "subgraph name")
	return sg
}

func (r *reader) decodeTensor(t table) Tensor {
	tn := Tensor{
		Shape:          r.fieldInts(t, 0, "tensor shape"),
		Type:           TensorType(int8(r.fieldU8(t, 1, 0))),
		Buffer:         int(r.fieldU32(t, 2, 0)),
		Name:           r.fieldString(t, 3, "tensor name"),
		IsVariable:     r.fieldBool(t, 5, false),
		ShapeSignature: r.fieldInts(t, 7, "shape signature"),
	}
	if qt, ok := r.fieldTable(t, 4, "quantization"); ok {
		q := &Quantization{
			Min:                r.fieldFloats(qt, 0, "quantization min"),
			Max:                r.fieldFloats(qt, 1, "quantization max"),
			Scale:              r.fieldFloats(qt, 2, "quantization scale"),
			ZeroPoint:          r.fieldInt64s(qt, 3, "quantization zero point"),
			QuantizedDimension: int(r.fieldI32(qt, 6, 0)),
		}
		if len(q.Scale) > 0 || len(q.ZeroPoint) > 0 {
			tn.Quant = q
		}
	}
	return tn
}

// validate checks the cross references that the flatbuffer layout cannot:
// tensor and buffer indices, shapes and buffer sizes.
func (m *Model) validate() error {
	if len(m.Subgraphs) == 0 {
		return errors.New("model has no subgraphs")
	}
	for i, b := range m.Metadata {
		if b.Buffer < 0 || b.Buffer >= len(m.Buffers) {
			return fmt.Errorf("metadata %d (%q): buffer %d out of range (%d buffers)", i, b.Name, b.Buffer, len(m.Buffers))
		}
	}
	for si := range m.Subgraphs {
		sg := &m.Subgraphs[si]
		checkIdx := func(what string, idx []int, optional bool) error {
			for _, t := range idx {
				if optional && t == -1 {
					continue
				}
				if t < 0 || t >= len(sg.Tensors) {
					return fmt.Errorf("%s: tensor index %d out of range (%d tensors)", what, t, len(sg.Tensors))
				}
			}
			return nil
		}
		if err := checkIdx(fmt.Sprintf("subgraph %d inputs", si), sg.Inputs, false); err != nil {
			return err
		}
		if err := checkIdx(fmt.Sprintf("subgraph %d outputs", si), sg.Outputs, false); err != nil {
			return err
		}
		for ti := range sg.Tensors {
			if err := m.validateTensor(&sg.Tensors[ti]); err != nil {
				return fmt.Errorf("subgraph %d tensor %d (%s): %w", si, ti, sg.Tensors[ti].Name, err)
			}
		}
		for oi, op := range sg.Operators {
			what := fmt.Sprintf("subgraph %d operator %d (%s)", si, oi, m.OperatorCodes[op.OpcodeIndex].Builtin)
			if err := checkIdx(what+" inputs", op.Inputs, true); err != nil {
				return err
			}
			if err := checkIdx(what+" outputs", op.Outputs, false); err != nil {
				return err
			}
			if err := checkIdx(what+" intermediates", op.Intermediates, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Model) validateTensor(t *Tensor) error {
	if len(t.Shape) > maxRank {
		return fmt.Errorf("rank %d exceeds %d", len(t.Shape), maxRank)
	}
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
		if d > 0 && n > maxElements/d {
			return fmt.Errorf("shape %v is too large", t.Shape)
		}
		n *= d
	}
	if t.Buffer < 0 || t.Buffer >= max(len(m.Buffers), 1) {
		return fmt.Errorf("buffer %d out of range (%d buffers)", t.Buffer, len(m.Buffers))
	}
	if t.Buffer > 0 {
		data := m.Buffers[t.Buffer]
		if size := t.Type.Size(); len(data) > 0 && size > 0 && len(data) != n*size {
			return fmt.Errorf("buffer %d holds %d bytes, shape %v of %s needs %d", t.Buffer, len(data), t.Shape, t.Type, n*size)
		}
	}
	if q := t.Quant; q != nil {
		if len(q.ZeroPoint) != 0 && len(q.Scale) != 0 && len(q.ZeroPoint) != len(q.Scale) && len(q.ZeroPoint) != 1 {
			return fmt.Errorf("quantization has %d scales but %d zero points", len(q.Scale), len(q.ZeroPoint))
		}
		// Per-channel parameters must match the quantized dimension, except
		// that TFLite Micro accepts a dimension beyond the rank for 1-D
		// per-channel bias tensors (person_detect carries such files).
		if len(q.Scale) > 1 && q.QuantizedDimension < len(t.Shape) && q.QuantizedDimension >= 0 {
			if d := t.Shape[q.QuantizedDimension]; d != len(q.Scale) {
				return fmt.Errorf("%d per-channel scales for dimension %d of size %d", len(q.Scale), q.QuantizedDimension, d)
			}
		}
		if q.QuantizedDimension < 0 {
			return fmt.Errorf("negative quantized dimension %d", q.QuantizedDimension)
		}
	}
	return nil
}

// Input returns the i-th input tensor of the main subgraph.
func (m *Model) Input(i int) *Tensor { return &m.Subgraphs[0].Tensors[m.Subgraphs[0].Inputs[i]] }

// Output returns the i-th output tensor of the main subgraph.
func (m *Model) Output(i int) *Tensor { return &m.Subgraphs[0].Tensors[m.Subgraphs[0].Outputs[i]] }

// OpCounts counts the operators of the main subgraph by name, custom ops
// under their custom code.
func (m *Model) OpCounts() map[string]int {
	counts := map[string]int{}
	for _, op := range m.Subgraphs[0].Operators {
		counts[m.OpName(op)]++
	}
	return counts
}

// OpName names an operator: its builtin name, or its custom code.
func (m *Model) OpName(op Operator) string {
	code := m.OperatorCodes[op.OpcodeIndex]
	if code.Builtin == OpCustom {
		return "CUSTOM:" + code.Custom
	}
	return code.Builtin.String()
}
