package model

import (
	"errors"
	"fmt"
	"reflect"

	flatbuffers "github.com/google/flatbuffers/go"
)

// Encode serializes m as a .tflite flatbuffer (schema version 3) that the
// TensorFlow Lite runtime loads. Buffer data is 16-byte aligned as the schema
// asks. Options are written for every operator that has an options table.
func Encode(m *Model) ([]byte, error) {
	if len(m.Subgraphs) == 0 {
		return nil, errors.New("encode: model has no subgraphs")
	}
	if len(m.Buffers) == 0 || len(m.Buffers[0]) != 0 {
		return nil, errors.New("encode: buffer 0 must exist and be empty")
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	b := flatbuffers.NewBuilder(1 << 16)

	// Buffers first: they are the bulk of the file and want alignment.
	buffers := make([]flatbuffers.UOffsetT, len(m.Buffers))
	for i := len(m.Buffers) - 1; i >= 0; i-- {
		data := m.Buffers[i]
		var vec flatbuffers.UOffsetT
		if len(data) > 0 {
			b.StartVector(1, len(data), 16)
			for k := len(data) - 1; k >= 0; k-- {
				b.PlaceByte(data[k])
			}
			vec = b.EndVector(len(data))
		}
		b.StartObject(3)
		if len(data) > 0 {
			b.PrependUOffsetTSlot(0, vec, 0)
		}
		buffers[i] = b.EndObject()
	}
	buffersVec := tableVector(b, buffers)

	codes := make([]flatbuffers.UOffsetT, len(m.OperatorCodes))
	for i, c := range m.OperatorCodes {
		var custom flatbuffers.UOffsetT
		if c.Custom != "" {
			custom = b.CreateString(c.Custom)
		}
		b.StartObject(4)
		b.PrependInt8Slot(0, int8(min(int32(c.Builtin), int32(OpPlaceholderForGreaterOpCodes))), 0)
		if custom != 0 {
			b.PrependUOffsetTSlot(1, custom, 0)
		}
		version := c.Version
		if version == 0 {
			version = 1
		}
		b.PrependInt32Slot(2, version, 1)
		b.PrependInt32Slot(3, int32(c.Builtin), 0)
		codes[i] = b.EndObject()
	}
	codesVec := tableVector(b, codes)

	subgraphs := make([]flatbuffers.UOffsetT, len(m.Subgraphs))
	for i := range m.Subgraphs {
		sg, err := encodeSubgraph(b, m, &m.Subgraphs[i])
		if err != nil {
			return nil, fmt.Errorf("encode subgraph %d: %w", i, err)
		}
		subgraphs[i] = sg
	}
	subgraphsVec := tableVector(b, subgraphs)

	metadata := make([]flatbuffers.UOffsetT, len(m.Metadata))
	for i, md := range m.Metadata {
		name := b.CreateString(md.Name)
		b.StartObject(2)
		b.PrependUOffsetTSlot(0, name, 0)
		b.PrependUint32Slot(1, uint32(md.Buffer), 0)
		metadata[i] = b.EndObject()
	}
	var metadataVec flatbuffers.UOffsetT
	if len(metadata) > 0 {
		metadataVec = tableVector(b, metadata)
	}
	description := b.CreateString(m.Description)

	b.StartObject(8)
	version := m.Version
	if version == 0 {
		version = 3
	}
	b.PrependUint32Slot(0, version, 0)
	b.PrependUOffsetTSlot(1, codesVec, 0)
	b.PrependUOffsetTSlot(2, subgraphsVec, 0)
	b.PrependUOffsetTSlot(3, description, 0)
	b.PrependUOffsetTSlot(4, buffersVec, 0)
	if metadataVec != 0 {
		b.PrependUOffsetTSlot(6, metadataVec, 0)
	}
	root := b.EndObject()
	b.FinishWithFileIdentifier(root, []byte(fileIdentifier))
	return b.FinishedBytes(), nil
}

func tableVector(b *flatbuffers.Builder, offs []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	return vector(b, 4, offs, b.PrependUOffsetT)
}

func intVector(b *flatbuffers.Builder, v []int) flatbuffers.UOffsetT {
	return vector(b, 4, v, func(x int) { b.PrependInt32(int32(x)) })
}

func floatVector(b *flatbuffers.Builder, v []float32) flatbuffers.UOffsetT {
	return vector(b, 4, v, b.PrependFloat32)
}

func int64Vector(b *flatbuffers.Builder, v []int64) flatbuffers.UOffsetT {
	return vector(b, 8, v, b.PrependInt64)
}

// vector writes v as a flatbuffer vector of elemSize-byte elements;
// flatbuffers are built back to front, so prepend sees v's last element
// first.
func vector[T any](b *flatbuffers.Builder, elemSize int, v []T, prepend func(T)) flatbuffers.UOffsetT {
	b.StartVector(elemSize, len(v), elemSize)
	for i := len(v) - 1; i >= 0; i-- {
		prepend(v[i])
	}
	return b.EndVector(len(v))
}

func encodeSubgraph(b *flatbuffers.Builder, m *Model, sg *Subgraph) (flatbuffers.UOffsetT, error) {
	tensors := make([]flatbuffers.UOffsetT, len(sg.Tensors))
	for i := range sg.Tensors {
		tensors[i] = encodeTensor(b, &sg.Tensors[i])
	}
	tensorsVec := tableVector(b, tensors)
	ops := make([]flatbuffers.UOffsetT, len(sg.Operators))
	for i, op := range sg.Operators {
		code := m.OperatorCodes[op.OpcodeIndex].Builtin
		var opts flatbuffers.UOffsetT
		var union uint8
		if op.Options != nil {
			kind, ok := optionsFor(code)
			if !ok || reflect.TypeOf(op.Options) != reflect.TypeOf(kind.make()) {
				return 0, fmt.Errorf("operator %d (%s): options %T do not belong to it", i, code, op.Options)
			}
			opts, union = encodeOptions(b, op.Options), kind.union
		}
		inputs := intVector(b, op.Inputs)
		outputs := intVector(b, op.Outputs)
		var inter flatbuffers.UOffsetT
		if len(op.Intermediates) > 0 {
			inter = intVector(b, op.Intermediates)
		}
		b.StartObject(13)
		b.PrependUint32Slot(0, uint32(op.OpcodeIndex), 0)
		b.PrependUOffsetTSlot(1, inputs, 0)
		b.PrependUOffsetTSlot(2, outputs, 0)
		if union != 0 {
			b.PrependUint8Slot(3, union, 0)
			b.PrependUOffsetTSlot(4, opts, 0)
		}
		if inter != 0 {
			b.PrependUOffsetTSlot(8, inter, 0)
		}
		ops[i] = b.EndObject()
	}
	opsVec := tableVector(b, ops)
	inputs := intVector(b, sg.Inputs)
	outputs := intVector(b, sg.Outputs)
	name := b.CreateString(sg.Name)
	b.StartObject(5)
	b.PrependUOffsetTSlot(0, tensorsVec, 0)
	b.PrependUOffsetTSlot(1, inputs, 0)
	b.PrependUOffsetTSlot(2, outputs, 0)
	b.PrependUOffsetTSlot(3, opsVec, 0)
	b.PrependUOffsetTSlot(4, name, 0)
	return b.EndObject(), nil
}

func encodeTensor(b *flatbuffers.Builder, t *Tensor) flatbuffers.UOffsetT {
	shape := intVector(b, t.Shape)
	name := b.CreateString(t.Name)
	var quant flatbuffers.UOffsetT
	if q := t.Quant; q != nil {
		scale := floatVector(b, q.Scale)
		zero := int64Vector(b, q.ZeroPoint)
		var mn, mx flatbuffers.UOffsetT
		if len(q.Min) > 0 {
			mn = floatVector(b, q.Min)
		}
		if len(q.Max) > 0 {
			mx = floatVector(b, q.Max)
		}
		b.StartObject(7)
		if mn != 0 {
			b.PrependUOffsetTSlot(0, mn, 0)
		}
		if mx != 0 {
			b.PrependUOffsetTSlot(1, mx, 0)
		}
		b.PrependUOffsetTSlot(2, scale, 0)
		b.PrependUOffsetTSlot(3, zero, 0)
		b.PrependInt32Slot(6, int32(q.QuantizedDimension), 0)
		quant = b.EndObject()
	}
	var sig flatbuffers.UOffsetT
	if len(t.ShapeSignature) > 0 {
		sig = intVector(b, t.ShapeSignature)
	}
	b.StartObject(9)
	b.PrependUOffsetTSlot(0, shape, 0)
	b.PrependInt8Slot(1, int8(t.Type), 0)
	b.PrependUint32Slot(2, uint32(t.Buffer), 0)
	b.PrependUOffsetTSlot(3, name, 0)
	if quant != 0 {
		b.PrependUOffsetTSlot(4, quant, 0)
	}
	b.PrependBoolSlot(5, t.IsVariable, false)
	if sig != 0 {
		b.PrependUOffsetTSlot(7, sig, 0)
	}
	return b.EndObject()
}

// encodeOptions writes an options struct using its `fb` tags.
func encodeOptions(b *flatbuffers.Builder, opts any) flatbuffers.UOffsetT {
	v := reflect.ValueOf(opts).Elem()
	fields := optionFields(v.Type())
	// Vectors must be complete before the table starts.
	vectors := map[int]flatbuffers.UOffsetT{}
	maxSlot := 0
	for _, f := range fields {
		maxSlot = max(maxSlot, f.slot)
		if fv := v.Field(f.index); fv.Kind() == reflect.Slice && fv.Len() > 0 {
			s := fv.Interface().([]int32)
			ints := make([]int, len(s))
			for i, x := range s {
				ints[i] = int(x)
			}
			vectors[f.slot] = intVector(b, ints)
		}
	}
	b.StartObject(maxSlot + 1)
	for _, f := range fields {
		fv := v.Field(f.index)
		switch fv.Kind() {
		case reflect.Bool:
			b.PrependBoolSlot(f.slot, fv.Bool(), f.def != 0)
		case reflect.Int8:
			b.PrependInt8Slot(f.slot, int8(fv.Int()), int8(f.def))
		case reflect.Int32:
			b.PrependInt32Slot(f.slot, int32(fv.Int()), int32(f.def))
		case reflect.Float32:
			b.PrependFloat32Slot(f.slot, float32(fv.Float()), 0)
		case reflect.Slice:
			if off, ok := vectors[f.slot]; ok {
				b.PrependUOffsetTSlot(f.slot, off, 0)
			}
		}
	}
	return b.EndObject()
}
