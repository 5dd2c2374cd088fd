package quantize_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/internal/modeltest"
	"github.com/ood-agent/ood-agent/model/internal/oracle"
	"github.com/ood-agent/ood-agent/model/quantize"
)

// opCase builds a small float model around one operator (or a short chain)
// with random weights.
type opCase struct {
	name  string
	build func(r *rand.Rand) *model.Model
	// lo, hi bound the random input values used for calibration and for
	// the held-out accuracy check.
	lo, hi float32
	// maxErr bounds the error of the dequantized output, as a fraction of
	// the float output's range.
	maxErr float64
	// perChannelFC selects per-row FULLY_CONNECTED weight scales.
	perChannelFC bool
}

func unaryModel(op model.BuiltinOp, opts any, shape []int) func(r *rand.Rand) *model.Model {
	return func(*rand.Rand) *model.Model {
		b := model.NewBuilder(op.String())
		x := b.Tensor("x", model.Float32, shape, nil)
		y := b.Tensor("y", model.Float32, shape, nil)
		b.Op(op, opts, []int{x}, y)
		return b.Model([]int{x}, []int{y})
	}
}

func binaryModel(op model.BuiltinOp, opts any, a, c []int, constB bool) func(r *rand.Rand) *model.Model {
	return func(r *rand.Rand) *model.Model {
		b := model.NewBuilder(op.String())
		x := b.Tensor("x", model.Float32, a, nil)
		var y int
		if constB {
			y = b.ConstF32("c", c, modeltest.RandF32(r, modeltest.Numel(c), -1.5, 1.5))
		} else {
			y = b.Tensor("y", model.Float32, c, nil)
		}
		out := a
		if modeltest.Numel(c) > modeltest.Numel(a) {
			out = c
		}
		z := b.Tensor("z", model.Float32, out, nil)
		b.Op(op, opts, []int{x, y}, z)
		if constB {
			return b.Model([]int{x}, []int{z})
		}
		return b.Model([]int{x, y}, []int{z})
	}
}

func convModel(depthwise bool, in []int, outC, k int, opts any, bias bool) func(r *rand.Rand) *model.Model {
	return func(r *rand.Rand) *model.Model {
		b := model.NewBuilder("conv")
		x := b.Tensor("x", model.Float32, in, nil)
		wShape := []int{outC, k, k, in[3]}
		code := model.OpConv2D
		if depthwise {
			wShape = []int{1, k, k, outC}
			code = model.OpDepthwiseConv2D
		}
		fan := float32(k * k * in[3])
		if depthwise {
			fan = float32(k * k)
		}
		w := b.ConstF32("w", wShape, modeltest.RandF32(r, modeltest.Numel(wShape), -1/fan*3, 1/fan*3))
		bi := -1
		if bias {
			bi = b.ConstF32("b", []int{outC}, modeltest.RandF32(r, outC, -0.3, 0.3))
		}
		outShape := convOut(in, outC, k, opts)
		y := b.Tensor("y", model.Float32, outShape, nil)
		b.Op(code, opts, []int{x, w, bi}, y)
		return b.Model([]int{x}, []int{y})
	}
}

// convOut is the output shape of a k×k convolution of in.
func convOut(in []int, outC, k int, opts any) []int {
	var pad model.Padding
	var stride int
	switch o := opts.(type) {
	case *model.Conv2DOptions:
		pad, stride = o.Padding, int(o.StrideH)
	case *model.DepthwiseConv2DOptions:
		pad, stride = o.Padding, int(o.StrideH)
	case *model.Pool2DOptions:
		pad, stride = o.Padding, int(o.StrideH)
	}
	size := func(n int) int {
		if pad == model.PaddingSame {
			return (n + stride - 1) / stride
		}
		return (n-k)/stride + 1
	}
	return []int{in[0], size(in[1]), size(in[2]), outC}
}

func fcModel(in, out int, act model.Activation, bias bool) func(r *rand.Rand) *model.Model {
	return func(r *rand.Rand) *model.Model {
		b := model.NewBuilder("fc")
		x := b.Tensor("x", model.Float32, []int{1, in}, nil)
		w := b.ConstF32("w", []int{out, in}, modeltest.RandF32(r, out*in, -2/float32(in), 2/float32(in)))
		inputs := []int{x, w}
		if bias {
			inputs = append(inputs, b.ConstF32("b", []int{out}, modeltest.RandF32(r, out, -0.2, 0.2)))
		} else {
			inputs = append(inputs, -1)
		}
		y := b.Tensor("y", model.Float32, []int{1, out}, nil)
		b.Op(model.OpFullyConnected, &model.FullyConnectedOptions{Activation: act}, inputs, y)
		return b.Model([]int{x}, []int{y})
	}
}

// fcRowsModel is a FULLY_CONNECTED layer whose weight rows differ in
// magnitude by factors of 4, so that a runtime reading only the first
// per-row scale would be far off.
func fcRowsModel(bias bool) func(r *rand.Rand) *model.Model {
	return func(r *rand.Rand) *model.Model {
		const in, out = 16, 4
		w := modeltest.RandF32(r, in*out, -0.25, 0.25)
		for i := range w {
			w[i] *= float32(int(1) << (2 * (i / in)))
		}
		b := model.NewBuilder("fc rows")
		x := b.Tensor("x", model.Float32, []int{1, in}, nil)
		inputs := []int{x, b.ConstF32("w", []int{out, in}, w), -1}
		if bias {
			inputs[2] = b.ConstF32("b", []int{out}, modeltest.RandF32(r, out, -1, 1))
		}
		y := b.Tensor("y", model.Float32, []int{1, out}, nil)
		b.Op(model.OpFullyConnected, &model.FullyConnectedOptions{}, inputs, y)
		return b.Model([]int{x}, []int{y})
	}
}

func poolModel(op model.BuiltinOp, in []int, k, stride int, pad model.Padding) func(r *rand.Rand) *model.Model {
	return func(*rand.Rand) *model.Model {
		opts := &model.Pool2DOptions{Padding: pad, StrideW: int32(stride), StrideH: int32(stride), FilterWidth: int32(k), FilterHeight: int32(k)}
		b := model.NewBuilder("pool")
		x := b.Tensor("x", model.Float32, in, nil)
		y := b.Tensor("y", model.Float32, convOut(in, in[3], k, opts), nil)
		b.Op(op, opts, []int{x}, y)
		return b.Model([]int{x}, []int{y})
	}
}

func opCases() []opCase {
	conv := func(pad model.Padding, stride int32, act model.Activation) *model.Conv2DOptions {
		return &model.Conv2DOptions{Padding: pad, StrideW: stride, StrideH: stride, Activation: act, DilationW: 1, DilationH: 1}
	}
	dw := func(pad model.Padding, stride, mult int32, act model.Activation) *model.DepthwiseConv2DOptions {
		return &model.DepthwiseConv2DOptions{Padding: pad, StrideW: stride, StrideH: stride, DepthMultiplier: mult, Activation: act, DilationW: 1, DilationH: 1}
	}
	return []opCase{
		{name: "conv_same_relu", build: convModel(false, []int{1, 9, 7, 3}, 5, 3, conv(model.PaddingSame, 1, model.ActRelu), true), lo: -2, hi: 2, maxErr: 0.03},
		{name: "conv_valid_stride2", build: convModel(false, []int{1, 10, 11, 4}, 6, 3, conv(model.PaddingValid, 2, model.ActNone), true), lo: -1, hi: 3, maxErr: 0.03},
		{name: "conv_relu6_nobias", build: convModel(false, []int{1, 6, 6, 2}, 3, 1, conv(model.PaddingSame, 1, model.ActRelu6), false), lo: -4, hi: 4, maxErr: 0.03},
		{name: "depthwise_same", build: convModel(true, []int{1, 9, 7, 3}, 3, 3, dw(model.PaddingSame, 1, 1, model.ActRelu), true), lo: -2, hi: 2, maxErr: 0.03},
		{name: "depthwise_mult2_stride2", build: convModel(true, []int{1, 8, 9, 3}, 6, 3, dw(model.PaddingSame, 2, 2, model.ActNone), true), lo: -1, hi: 1, maxErr: 0.03},
		{name: "fully_connected", build: fcModel(20, 7, model.ActNone, true), lo: -2, hi: 2, maxErr: 0.03},
		{name: "fully_connected_relu_nobias", build: fcModel(33, 5, model.ActRelu, false), lo: -1, hi: 1, maxErr: 0.03},
		{name: "fully_connected_per_channel", build: fcRowsModel(false), lo: -1, hi: 1, maxErr: 0.03, perChannelFC: true},
		{name: "fully_connected_per_channel_bias", build: fcRowsModel(true), lo: -1, hi: 1, maxErr: 0.03, perChannelFC: true},
		{name: "average_pool", build: poolModel(model.OpAveragePool2D, []int{1, 8, 8, 3}, 2, 2, model.PaddingValid), lo: -2, hi: 2, maxErr: 0.02},
		{name: "max_pool", build: poolModel(model.OpMaxPool2D, []int{1, 9, 9, 4}, 3, 2, model.PaddingSame), lo: -2, hi: 2, maxErr: 0.02},
		{name: "mean", build: meanModel([]int{1, 6, 5, 4}, []int32{1, 2}, true), lo: -1, hi: 3, maxErr: 0.02},
		{name: "mean_no_keepdims", build: meanModel([]int{1, 4, 4, 8}, []int32{1, 2}, false), lo: -3, hi: 1, maxErr: 0.02},
		{name: "add", build: binaryModel(model.OpAdd, &model.AddOptions{}, []int{1, 4, 4, 3}, []int{1, 4, 4, 3}, false), lo: -2, hi: 2, maxErr: 0.02},
		{name: "add_const_broadcast_relu", build: binaryModel(model.OpAdd, &model.AddOptions{Activation: model.ActRelu}, []int{1, 4, 5, 3}, []int{3}, true), lo: -2, hi: 2, maxErr: 0.02},
		{name: "sub", build: binaryModel(model.OpSub, &model.SubOptions{}, []int{1, 3, 3, 4}, []int{1, 3, 3, 4}, false), lo: -1, hi: 2, maxErr: 0.02},
		{name: "mul", build: binaryModel(model.OpMul, &model.MulOptions{}, []int{1, 5, 3}, []int{1, 5, 3}, false), lo: -2, hi: 2, maxErr: 0.02},
		{name: "mul_const", build: binaryModel(model.OpMul, &model.MulOptions{}, []int{1, 4, 6}, []int{1, 1, 6}, true), lo: -2, hi: 2, maxErr: 0.02},
		{name: "reshape", build: reshapeModel([]int{1, 4, 4, 3}, []int{1, 48}), lo: -2, hi: 2, maxErr: 0.01},
		{name: "squeeze", build: squeezeModel, lo: -2, hi: 2, maxErr: 0.01},
		{name: "transpose", build: transposeModel, lo: -2, hi: 2, maxErr: 0.01},
		{name: "pad", build: padModel, lo: 0.5, hi: 2, maxErr: 0.01},
		{name: "concatenation", build: concatModel(false), lo: -2, hi: 2, maxErr: 0.01},
		{name: "concatenation_of_logistic", build: concatModel(true), lo: -3, hi: 3, maxErr: 0.02},
		{name: "maximum", build: binaryModel(model.OpMaximum, nil, []int{1, 3, 4, 2}, []int{1, 3, 4, 2}, false), lo: -2, hi: 2, maxErr: 0.01},
		{name: "minimum_const", build: binaryModel(model.OpMinimum, nil, []int{1, 3, 4, 2}, []int{2}, true), lo: -2, hi: 2, maxErr: 0.01},
		{name: "relu", build: unaryModel(model.OpRelu, nil, []int{1, 5, 5, 3}), lo: -4, hi: 4, maxErr: 0.01},
		{name: "relu6", build: unaryModel(model.OpRelu6, nil, []int{1, 5, 5, 3}), lo: -8, hi: 8, maxErr: 0.01},
		{name: "logistic", build: unaryModel(model.OpLogistic, nil, []int{1, 5, 5, 3}), lo: -6, hi: 6, maxErr: 0.01},
		{name: "tanh", build: unaryModel(model.OpTanh, nil, []int{1, 5, 5, 3}), lo: -3, hi: 3, maxErr: 0.01},
		{name: "hard_swish", build: unaryModel(model.OpHardSwish, nil, []int{1, 5, 5, 3}), lo: -5, hi: 5, maxErr: 0.01},
		{name: "softmax", build: unaryModel(model.OpSoftmax, &model.SoftmaxOptions{Beta: 1}, []int{1, 10}), lo: -4, hi: 4, maxErr: 0.02},
		{name: "cnn", build: cnnModel, lo: 0, hi: 1, maxErr: 0.05},
	}
}

func meanModel(in []int, axes []int32, keep bool) func(r *rand.Rand) *model.Model {
	return func(*rand.Rand) *model.Model {
		b := model.NewBuilder("mean")
		x := b.Tensor("x", model.Float32, in, nil)
		ax := b.ConstI32("axes", []int{len(axes)}, axes, nil)
		out := []int{in[0], in[3]}
		if keep {
			out = []int{in[0], 1, 1, in[3]}
		}
		y := b.Tensor("y", model.Float32, out, nil)
		b.Op(model.OpMean, &model.ReducerOptions{KeepDims: keep}, []int{x, ax}, y)
		return b.Model([]int{x}, []int{y})
	}
}

func reshapeModel(in, out []int) func(r *rand.Rand) *model.Model {
	return func(*rand.Rand) *model.Model {
		b := model.NewBuilder("reshape")
		x := b.Tensor("x", model.Float32, in, nil)
		s := make([]int32, len(out))
		for i, d := range out {
			s[i] = int32(d)
		}
		shape := b.ConstI32("shape", []int{len(out)}, s, nil)
		y := b.Tensor("y", model.Float32, out, nil)
		b.Op(model.OpReshape, &model.ReshapeOptions{NewShape: s}, []int{x, shape}, y)
		return b.Model([]int{x}, []int{y})
	}
}

func squeezeModel(*rand.Rand) *model.Model {
	b := model.NewBuilder("squeeze")
	x := b.Tensor("x", model.Float32, []int{1, 1, 1, 10}, nil)
	y := b.Tensor("y", model.Float32, []int{1, 10}, nil)
	b.Op(model.OpSqueeze, &model.SqueezeOptions{SqueezeDims: []int32{1, 2}}, []int{x}, y)
	return b.Model([]int{x}, []int{y})
}

func transposeModel(*rand.Rand) *model.Model {
	b := model.NewBuilder("transpose")
	x := b.Tensor("x", model.Float32, []int{1, 2, 3, 4}, nil)
	perm := b.ConstI32("perm", []int{4}, []int32{0, 3, 1, 2}, nil)
	y := b.Tensor("y", model.Float32, []int{1, 4, 2, 3}, nil)
	b.Op(model.OpTranspose, nil, []int{x, perm}, y)
	return b.Model([]int{x}, []int{y})
}

func padModel(*rand.Rand) *model.Model {
	b := model.NewBuilder("pad")
	x := b.Tensor("x", model.Float32, []int{1, 4, 4, 3}, nil)
	p := b.ConstI32("paddings", []int{4, 2}, []int32{0, 0, 1, 1, 2, 0, 0, 0}, nil)
	y := b.Tensor("y", model.Float32, []int{1, 6, 6, 3}, nil)
	b.Op(model.OpPad, nil, []int{x, p}, y)
	return b.Model([]int{x}, []int{y})
}

// concatModel concatenates two inputs along channels; withLogistic passes
// the second through LOGISTIC first, whose fixed output quantization cannot
// cover the first input's range, so the quantizer must requantize it.
func concatModel(withLogistic bool) func(r *rand.Rand) *model.Model {
	return func(*rand.Rand) *model.Model {
		b := model.NewBuilder("concat")
		x := b.Tensor("x", model.Float32, []int{1, 4, 4, 2}, nil)
		y := b.Tensor("y", model.Float32, []int{1, 4, 4, 3}, nil)
		second := y
		if withLogistic {
			second = b.Tensor("sig", model.Float32, []int{1, 4, 4, 3}, nil)
			b.Op(model.OpLogistic, nil, []int{y}, second)
		}
		z := b.Tensor("z", model.Float32, []int{1, 4, 4, 5}, nil)
		b.Op(model.OpConcatenation, &model.ConcatenationOptions{Axis: 3}, []int{x, second}, z)
		return b.Model([]int{x, y}, []int{z})
	}
}

// cnnModel is a small classifier: conv → relu → maxpool → depthwise conv →
// avgpool → mean → reshape → fc → softmax.
func cnnModel(r *rand.Rand) *model.Model {
	b := model.NewBuilder("cnn")
	x := b.Tensor("image", model.Float32, []int{1, 16, 16, 3}, nil)
	w1 := b.ConstF32("conv/w", []int{8, 3, 3, 3}, modeltest.RandF32(r, 8*27, -0.4, 0.4))
	b1 := b.ConstF32("conv/b", []int{8}, modeltest.RandF32(r, 8, -0.1, 0.1))
	c1 := b.Tensor("conv", model.Float32, []int{1, 16, 16, 8}, nil)
	b.Op(model.OpConv2D, &model.Conv2DOptions{Padding: model.PaddingSame, StrideW: 1, StrideH: 1, DilationW: 1, DilationH: 1}, []int{x, w1, b1}, c1)
	r1 := b.Tensor("relu", model.Float32, []int{1, 16, 16, 8}, nil)
	b.Op(model.OpRelu, nil, []int{c1}, r1)
	p1 := b.Tensor("maxpool", model.Float32, []int{1, 8, 8, 8}, nil)
	b.Op(model.OpMaxPool2D, &model.Pool2DOptions{Padding: model.PaddingValid, StrideW: 2, StrideH: 2, FilterWidth: 2, FilterHeight: 2}, []int{r1}, p1)
	w2 := b.ConstF32("dw/w", []int{1, 3, 3, 16}, modeltest.RandF32(r, 9*16, -0.5, 0.5))
	b2 := b.ConstF32("dw/b", []int{16}, modeltest.RandF32(r, 16, -0.1, 0.1))
	c2 := b.Tensor("dw", model.Float32, []int{1, 8, 8, 16}, nil)
	b.Op(model.OpDepthwiseConv2D, &model.DepthwiseConv2DOptions{Padding: model.PaddingSame, StrideW: 1, StrideH: 1, DepthMultiplier: 2, Activation: model.ActRelu6, DilationW: 1, DilationH: 1}, []int{p1, w2, b2}, c2)
	p2 := b.Tensor("avgpool", model.Float32, []int{1, 4, 4, 16}, nil)
	b.Op(model.OpAveragePool2D, &model.Pool2DOptions{Padding: model.PaddingValid, StrideW: 2, StrideH: 2, FilterWidth: 2, FilterHeight: 2}, []int{c2}, p2)
	axes := b.ConstI32("axes", []int{2}, []int32{1, 2}, nil)
	mn := b.Tensor("mean", model.Float32, []int{1, 1, 1, 16}, nil)
	b.Op(model.OpMean, &model.ReducerOptions{KeepDims: true}, []int{p2, axes}, mn)
	shape := b.ConstI32("shape", []int{2}, []int32{1, 16}, nil)
	fl := b.Tensor("flatten", model.Float32, []int{1, 16}, nil)
	b.Op(model.OpReshape, &model.ReshapeOptions{NewShape: []int32{1, 16}}, []int{mn, shape}, fl)
	w3 := b.ConstF32("fc/w", []int{10, 16}, modeltest.RandF32(r, 160, -2, 2))
	b3 := b.ConstF32("fc/b", []int{10}, modeltest.RandF32(r, 10, -0.5, 0.5))
	logits := b.Tensor("logits", model.Float32, []int{1, 10}, nil)
	b.Op(model.OpFullyConnected, &model.FullyConnectedOptions{}, []int{fl, w3, b3}, logits)
	probs := b.Tensor("probabilities", model.Float32, []int{1, 10}, nil)
	b.Op(model.OpSoftmax, &model.SoftmaxOptions{Beta: 1}, []int{logits}, probs)
	return b.Model([]int{x}, []int{probs})
}

// TestQuantizeOps quantizes one small random float model per supported
// operator, then checks the int8 model twice: the project's interpreter
// against the real TFLite runtime on random int8 inputs (within one step),
// and the dequantized output against the float model on held-out inputs.
func TestQuantizeOps(t *testing.T) {
	o := oracle.Require(t)
	for i, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			fm := c.build(r)
			calib := randomSamples(r, fm, 32, c.lo, c.hi)
			qm, err := quantize.Quantize(fm, calib, quantize.Options{IOType: model.Int8, PerChannelFullyConnected: c.perChannelFC})
			if err != nil {
				t.Fatalf("Quantize: %v", err)
			}
			checkInt8Graph(t, qm)
			if c.perChannelFC {
				w := qm.Subgraphs[0].Tensors[qm.Subgraphs[0].Operators[0].Inputs[1]]
				if len(w.Quant.Scale) != w.Shape[0] || w.Quant.QuantizedDimension != 0 {
					t.Errorf("weights %v have %d scales on dimension %d, want one per row", w.Shape, len(w.Quant.Scale), w.Quant.QuantizedDimension)
				}
			}
			raw, err := model.Encode(qm)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			for s := 0; s < 3; s++ {
				var inputs [][]byte
				for k := range qm.Subgraphs[0].Inputs {
					inputs = append(inputs, modeltest.RandBytes(r, modeltest.Numel(qm.Input(k).Shape)))
				}
				agreeWithOracle(t, o, qm, raw, inputs)
			}

			// Accuracy against the float model on held-out inputs. Held-out
			// outputs may fall outside the calibrated range, which int8
			// clips by design; the reference is clipped the same way so
			// that the check measures rounding error, not the extremes of
			// a random draw.
			s := float64(qm.Output(0).Quant.Scale[0])
			zp := float64(qm.Output(0).Quant.ZeroPoint[0])
			qlo, qhi := s*(-128-zp), s*(127-zp)
			worst, span := 0.0, 0.0
			for _, sample := range randomSamples(r, fm, 8, c.lo, c.hi) {
				want := f32s(runInterp(t, fm, sample)[0])
				var qin [][]byte
				for k, in := range sample {
					qin = append(qin, quantizeInput(qm.Input(k), f32s(in)))
				}
				got := dequantize(qm.Output(0), runInterp(t, qm, qin)[0])
				lo, hi := math.Inf(1), math.Inf(-1)
				for j, w := range want {
					worst = max(worst, math.Abs(got[j]-min(max(float64(w), qlo), qhi)))
					lo, hi = min(lo, float64(w)), max(hi, float64(w))
				}
				span = max(span, hi-lo)
			}
			if worst > c.maxErr*max(span, 1e-3) {
				t.Errorf("max |dequantized − float| = %.4g, want ≤ %.4g (%.0f%% of the output range %.4g)", worst, c.maxErr*span, 100*c.maxErr, span)
			}
		})
	}
}

// checkInt8Graph checks that every activation of an int8-IO quantized model
// is int8 with one scale, and every weight is int8 or int32.
func checkInt8Graph(t *testing.T, m *model.Model) {
	t.Helper()
	sg := &m.Subgraphs[0]
	for i, tn := range sg.Tensors {
		isConst := tn.Buffer > 0
		switch {
		case tn.Type == model.Float32:
			t.Errorf("tensor %d (%s) is still float32", i, tn.Name)
		case !isConst && (tn.Type != model.Int8 || tn.Quant == nil || len(tn.Quant.Scale) != 1):
			t.Errorf("activation %d (%s) is %s with %+v, want int8 per-tensor", i, tn.Name, tn.Type, tn.Quant)
		}
	}
}
