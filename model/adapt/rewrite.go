package adapt

import (
	"fmt"
	"math"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/quantize"
)

// Rewrite returns the bytes of a copy of the model file f with its last
// layer (described by feat) replaced by h; nothing else changes. A float
// layer is written as float32. A quantized layer keeps its scheme — int8
// symmetric per tensor or per channel, or uint8 asymmetric — with new
// scales, the int32 bias on the input scale × weight scale, and the logits'
// quantization refitted to logitRange, the range the new logits take on
// the training data, so they do not saturate.
func Rewrite(f *model.File, feat model.Features, h *ood.Head, logitRange [2]float32) ([]byte, error) {
	m, err := model.Decode(f.Raw)
	if err != nil {
		return nil, fmt.Errorf("rewrite %s: %w", f.Name, err)
	}
	if h.Classes != feat.Classes || h.Dim != feat.Dim {
		return nil, fmt.Errorf("rewrite %s: new layer is %d×%d, the model's %d×%d", f.Name, h.Classes, h.Dim, feat.Classes, feat.Dim)
	}
	sg := &m.Subgraphs[0]
	wt := &sg.Tensors[feat.Weights]
	var wScales []float32
	switch wt.Type {
	case model.Float32:
		setBuffer(m, feat.Weights, model.Float32Bytes(h.W))
	case model.Int8:
		data, q := quantize.SymmetricWeights(h.W, h.Classes, wt.Quant != nil && len(wt.Quant.Scale) > 1)
		setBuffer(m, feat.Weights, data)
		wt.Quant, wScales = q, q.Scale
	case model.Uint8:
		data, q := asymmetricUint8(h.W)
		setBuffer(m, feat.Weights, data)
		wt.Quant, wScales = q, q.Scale
	default:
		return nil, fmt.Errorf("rewrite %s: cannot write %s weights", f.Name, wt.Type)
	}
	if feat.Bias < 0 {
		return nil, fmt.Errorf("rewrite %s: the last layer has no bias to write", f.Name)
	}
	bt := &sg.Tensors[feat.Bias]
	switch bt.Type {
	case model.Float32:
		setBuffer(m, feat.Bias, model.Float32Bytes(h.B))
	case model.Int32:
		in := sg.Tensors[feat.Tensor].Quant
		if in == nil || len(in.Scale) == 0 || wScales == nil {
			return nil, fmt.Errorf("rewrite %s: int32 bias without quantized input and weights", f.Name)
		}
		vals := make([]int32, len(h.B))
		q := &model.Quantization{}
		for c, b := range h.B {
			s := float64(in.Scale[0]) * float64(wScales[min(c, len(wScales)-1)])
			vals[c] = int32(max(math.MinInt32, min(math.MaxInt32, math.Round(float64(b)/s))))
			if len(wScales) > 1 || c == 0 {
				q.Scale = append(q.Scale, float32(s))
				q.ZeroPoint = append(q.ZeroPoint, 0)
			}
		}
		setBuffer(m, feat.Bias, model.Int32Bytes(vals))
		bt.Quant = q
	default:
		return nil, fmt.Errorf("rewrite %s: cannot write %s bias", f.Name, bt.Type)
	}
	out := sg.Operators[feat.Head].Outputs[0]
	if ot := &sg.Tensors[out]; ot.Type == model.Int8 || ot.Type == model.Uint8 {
		q := activationQuant(ot.Type, logitRange)
		for _, t := range passThrough(m, out, feat.Logits) {
			if sg.Tensors[t].Type == ot.Type {
				sg.Tensors[t].Quant = q
			}
		}
	}
	// Labels and other associated files live in a zip after the flatbuffer.
	var files map[string][]byte
	if f.Metadata != nil {
		files = f.Metadata.Files
	}
	b, err := model.EncodeWithFiles(m, files)
	if err != nil {
		return nil, fmt.Errorf("rewrite %s: %w", f.Name, err)
	}
	return b, nil
}

// setBuffer gives tensor t the data, in a buffer of its own if it shared
// one.
func setBuffer(m *model.Model, t int, data []byte) {
	sg := &m.Subgraphs[0]
	buf := sg.Tensors[t].Buffer
	shared := 0
	for _, s := range m.Subgraphs {
		for _, x := range s.Tensors {
			if x.Buffer == buf {
				shared++
			}
		}
	}
	if buf > 0 && shared == 1 {
		m.Buffers[buf] = data
		return
	}
	m.Buffers = append(m.Buffers, data)
	sg.Tensors[t].Buffer = len(m.Buffers) - 1
}

// passThrough lists the tensors from the head's output to the logits,
// through the shape-only operators FindFeatures walked.
func passThrough(m *model.Model, from, to int) []int {
	sg := &m.Subgraphs[0]
	producer := map[int]int{}
	for oi, op := range sg.Operators {
		for _, t := range op.Outputs {
			producer[t] = oi
		}
	}
	path := []int{to}
	for t := to; t != from; {
		oi, ok := producer[t]
		if !ok || len(sg.Operators[oi].Inputs) == 0 {
			break
		}
		t = sg.Operators[oi].Inputs[0]
		path = append(path, t)
	}
	return path
}

// asymmetricUint8 quantizes weights to uint8 with one scale and zero point.
func asymmetricUint8(w []float32) ([]byte, *model.Quantization) {
	lo, hi := 0.0, 0.0
	for _, x := range w {
		lo, hi = min(lo, float64(x)), max(hi, float64(x))
	}
	scale := max((hi-lo)/255, 1e-12)
	zp := max(0, min(255, math.Round(-lo/scale)))
	data := make([]byte, len(w))
	for i, x := range w {
		data[i] = byte(max(0, min(255, math.Round(float64(x)/scale)+zp)))
	}
	return data, &model.Quantization{Scale: []float32{float32(scale)}, ZeroPoint: []int64{int64(zp)}}
}

// activationQuant covers the range r (widened to include 0) with the full
// int8 or uint8 range.
func activationQuant(typ model.TensorType, r [2]float32) *model.Quantization {
	lo, hi := min(float64(r[0]), 0), max(float64(r[1]), 0)
	scale := max((hi-lo)/255, 1e-6)
	qmin := -128.0
	if typ == model.Uint8 {
		qmin = 0
	}
	zp := max(qmin, min(qmin+255, math.Round(qmin-lo/scale)))
	return &model.Quantization{Scale: []float32{float32(scale)}, ZeroPoint: []int64{int64(zp)}}
}

// LogitRange is the range of h's logits over the samples' features,
// widened by a tenth on each side for inputs the samples did not cover.
func LogitRange(h *ood.Head, features [][]float32) [2]float32 {
	logits := make([]float32, h.Classes)
	r := [2]float32{float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, f := range features {
		h.Logits(logits, f)
		for _, v := range logits {
			r[0], r[1] = min(r[0], v), max(r[1], v)
		}
	}
	pad := (r[1] - r[0]) / 10
	return [2]float32{r[0] - pad, r[1] + pad}
}
