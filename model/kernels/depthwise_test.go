package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// dwShape is one depthwise configuration: a convShape whose outC is the
// input channel count, plus the depth multiplier.
type dwShape struct {
	convShape
	mult int
}

func dwShapes(rng *rand.Rand, random int) []dwShape {
	var shapes []dwShape
	for i, s := range convShapes(rng, random) {
		mult := 1
		switch {
		case i%3 == 1:
			mult = 2
		case i%7 == 5:
			mult = 3
		}
		s.outC = s.inC * mult
		shapes = append(shapes, dwShape{s, mult})
	}
	// Mobilenet-like shapes: channel counts that fill the four-wide blocks,
	// and 3×3 stride 2 with its one-sided padding.
	shapes = append(shapes,
		dwShape{convShape{1, 16, 16, 32, 32, 3, 3, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, false}, 1},
		dwShape{convShape{1, 9, 9, 12, 12, 3, 3, 2, 2, 1, 1, model.PaddingSame, model.ActRelu6, false, false}, 1},
		dwShape{convShape{1, 13, 11, 1, 8, 10, 8, 2, 2, 1, 1, model.PaddingSame, model.ActRelu, false, false}, 8},
	)
	return shapes
}

func (s dwShape) String() string { return fmt.Sprintf("%v_m%d", s.convShape, s.mult) }

func dwBuild(rng *rand.Rand, s dwShape, typ model.TensorType) *Node {
	n := &Node{Op: model.OpDepthwiseConv2D, Options: &model.DepthwiseConv2DOptions{
		Padding: s.padding, StrideH: int32(s.strideH), StrideW: int32(s.strideW),
		DilationH: int32(s.dilH), DilationW: int32(s.dilW), Activation: s.act, DepthMultiplier: int32(s.mult),
	}}
	taps := s.kh * s.kw
	o := convTestOperands{
		typ: typ, in: []int{s.batches, s.h, s.w, s.inC}, filter: []int{1, s.kh, s.kw, s.outC},
		filterName: "filter", channels: s.outC, k: taps, noBias: s.noBias,
	}
	if typ != model.Float32 {
		q := newConvQuantSetup(rng, typ, !s.perTensor, s.outC, 3, taps)
		o.q = &q
	}
	return o.build(rng, n)
}

func TestDepthwiseConvMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tr := range convTestTypes {
		for i, s := range dwShapes(rng, 25) {
			for _, threads := range []int{1, 2} {
				typ := tr.typ
				// Alternate 8-bit cases between the float and the integer path.
				intOnly := (i+threads)%2 == 0
				t.Run(fmt.Sprintf("%v/%v/t%d/int%v", tr, s, threads, intOnly), func(t *testing.T) {
					n := dwBuild(rng, s, typ)
					k := &depthwiseConv{rounding: tr.rounding, intOnly: intOnly}
					if err := convRunKernel(k, n, threads, func() { convFillInputs(rng, n) }); err != nil {
						t.Fatalf("depthwiseConv: %v", err)
					}
					if k.mult != s.mult {
						t.Fatalf("multiplier = %d, want %d", k.mult, s.mult)
					}
					in, filter, bias, out := n.Inputs[0], n.Inputs[1], n.Input(2), n.Outputs[0]
					if typ == model.Float32 {
						want := refDepthwiseF32(&k.geo, s.mult, in.F32(), filter.F32(), convTestBiasF32(n), s.act)
						if err := convCompareFloats(out.F32(), want, 1e-5); err != nil {
							t.Errorf("depthwiseConv vs reference: %v", err)
						}
						return
					}
					mode, filterOff := convTestFilterOffset(in, filter)
					quant, err := newConvQuant(in, filter, out, s.outC, 3, mode, convTestRounding(in, k.rounding), s.act)
					if err != nil {
						t.Fatal(err)
					}
					want := refDepthwiseQuant(&k.geo, s.mult, convRefQuant(in, filter, bias, out, quant, filterOff))
					if err := convCompareInts(out, want); err != nil {
						t.Errorf("depthwiseConv vs reference: %v", err)
					}
				})
			}
		}
	}
}

func TestDepthwiseConvQuantizedNearFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, tr := range convTestTypes[1:] {
		for _, s := range dwShapes(rng, 5) {
			typ := tr.typ
			t.Run(fmt.Sprintf("%v/%v", tr, s), func(t *testing.T) {
				n := dwBuild(rng, s, typ)
				k := &depthwiseConv{rounding: tr.rounding}
				if err := convRunKernel(k, n, 1, func() { convFillInputs(rng, n) }); err != nil {
					t.Fatal(err)
				}
				fin, ffilter, fbias := convDequantizeOperands(n, 3)
				want := refDepthwiseF32(&k.geo, s.mult, fin, ffilter, fbias, model.ActNone)
				if err := convWithinOneStep(n.Outputs[0], want, s.act); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestDepthwiseConvHandWorked checks a uint8 depthwise convolution worked
// out by hand, with a padded border: input zero point 2, filter zero point
// 1, all scales 1 except the output's 0.5.
func TestDepthwiseConvHandWorked(t *testing.T) {
	in := convTestTensor("in", model.Uint8, []int{1, 2, 2, 1}, convTestQuant([]float32{1}, []int64{2}, 0), false)
	copy(in.U8(), []uint8{3, 4, 5, 6}) // real 1 2 3 4
	filter := convTestTensor("filter", model.Uint8, []int{1, 2, 2, 2}, convTestQuant([]float32{1}, []int64{1}, 0), true)
	copy(filter.U8(), []uint8{2, 1, 1, 3, 1, 1, 3, 0}) // real [1 0][0 2] / [0 0][2 -1] per channel pair
	bias := convTestTensor("bias", model.Int32, []int{2}, convTestQuant([]float32{1}, []int64{0}, 0), true)
	copy(bias.I32(), []int32{1, -1})
	out := convTestTensor("out", model.Uint8, nil, convTestQuant([]float32{0.5}, []int64{10}, 0), false)
	n := &Node{
		Op: model.OpDepthwiseConv2D,
		Options: &model.DepthwiseConv2DOptions{Padding: model.PaddingSame, StrideH: 1, StrideW: 1,
			DilationH: 1, DilationW: 1, DepthMultiplier: 2},
		Inputs:  []*Tensor{in, filter, bias},
		Outputs: []*Tensor{out},
	}
	if err := convRunKernel(newDepthwiseConv(), n, 1, nil); err != nil {
		t.Fatal(err)
	}
	// Real filter taps (ky,kx) for channel 0: (0,0)=1 (0,1)=0 (1,0)=0 (1,1)=2;
	// channel 1: 0, 2, 0, -1. SAME with a 2×2 filter pads one column and
	// row at the end. Output (y,x) sums in(y+ky, x+kx)·tap:
	//   ch0: (0,0)=1+2·4=9 (0,1)=2 (1,0)=3 (1,1)=4, plus bias 1;
	//   ch1: (0,0)=2·2-4=0 (0,1)=0 (1,0)=2·4=8 (1,1)=0, minus 1.
	// Output = real/0.5 + 10.
	want := []uint8{30, 8, 16, 8, 18, 24, 20, 8}
	if got := out.U8(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("depthwiseConv uint8 = %v, want %v", got, want)
	}
}

func TestDepthwiseConvPrepareErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	base := dwShape{convShape{1, 4, 4, 3, 6, 3, 3, 1, 1, 1, 1, model.PaddingSame, model.ActNone, false, false}, 2}
	tests := []struct {
		name        string
		edit        func(n *Node)
		unsupported bool
	}{
		{"no options", func(n *Node) { n.Options = nil }, false},
		{"filter batch", func(n *Node) { n.Inputs[1].Shape = []int{2, 3, 3, 3} }, false},
		{"channels", func(n *Node) { n.Inputs[1].Shape = []int{1, 3, 3, 7} }, false},
		{"non-constant filter", func(n *Node) { n.Inputs[1].Const = false }, true},
		{"sign bit", func(n *Node) { n.Options.(*model.DepthwiseConv2DOptions).Activation = model.ActSignBit }, true},
		{"zero dilation", func(n *Node) { n.Options.(*model.DepthwiseConv2DOptions).DilationH = 0 }, false},
		{"filter dimension", func(n *Node) { n.Inputs[1].Quant.QuantizedDimension = 0 }, false},
		{"bias type", func(n *Node) { n.Inputs[2].Type = model.Float32 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := dwBuild(rng, base, model.Int8)
			tt.edit(n)
			checkPrepareError(t, newDepthwiseConv(), n, tt.name, tt.unsupported)
		})
	}
}

func TestDepthwiseConvEvalDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, mult := range []int{1, 2} {
		s := dwShape{convShape{1, 9, 9, 8, 8 * mult, 3, 3, 2, 2, 1, 1, model.PaddingSame, model.ActRelu6, false, false}, mult}
		for _, tr := range convTestTypes {
			for _, threads := range []int{1, 2} {
				t.Run(fmt.Sprintf("%v/m%d/t%d", tr, mult, threads), func(t *testing.T) {
					convCheckEvalNoAllocs(t, &depthwiseConv{rounding: tr.rounding}, dwBuild(rng, s, tr.typ), threads)
				})
			}
		}
	}
}

// TestDepthwiseConvLargeBias checks the float path's channel constants at
// the edge of float32's exact integers: up to 2^24 they are added as
// floats, beyond it the sums go back to int32; both must match the
// reference.
func TestDepthwiseConvLargeBias(t *testing.T) {
	tests := []struct {
		name string
		bias int32
	}{
		{"exact", 1 << 24},
		{"exact negative", -1 << 24},
		{"beyond", 1<<24 + 3},
		{"beyond negative", -1<<24 - 3},
	}
	s := dwShape{convShape{1, 7, 6, 8, 8, 3, 3, 1, 1, 1, 1, model.PaddingSame, model.ActNone, false, false}, 1}
	for _, tt := range tests {
		for _, typ := range []model.TensorType{model.Uint8, model.Int8} {
			t.Run(fmt.Sprintf("%s/%s", tt.name, typ), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(21, 22))
				n := dwBuild(rng, s, typ)
				bias := n.Input(2)
				bias.Const = true
				for c := range bias.I32() {
					// Alternate around the bias so that sums land on
					// both sides of the float32 rounding steps.
					bias.I32()[c] = tt.bias - int32(c%3)*int32(tt.bias>>31|1)
				}
				// Scale the output so that the large sums land in range.
				in, filter, out := n.Inputs[0], n.Inputs[1], n.Outputs[0]
				out.Quant.Scale[0] = float32(float64(in.Scale())*float64(filter.Quant.Scale[0])) * float32(max(tt.bias, -tt.bias)) / 64
				k := &depthwiseConv{rounding: convRoundRuntime}
				if err := convRunKernel(k, n, 1, func() { convFillInputs(rng, n) }); err != nil {
					t.Fatalf("depthwiseConv: %v", err)
				}
				mode, filterOff := convTestFilterOffset(in, filter)
				quant, err := newConvQuant(in, filter, out, s.outC, 3, mode, convRoundRuntime, s.act)
				if err != nil {
					t.Fatal(err)
				}
				want := refDepthwiseQuant(&k.geo, s.mult, convRefQuant(in, filter, bias, out, quant, filterOff))
				if err := convCompareInts(out, want); err != nil {
					t.Errorf("depthwiseConv vs reference: %v", err)
				}
			})
		}
	}
}

func TestDWSlices(t *testing.T) {
	tests := []struct{ rows, c, parts, want int }{
		{7, 960, 2, 2},   // seven rows: two slices make fourteen units
		{14, 576, 2, 1},  // even rows split evenly
		{7, 960, 4, 4},   // four threads on seven rows
		{14, 576, 4, 2},  // four threads on fourteen rows
		{56, 96, 2, 1},   // many rows stay whole
		{7, dwBig, 2, 1}, // one block of channels: nothing to cut
		{7, 960, 1, 1},   // one thread
	}
	for _, tt := range tests {
		if got := dwSlices(tt.rows, tt.c, tt.parts); got != tt.want {
			t.Errorf("dwSlices(%d, %d, %d) = %d, want %d", tt.rows, tt.c, tt.parts, got, tt.want)
		}
	}
	// The slices cover the channels once, cut at whole blocks.
	for _, c := range []int{1, 31, 32, 100, 576, 960} {
		for n := 1; n <= 4; n++ {
			next := 0
			for i := range n {
				lo, hi := dwSlice(c, n, i)
				if lo != next || hi < lo || (hi != c && hi%dwBig != 0) {
					t.Fatalf("dwSlice(%d, %d, %d) = [%d, %d) after %d", c, n, i, lo, hi, next)
				}
				next = hi
			}
			if next != c {
				t.Errorf("dwSlice(%d, %d, ·) covers [0, %d)", c, n, next)
			}
		}
	}
}
