package train

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/quantize"
)

// ranges holds the observed real-valued range of each activation.
type ranges struct {
	conv1, conv2, fc1, logits [2]float32
}

func observe(r *[2]float32, v []float32) {
	for _, x := range v {
		r[0] = min(r[0], x)
		r[1] = max(r[1], x)
	}
}

// calibrateRanges runs the float network on images to find activation ranges
// for post-training quantization.
func calibrateRanges(p *Params, images [][]uint8) ranges {
	var r ranges
	a := newActivations()
	for _, img := range images {
		normalize(img, a.input)
		p.forward(a)
		observe(&r.conv1, a.conv1)
		observe(&r.conv2, a.conv2)
		observe(&r.fc1, a.fc1)
		observe(&r.logits, a.logits)
	}
	return r
}

// asymmetric returns int8 quantization covering [lo, hi] (widened to hold 0).
func asymmetric(r [2]float32) *model.Quantization {
	lo, hi := float64(min(r[0], 0)), float64(max(r[1], 0))
	if hi-lo < 1e-6 {
		hi = lo + 1e-6
	}
	scale := (hi - lo) / 255
	zp := math.Round(-128 - lo/scale)
	zp = math.Max(-128, math.Min(127, zp))
	return &model.Quantization{Scale: []float32{float32(scale)}, ZeroPoint: []int64{int64(zp)}}
}

// biasInt32 quantizes a bias with scale inScale·wScale[c].
func biasInt32(b []float32, inScale float32, w *model.Quantization) ([]byte, *model.Quantization) {
	q := &model.Quantization{}
	vals := make([]int32, len(b))
	for c, x := range b {
		ws := w.Scale[min(c, len(w.Scale)-1)]
		s := float64(inScale) * float64(ws)
		vals[c] = int32(math.Round(float64(x) / s))
		if len(w.Scale) > 1 || c == 0 {
			q.Scale = append(q.Scale, float32(s))
			q.ZeroPoint = append(q.ZeroPoint, 0)
		}
	}
	return model.Int32Bytes(vals), q
}

// ExportInt8 writes a fully int8-quantized model: int8 input (pixel − 128,
// scale 1/255), per-channel int8 convolution weights, per-tensor int8 dense
// weights, int32 biases, activations quantized from ranges observed on the
// calibration images, and an int8 softmax output (scale 1/256, zero −128).
func ExportInt8(p *Params, calibration [][]uint8, info ExportInfo) ([]byte, error) {
	r := calibrateRanges(p, calibration)
	g := model.NewBuilder(info.Description + " (int8)")
	qIn := &model.Quantization{Scale: []float32{1.0 / 255}, ZeroPoint: []int64{-128}}
	q1, q2, q3, qLogits := asymmetric(r.conv1), asymmetric(r.conv2), asymmetric(r.fc1), asymmetric(r.logits)
	qProbs := &model.Quantization{Scale: []float32{1.0 / 256}, ZeroPoint: []int64{-128}}

	layer := func(name string, code model.BuiltinOp, opts any, in int, inQ *model.Quantization, w, b []float32, wShape []int, perChannel bool, outShape []int, outQ *model.Quantization) int {
		wData, wQ := quantize.SymmetricWeights(w, wShape[0], perChannel)
		bData, bQ := biasInt32(b, inQ.Scale[0], wQ)
		wt := tensor(g, name+"/weights", model.Int8, wShape, wData, wQ)
		bt := tensor(g, name+"/bias", model.Int32, []int{wShape[0]}, bData, bQ)
		out := tensor(g, name, model.Int8, outShape, nil, outQ)
		g.Op(code, opts, []int{in, wt, bt}, out)
		return out
	}
	convOpts := &model.Conv2DOptions{Padding: model.PaddingSame, StrideW: 1, StrideH: 1, Activation: model.ActRelu, DilationW: 1, DilationH: 1}
	in := tensor(g, "image", model.Int8, []int{1, Side, Side, 1}, nil, qIn)
	c1 := layer("conv1", model.OpConv2D, convOpts, in, qIn, p.Conv1W, p.Conv1B, []int{C1, 3, 3, 1}, true, []int{1, Side, Side, C1}, q1)
	p1 := tensor(g, "pool1", model.Int8, []int{1, side2, side2, C1}, nil, q1)
	g.Op(model.OpMaxPool2D, pool2Options(), []int{c1}, p1)
	c2 := layer("conv2", model.OpConv2D, convOpts, p1, q1, p.Conv2W, p.Conv2B, []int{C2, 3, 3, C1}, true, []int{1, side2, side2, C2}, q2)
	p2 := tensor(g, "pool2", model.Int8, []int{1, side4, side4, C2}, nil, q2)
	g.Op(model.OpMaxPool2D, pool2Options(), []int{c2}, p2)
	fl := tensor(g, "flatten", model.Int8, []int{1, flat}, nil, q2)
	g.Op(model.OpReshape, &model.ReshapeOptions{NewShape: []int32{1, flat}},
		[]int{p2, tensor(g, "flatten/shape", model.Int32, []int{2}, model.Int32Bytes([]int32{1, flat}), nil)}, fl)
	h := layer("dense1", model.OpFullyConnected, &model.FullyConnectedOptions{Activation: model.ActRelu}, fl, q2, p.FC1W, p.FC1B, []int{Hidden, flat}, false, []int{1, Hidden}, q3)
	logits := layer("logits", model.OpFullyConnected, &model.FullyConnectedOptions{}, h, q3, p.FC2W, p.FC2B, []int{Classes, Hidden}, false, []int{1, Classes}, qLogits)
	probs := tensor(g, "probabilities", model.Int8, []int{1, Classes}, nil, qProbs)
	g.Op(model.OpSoftmax, &model.SoftmaxOptions{Beta: 1}, []int{logits}, probs)
	md, files := metadataFor(info)
	return model.EncodeWithFiles(g.Model([]int{in}, []int{probs}).WithMetadata(md), files)
}
