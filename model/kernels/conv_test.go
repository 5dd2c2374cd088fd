package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// convTestType is an activation type under test with, for 8-bit types,
// the requantization rounding.
type convTestType struct {
	typ      model.TensorType
	rounding convRounding
}

func (tr convTestType) String() string {
	switch tr.typ {
	case model.Int8, model.Uint8:
		if tr.rounding == convRoundReference {
			return tr.typ.String() + "_reference"
		}
		return tr.typ.String() + "_runtime"
	}
	return tr.typ.String()
}

// convTestTypes lists every supported type; float32 comes first.
var convTestTypes = []convTestType{
	{model.Float32, convRoundRuntime},
	{model.Int8, convRoundRuntime},
	{model.Int8, convRoundReference},
	{model.Uint8, convRoundRuntime},
	{model.Uint8, convRoundReference},
	{model.Int16, convRoundReference},
}

// convTestRounding is the rounding a kernel configured with r uses for in.
func convTestRounding(in *Tensor, r convRounding) convRounding {
	if in.Type == model.Int16 {
		return convRoundReference
	}
	return r
}

// convShape is one convolution configuration of the randomized tests.
type convShape struct {
	batches, h, w, inC, outC int
	kh, kw                   int
	strideH, strideW         int
	dilH, dilW               int
	padding                  model.Padding
	act                      model.Activation
	noBias                   bool
	perTensor                bool
}

func (s convShape) String() string {
	pad := "same"
	if s.padding == model.PaddingValid {
		pad = "valid"
	}
	return fmt.Sprintf("b%d_%dx%dx%d_to%d_k%dx%d_s%dx%d_d%dx%d_%s_%s_bias%v_pt%v",
		s.batches, s.h, s.w, s.inC, s.outC, s.kh, s.kw, s.strideH, s.strideW, s.dilH, s.dilW, pad, s.act, !s.noBias, s.perTensor)
}

// convShapes lists hand-picked shapes (sizes off every block width,
// padding, stride 2, dilation 2, 1×1 fast paths, a single output pixel)
// followed by random ones.
func convShapes(rng *rand.Rand, random int) []convShape {
	shapes := []convShape{
		{1, 5, 7, 3, 5, 3, 3, 1, 1, 1, 1, model.PaddingSame, model.ActNone, false, false},
		{1, 8, 8, 8, 16, 1, 1, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, false},
		{2, 9, 6, 13, 7, 1, 1, 2, 2, 1, 1, model.PaddingValid, model.ActRelu, false, false},
		{1, 11, 10, 4, 9, 3, 3, 2, 2, 1, 1, model.PaddingSame, model.ActReluN1To1, true, false},
		{1, 12, 9, 5, 11, 3, 2, 1, 2, 2, 2, model.PaddingSame, model.ActNone, false, true},
		{1, 1, 1, 37, 40, 1, 1, 1, 1, 1, 1, model.PaddingValid, model.ActNone, false, false},
		{1, 3, 3, 70, 3, 3, 3, 1, 1, 1, 1, model.PaddingValid, model.ActRelu, false, true},
		{1, 4, 4, 33, 100, 1, 1, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, false},
		{3, 7, 5, 2, 1, 5, 4, 3, 1, 1, 2, model.PaddingSame, model.ActNone, true, false},
	}
	for i := 0; i < random; i++ {
		s := convShape{
			batches: 1 + rng.IntN(2),
			h:       1 + rng.IntN(12), w: 1 + rng.IntN(12),
			inC: 1 + rng.IntN(20), outC: 1 + rng.IntN(20),
			kh: 1 + rng.IntN(4), kw: 1 + rng.IntN(4),
			strideH: 1 + rng.IntN(2), strideW: 1 + rng.IntN(2),
			dilH: 1 + rng.IntN(2), dilW: 1 + rng.IntN(2),
			padding:   model.Padding(rng.IntN(2)),
			act:       []model.Activation{model.ActNone, model.ActRelu, model.ActRelu6, model.ActReluN1To1}[rng.IntN(4)],
			noBias:    rng.IntN(4) == 0,
			perTensor: rng.IntN(3) == 0,
		}
		if s.padding == model.PaddingValid {
			s.h = max(s.h, (s.kh-1)*s.dilH+1)
			s.w = max(s.w, (s.kw-1)*s.dilW+1)
		}
		shapes = append(shapes, s)
	}
	return shapes
}

// convBuild makes a CONV_2D node for shape s with element type typ.
func convBuild(rng *rand.Rand, s convShape, typ model.TensorType) *Node {
	k := s.kh * s.kw * s.inC
	n := &Node{Op: model.OpConv2D, Options: &model.Conv2DOptions{
		Padding: s.padding, StrideH: int32(s.strideH), StrideW: int32(s.strideW),
		DilationH: int32(s.dilH), DilationW: int32(s.dilW), Activation: s.act,
	}}
	o := convTestOperands{
		typ: typ, in: []int{s.batches, s.h, s.w, s.inC}, filter: []int{s.outC, s.kh, s.kw, s.inC},
		filterName: "filter", channels: s.outC, k: k, noBias: s.noBias,
	}
	if typ != model.Float32 {
		q := newConvQuantSetup(rng, typ, !s.perTensor, s.outC, 0, k)
		o.q = &q
	}
	return o.build(rng, n)
}

// convWantQuant computes the reference output of a quantized conv node.
func convWantQuant(t *testing.T, n *Node, k *conv2D) []int64 {
	t.Helper()
	in, filter, bias, out := n.Inputs[0], n.Inputs[1], n.Input(2), n.Outputs[0]
	mode, filterOff := convTestFilterOffset(in, filter)
	opts := n.Options.(*model.Conv2DOptions)
	quant, err := newConvQuant(in, filter, out, k.geo.outC, 0, mode, convTestRounding(in, k.rounding), opts.Activation)
	if err != nil {
		t.Fatal(err)
	}
	return refConvQuant(&k.geo, convRefQuant(in, filter, bias, out, quant, filterOff))
}

func TestConv2DMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tr := range convTestTypes {
		for _, s := range convShapes(rng, 25) {
			for _, threads := range []int{1, 2} {
				typ := tr.typ
				t.Run(fmt.Sprintf("%v/%v/t%d", tr, s, threads), func(t *testing.T) {
					n := convBuild(rng, s, typ)
					k := &conv2D{rounding: tr.rounding}
					err := convRunKernel(k, n, threads, func() { convFillInputs(rng, n) })
					if err != nil {
						t.Fatalf("conv2D: %v", err)
					}
					wantShape := []int{s.batches, k.geo.outH, k.geo.outW, s.outC}
					if fmt.Sprint(n.Outputs[0].Shape) != fmt.Sprint(wantShape) {
						t.Fatalf("output shape = %v, want %v", n.Outputs[0].Shape, wantShape)
					}
					if typ == model.Float32 {
						want := refConvF32(&k.geo, n.Inputs[0].F32(), n.Inputs[1].F32(), convTestBiasF32(n), s.act)
						if err := convCompareFloats(n.Outputs[0].F32(), want, 1e-5); err != nil {
							t.Errorf("conv2D vs reference: %v", err)
						}
						return
					}
					if err := convCompareInts(n.Outputs[0], convWantQuant(t, n, k)); err != nil {
						t.Errorf("conv2D vs reference: %v", err)
					}
				})
			}
		}
	}
}

func TestConvOutputSize(t *testing.T) {
	tests := []struct {
		p                        model.Padding
		in, filter, stride, dil  int
		out, padBefore, padAfter int
		wantErr                  bool
	}{
		{model.PaddingSame, 128, 3, 2, 1, 64, 0, 1, false},
		{model.PaddingSame, 64, 3, 1, 1, 64, 1, 1, false},
		{model.PaddingSame, 7, 4, 1, 1, 7, 1, 2, false},
		{model.PaddingSame, 5, 3, 1, 2, 5, 2, 2, false},
		{model.PaddingValid, 28, 3, 1, 1, 26, 0, 0, false},
		{model.PaddingValid, 8, 2, 2, 1, 4, 0, 0, false},
		{model.PaddingValid, 9, 3, 2, 2, 3, 0, 0, false},
		{model.PaddingValid, 2, 3, 1, 1, 0, 0, 0, true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%d_in%d_f%d_s%d_d%d", tt.p, tt.in, tt.filter, tt.stride, tt.dil)
		t.Run(name, func(t *testing.T) {
			out, before, after, err := convOutputSize(tt.p, tt.in, tt.filter, tt.stride, tt.dil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("convOutputSize error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (out != tt.out || before != tt.padBefore || after != tt.padAfter) {
				t.Errorf("convOutputSize = %d, %d, %d, want %d, %d, %d", out, before, after, tt.out, tt.padBefore, tt.padAfter)
			}
		})
	}
}

// TestConvRequantApply checks the inlined rescale against the shared
// MultiplyByQuantizedMultiplier on edge and random values.
func TestConvRequantApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	reals := []float64{1e-9, 0.000123, 0.0049, 0.25, 0.5, 0.7071, 0.99999, 1, 1.5, 3.25, 100}
	xs := []int32{0, 1, -1, 2, -2, 1 << 20, -(1 << 20), 1<<31 - 1, -1 << 31, 12345, -12345}
	for i := 0; i < 200; i++ {
		reals = append(reals, rng.Float64()*rng.Float64())
	}
	for _, real := range reals {
		r := newConvRequant(real)
		vals := append([]int32(nil), xs...)
		for i := 0; i < 200; i++ {
			vals = append(vals, int32(rng.Uint32())>>rng.IntN(31))
		}
		for _, x := range vals {
			if real > 1 && (x > 1<<24 || x < -1<<24) {
				continue // the left shift would overflow; TFLite never feeds such sums
			}
			got := r.apply(x)
			want := MultiplyByQuantizedMultiplier(x, r.mult, int(r.shift))
			if got != want {
				t.Fatalf("convRequant(%v).apply(%d) = %d, want %d", real, x, got, want)
			}
		}
	}
}

// TestNewConvQuantLegacyScale checks that the legacy path rounds the scale
// product to float32 first, as TFLite does, and per-channel does not.
func TestNewConvQuantLegacyScale(t *testing.T) {
	inS, fS, outS := float32(0.0078125), float32(0.00888241), float32(0.023528477)
	in := &Tensor{Type: model.Uint8, Quant: convTestQuant([]float32{inS}, []int64{128}, 0)}
	f := &Tensor{Type: model.Uint8, Quant: convTestQuant([]float32{fS}, []int64{157}, 0)}
	out := &Tensor{Type: model.Uint8, Quant: convTestQuant([]float32{outS}, []int64{0}, 0)}
	tests := []struct {
		mode convScaleMode
		real float64
	}{
		{convScaleLegacy, float64(float32(inS*fS)) / float64(outS)},
		{convScalePerChannel, float64(inS) * float64(fS) / float64(outS)},
	}
	for _, tt := range tests {
		q, err := newConvQuant(in, f, out, 2, 0, tt.mode, convRoundReference, model.ActRelu6)
		if err != nil {
			t.Fatal(err)
		}
		wantQ, wantShift := QuantizeMultiplier(tt.real)
		for c, r := range q.fixed {
			if r.mult != wantQ || int(r.shift) != wantShift {
				t.Errorf("mode %d channel %d: multiplier %d shift %d, want %d %d", tt.mode, c, r.mult, r.shift, wantQ, wantShift)
			}
		}
		if q.lo != 0 || q.hi != 255 {
			t.Errorf("relu6 range = [%d, %d], want [0, 255]", q.lo, q.hi)
		}
	}
}

// TestConv2DHandWorked checks small convolutions worked out by hand.
func TestConv2DHandWorked(t *testing.T) {
	// Input 1×3×3×1 = 1..9, filter 2×2 of ones and a second channel of
	// [1 0; 0 -1], bias {0.5, 0}; VALID stride 1.
	newNode := func(act model.Activation) *Node {
		in := convTestTensor("in", model.Float32, []int{1, 3, 3, 1}, nil, false)
		copy(in.F32(), []float32{1, 2, 3, 4, 5, 6, 7, 8, 9})
		filter := convTestTensor("filter", model.Float32, []int{2, 2, 2, 1}, nil, true)
		copy(filter.F32(), []float32{1, 1, 1, 1, 1, 0, 0, -1})
		bias := convTestTensor("bias", model.Float32, []int{2}, nil, true)
		copy(bias.F32(), []float32{0.5, 0})
		return &Node{
			Op:      model.OpConv2D,
			Options: &model.Conv2DOptions{Padding: model.PaddingValid, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1, Activation: act},
			Inputs:  []*Tensor{in, filter, bias},
			Outputs: []*Tensor{convTestTensor("out", model.Float32, nil, nil, false)},
		}
	}
	tests := []struct {
		act  model.Activation
		want []float32
	}{
		// Windows: [1 2;4 5]=12, [2 3;5 6]=16, [4 5;7 8]=24, [5 6;8 9]=28;
		// diagonal differences are all -4.
		{model.ActNone, []float32{12.5, -4, 16.5, -4, 24.5, -4, 28.5, -4}},
		{model.ActRelu, []float32{12.5, 0, 16.5, 0, 24.5, 0, 28.5, 0}},
		{model.ActRelu6, []float32{6, 0, 6, 0, 6, 0, 6, 0}},
		{model.ActReluN1To1, []float32{1, -1, 1, -1, 1, -1, 1, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.act.String(), func(t *testing.T) {
			n := newNode(tt.act)
			if err := convRunKernel(newConv2D(), n, 1, nil); err != nil {
				t.Fatal(err)
			}
			if err := convCompareFloats(n.Outputs[0].F32(), tt.want, 0); err != nil {
				t.Errorf("conv2D(%s): %v", tt.act, err)
			}
		})
	}
}

// TestConv2DInt8HandWorked checks one int8 output worked out by hand:
// input zero point -1, filter scale 0.5, input scale 1, output scale 2.
func TestConv2DInt8HandWorked(t *testing.T) {
	in := convTestTensor("in", model.Int8, []int{1, 1, 2, 2}, convTestQuant([]float32{1}, []int64{-1}, 0), false)
	copy(in.I8(), []int8{3, -1, 5, 7}) // real values 4, 0, 6, 8
	filter := convTestTensor("filter", model.Int8, []int{2, 1, 2, 2}, convTestQuant([]float32{0.5, 0.25}, []int64{0, 0}, 0), true)
	copy(filter.I8(), []int8{2, 4, -2, 1, 4, 0, 0, 4})
	bias := convTestTensor("bias", model.Int32, []int{2}, convTestQuant([]float32{0.5, 0.25}, []int64{0, 0}, 0), true)
	copy(bias.I32(), []int32{3, -8})
	out := convTestTensor("out", model.Int8, nil, convTestQuant([]float32{2}, []int64{5}, 0), false)
	n := &Node{
		Op:      model.OpConv2D,
		Options: &model.Conv2DOptions{Padding: model.PaddingValid, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1},
		Inputs:  []*Tensor{in, filter, bias},
		Outputs: []*Tensor{out},
	}
	if err := convRunKernel(newConv2D(), n, 1, nil); err != nil {
		t.Fatal(err)
	}
	// Channel 0: 4·2 + 0·4 + 6·(-2) + 8·1 + 3 = 7, ×0.5/2 = 1.75 → 2, +5 = 7.
	// Channel 1: 4·4 + 0 + 0 + 8·4 - 8 = 40, ×0.25/2 = 5, +5 = 10.
	want := []int8{7, 10}
	if got := out.I8(); got[0] != want[0] || got[1] != want[1] {
		t.Errorf("conv2D int8 = %v, want %v", got, want)
	}
}

// TestConv2DQuantizedNearFloat checks quantized convolutions against the
// float convolution of the dequantized operands, requantized: within one
// step of the output scale.
func TestConv2DQuantizedNearFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tr := range convTestTypes[1:] {
		for _, s := range convShapes(rng, 5) {
			typ := tr.typ
			t.Run(fmt.Sprintf("%v/%v", tr, s), func(t *testing.T) {
				n := convBuild(rng, s, typ)
				k := &conv2D{rounding: tr.rounding}
				if err := convRunKernel(k, n, 1, func() { convFillInputs(rng, n) }); err != nil {
					t.Fatal(err)
				}
				fin, ffilter, fbias := convDequantizeOperands(n, 0)
				want := refConvF32(&k.geo, fin, ffilter, fbias, model.ActNone)
				if err := convWithinOneStep(n.Outputs[0], want, s.act); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestConv2DPrepareErrors checks that invalid nodes are rejected with a
// reason, and unsupported combinations wrap ErrUnsupported.
func TestConv2DPrepareErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	base := convShape{1, 4, 4, 3, 2, 3, 3, 1, 1, 1, 1, model.PaddingSame, model.ActNone, false, false}
	tests := []struct {
		name        string
		edit        func(n *Node)
		unsupported bool
	}{
		{"no options", func(n *Node) { n.Options = nil }, false},
		{"one input", func(n *Node) { n.Inputs = n.Inputs[:1] }, false},
		{"rank 3 input", func(n *Node) { n.Inputs[0].Shape = []int{4, 4, 3} }, false},
		{"rank 3 filter", func(n *Node) { n.Inputs[1].Shape = []int{2, 3, 9} }, false},
		{"grouped", func(n *Node) { n.Inputs[0].Shape = []int{1, 4, 4, 6} }, true},
		{"non-constant filter", func(n *Node) { n.Inputs[1].Const = false }, true},
		{"tanh", func(n *Node) { n.Options.(*model.Conv2DOptions).Activation = model.ActTanh }, true},
		{"zero stride", func(n *Node) { n.Options.(*model.Conv2DOptions).StrideW = 0 }, false},
		{"valid too small", func(n *Node) {
			n.Options.(*model.Conv2DOptions).Padding = model.PaddingValid
			n.Inputs[0].Shape = []int{1, 2, 2, 3}
		}, false},
		{"bias length", func(n *Node) { n.Inputs[2].Shape = []int{3} }, false},
		{"bias type", func(n *Node) { n.Inputs[2].Type = model.Int64 }, false},
		{"filter type", func(n *Node) { n.Inputs[1].Type = model.Uint8 }, true},
		{"output type", func(n *Node) { n.Outputs[0].Type = model.Int16 }, true},
		{"filter scales", func(n *Node) { n.Inputs[1].Quant.Scale = []float32{1, 2, 3} }, false},
		{"filter dimension", func(n *Node) {
			n.Inputs[1].Quant.Scale = []float32{0.1, 0.2}
			n.Inputs[1].Quant.QuantizedDimension = 3
		}, false},
		{"no output scale", func(n *Node) { n.Outputs[0].Quant = nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := convBuild(rng, base, model.Int8)
			tt.edit(n)
			checkPrepareError(t, newConv2D(), n, tt.name, tt.unsupported)
		})
	}
}

func TestConv2DEvalDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	s := convShape{1, 9, 9, 8, 12, 3, 3, 2, 2, 1, 1, model.PaddingSame, model.ActRelu6, false, false}
	for _, tr := range convTestTypes {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%v/t%d", tr, threads), func(t *testing.T) {
				convCheckEvalNoAllocs(t, &conv2D{rounding: tr.rounding}, convBuild(rng, s, tr.typ), threads)
			})
		}
	}
}
