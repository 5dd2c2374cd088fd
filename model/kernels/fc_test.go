package kernels

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

type fcShape struct {
	inShape    []int
	n          int
	act        model.Activation
	keepDims   bool
	noBias     bool
	perChannel bool
}

func (s fcShape) String() string {
	return fmt.Sprintf("in%v_n%d_%s_keep%v_bias%v_pc%v", s.inShape, s.n, s.act, s.keepDims, !s.noBias, s.perChannel)
}

func fcShapes(rng *rand.Rand, random int) []fcShape {
	shapes := []fcShape{
		{[]int{1, 1}, 16, model.ActRelu, false, false, false},
		{[]int{1, 25, 20, 8}, 4, model.ActNone, false, false, false},
		{[]int{3, 10, 12}, 7, model.ActNone, true, true, true},
		{[]int{5, 33}, 100, model.ActRelu6, false, false, true},
		{[]int{2, 2, 40}, 1, model.ActReluN1To1, true, false, false},
		{[]int{9, 70}, 5, model.ActNone, false, true, false},
	}
	for i := 0; i < random; i++ {
		m, k := 1+rng.IntN(11), 1+rng.IntN(90)
		s := fcShape{
			inShape:    []int{m, k},
			n:          1 + rng.IntN(30),
			act:        []model.Activation{model.ActNone, model.ActRelu, model.ActRelu6, model.ActReluN1To1}[rng.IntN(4)],
			keepDims:   rng.IntN(2) == 0,
			noBias:     rng.IntN(4) == 0,
			perChannel: rng.IntN(2) == 0,
		}
		if rng.IntN(3) == 0 && m%2 == 0 {
			s.inShape = []int{2, m / 2, k}
		}
		shapes = append(shapes, s)
	}
	return shapes
}

func fcBuild(rng *rand.Rand, s fcShape, typ model.TensorType) *Node {
	k := s.inShape[len(s.inShape)-1]
	n := &Node{Op: model.OpFullyConnected, Options: &model.FullyConnectedOptions{Activation: s.act, KeepNumDims: s.keepDims}}
	var in, w, bias, out *Tensor
	if typ == model.Float32 {
		in = convTestTensor("in", typ, s.inShape, nil, false)
		w = convTestTensor("weights", typ, []int{s.n, k}, nil, true)
		bias = convTestTensor("bias", typ, []int{s.n}, nil, true)
		out = convTestTensor("out", typ, nil, nil, false)
	} else {
		q := newConvQuantSetup(rng, typ, s.perChannel, s.n, 0, k)
		if typ == model.Int8 && !s.perChannel {
			// Per-tensor int8 weights may carry a zero point, which
			// fully connected subtracts.
			q.filter.ZeroPoint[0] = int64(rng.IntN(9) - 4)
		}
		in = convTestTensor("in", typ, s.inShape, q.in, false)
		w = convTestTensor("weights", q.filterType, []int{s.n, k}, q.filter, true)
		bias = convTestTensor("bias", q.biasType, []int{s.n}, q.bias, true)
		out = convTestTensor("out", typ, nil, q.out, false)
	}
	convFillRandom(rng, w)
	convRandomBias(rng, bias, k)
	if s.noBias {
		bias = nil
	} else if rng.IntN(5) == 0 {
		bias.Const = false // read at every Eval
	}
	n.Inputs = []*Tensor{in, w, bias}
	n.Outputs = []*Tensor{out}
	return n
}

func TestFullyConnectedMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, tr := range convTestTypes {
		for _, s := range fcShapes(rng, 25) {
			for _, threads := range []int{1, 2} {
				typ := tr.typ
				t.Run(fmt.Sprintf("%v/%v/t%d", tr, s, threads), func(t *testing.T) {
					n := fcBuild(rng, s, typ)
					f := &fullyConnected{rounding: tr.rounding}
					if err := convRunKernel(f, n, threads, func() { convFillInputs(rng, n) }); err != nil {
						t.Fatalf("fullyConnected: %v", err)
					}
					in, w, bias, out := n.Inputs[0], n.Inputs[1], n.Input(2), n.Outputs[0]
					wantShape := []int{f.m, s.n}
					if s.keepDims {
						wantShape = append(append([]int(nil), s.inShape[:len(s.inShape)-1]...), s.n)
					}
					if fmt.Sprint(out.Shape) != fmt.Sprint(wantShape) {
						t.Fatalf("output shape = %v, want %v", out.Shape, wantShape)
					}
					if typ == model.Float32 {
						var b []float32
						if bias != nil {
							b = bias.F32()
						}
						want := refFullyConnectedF32(f.m, f.n, f.k, in.F32(), w.F32(), b, s.act)
						if err := convCompareFloats(out.F32(), want, 1e-5); err != nil {
							t.Errorf("fullyConnected vs reference: %v", err)
						}
						return
					}
					mode, filterOff := convScaleLegacy, -int64(w.ZeroPoint())
					if len(w.Quant.Scale) > 1 {
						mode, filterOff = convScalePerChannel, 0
					}
					if typ == model.Int16 {
						filterOff = 0
					}
					quant, err := newConvQuant(in, w, out, f.n, 0, mode, convTestRounding(in, f.rounding), s.act)
					if err != nil {
						t.Fatal(err)
					}
					want := refFullyConnectedQuant(f.m, f.n, f.k, convRefQuant(in, w, bias, out, quant, filterOff))
					if err := convCompareInts(out, want); err != nil {
						t.Errorf("fullyConnected vs reference: %v", err)
					}
				})
			}
		}
	}
}

func TestFullyConnectedQuantizedNearFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, tr := range convTestTypes[1:] {
		for _, s := range fcShapes(rng, 5) {
			typ := tr.typ
			t.Run(fmt.Sprintf("%v/%v", tr, s), func(t *testing.T) {
				n := fcBuild(rng, s, typ)
				f := &fullyConnected{rounding: tr.rounding}
				if err := convRunKernel(f, n, 1, func() { convFillInputs(rng, n) }); err != nil {
					t.Fatal(err)
				}
				in, w, bias, out := n.Inputs[0], n.Inputs[1], n.Input(2), n.Outputs[0]
				var fbias []float32
				if bias != nil {
					fbias = convDequantizeBias(bias, in, w)
				}
				want := refFullyConnectedF32(f.m, f.n, f.k, convDequantize(in, -1), convDequantize(w, 0), fbias, model.ActNone)
				if err := convWithinOneStep(out, want, s.act); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestFullyConnectedHandWorked checks int8 outputs worked out by hand with
// a weight zero point: input scale 0.5 zero point 1, weights scale 1 zero
// point 1, output scale 1 zero point -3, no bias.
func TestFullyConnectedHandWorked(t *testing.T) {
	in := convTestTensor("in", model.Int8, []int{2, 3}, convTestQuant([]float32{0.5}, []int64{1}, 0), false)
	copy(in.I8(), []int8{3, 1, -1, 5, 9, 1}) // real 1 0 -1 / 2 4 0
	w := convTestTensor("weights", model.Int8, []int{2, 3}, convTestQuant([]float32{1}, []int64{1}, 0), true)
	copy(w.I8(), []int8{2, 7, 0, -1, 1, 4}) // real 1 6 -1 / -2 0 3
	out := convTestTensor("out", model.Int8, nil, convTestQuant([]float32{1}, []int64{-3}, 0), false)
	n := &Node{
		Op:      model.OpFullyConnected,
		Options: &model.FullyConnectedOptions{Activation: model.ActRelu},
		Inputs:  []*Tensor{in, w, nil},
		Outputs: []*Tensor{out},
	}
	if err := convRunKernel(newFullyConnected(), n, 1, nil); err != nil {
		t.Fatal(err)
	}
	// Row 0: 1·1 + 0·6 + (-1)(-1) = 2; 1·(-2) + 0 + (-1)·3 = -5 → relu 0.
	// Row 1: 2 + 24 + 0 = 26; -4 + 0 + 0 = -4 → relu 0. Then +(-3).
	want := []int8{-1, -3, 23, -3}
	if got := out.I8(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fullyConnected int8 = %v, want %v", got, want)
	}
}

func TestFullyConnectedPrepareErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	base := fcShape{[]int{2, 6}, 3, model.ActNone, false, false, false}
	tests := []struct {
		name        string
		edit        func(n *Node)
		unsupported bool
	}{
		{"one input", func(n *Node) { n.Inputs = n.Inputs[:1] }, false},
		{"rank 3 weights", func(n *Node) { n.Inputs[1].Shape = []int{3, 2, 3} }, false},
		{"rows", func(n *Node) { n.Inputs[0].Shape = []int{1, 7} }, false},
		{"keep dims", func(n *Node) {
			n.Options.(*model.FullyConnectedOptions).KeepNumDims = true
			n.Inputs[0].Shape = []int{6, 2}
		}, false},
		{"shuffled weights", func(n *Node) { n.Options.(*model.FullyConnectedOptions).WeightsFormat = 1 }, true},
		{"non-constant weights", func(n *Node) { n.Inputs[1].Const = false }, true},
		{"hybrid", func(n *Node) { n.Inputs[0].Type = model.Float32; n.Outputs[0].Type = model.Float32 }, true},
		{"bias length", func(n *Node) { n.Inputs[2].Shape = []int{4} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := fcBuild(rng, base, model.Int8)
			tt.edit(n)
			err := newFullyConnected().Prepare(NewContext(1), n)
			if err == nil {
				t.Fatalf("Prepare(%s) = nil, want error", tt.name)
			}
			if errors.Is(err, ErrUnsupported) != tt.unsupported {
				t.Errorf("Prepare(%s) = %v, want unsupported %v", tt.name, err, tt.unsupported)
			}
		})
	}
}

func TestFullyConnectedEvalDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, s := range []fcShape{{[]int{1, 50}, 13, model.ActRelu, false, false, false}, {[]int{7, 50}, 13, model.ActNone, false, false, false}} {
		for _, tr := range convTestTypes {
			for _, threads := range []int{1, 2} {
				t.Run(fmt.Sprintf("%v/%v/t%d", tr, s, threads), func(t *testing.T) {
					n := fcBuild(rng, s, tr.typ)
					ctx := NewContext(threads)
					defer ctx.Close()
					k := &fullyConnected{rounding: tr.rounding}
					if err := k.Prepare(ctx, n); err != nil {
						t.Fatal(err)
					}
					n.Outputs[0].Data = AlignedBytes(n.Outputs[0].Bytes())
					allocs := testing.AllocsPerRun(20, func() {
						if err := k.Eval(ctx, n); err != nil {
							t.Fatal(err)
						}
					})
					if allocs != 0 {
						t.Errorf("Eval allocates %v times per run, want 0", allocs)
					}
				})
			}
		}
	}
}
