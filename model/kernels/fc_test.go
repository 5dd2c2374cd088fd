package kernels

import (
	"bytes"
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
	o := convTestOperands{
		typ: typ, in: s.inShape, filter: []int{s.n, k},
		filterName: "weights", channels: s.n, k: k, noBias: s.noBias,
	}
	if typ != model.Float32 {
		q := newConvQuantSetup(rng, typ, s.perChannel, s.n, 0, k)
		if typ == model.Int8 && !s.perChannel {
			// Per-tensor int8 weights may carry a zero point, which
			// fully connected subtracts.
			q.filter.ZeroPoint[0] = int64(rng.IntN(9) - 4)
		}
		o.q = &q
	}
	return o.build(rng, n)
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
						want := refFullyConnectedF32(f.m, f.n, f.k, in.F32(), w.F32(), convTestBiasF32(n), s.act)
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
				fin, fw, fbias := convDequantizeOperands(n, 0)
				want := refFullyConnectedF32(f.m, f.n, f.k, fin, fw, fbias, model.ActNone)
				if err := convWithinOneStep(n.Outputs[0], want, s.act); err != nil {
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
			checkPrepareError(t, newFullyConnected(), n, tt.name, tt.unsupported)
		})
	}
}

func TestFullyConnectedEvalDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, s := range []fcShape{{[]int{1, 50}, 13, model.ActRelu, false, false, false}, {[]int{7, 50}, 13, model.ActNone, false, false, false}} {
		for _, tr := range convTestTypes {
			for _, threads := range []int{1, 2} {
				t.Run(fmt.Sprintf("%v/%v/t%d", tr, s, threads), func(t *testing.T) {
					convCheckEvalNoAllocs(t, &fullyConnected{rounding: tr.rounding}, fcBuild(rng, s, tr.typ), threads)
				})
			}
		}
	}
}

// TestQ8ScratchShared prepares two 8-bit fully connected layers of
// different depths on one context, as an interpreter does: they share one
// scratch per thread, sized for the larger, and each still computes what
// it computes on a context of its own.
func TestQ8ScratchShared(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	small := fcBuild(rng, fcShape{inShape: []int{9, 40}, n: 33}, model.Uint8)
	large := fcBuild(rng, fcShape{inShape: []int{9, 700}, n: 70}, model.Int8)
	alone := func(n *Node) []byte { return levelRun(t, newFullyConnected, n, LevelAuto, false, 2) }
	wantSmall, wantLarge := alone(small), alone(large)

	ctx := NewContext(2)
	defer ctx.Close()
	ctx.splitSmall = true
	ks, kl := newFullyConnected(), newFullyConnected()
	for _, p := range []struct {
		k Kernel
		n *Node
	}{{ks, small}, {kl, large}} {
		if err := p.k.Prepare(ctx, p.n); err != nil {
			t.Fatal(err)
		}
		p.n.Outputs[0].Data = AlignedBytes(p.n.Outputs[0].Bytes())
	}
	if len(ctx.q8Scratch) != 2 {
		t.Fatalf("%d scratch sets for two threads", len(ctx.q8Scratch))
	}
	for _, s := range ctx.q8Scratch {
		if need := (700*q8MR + 64 + 63) &^ 63; len(s.panels) < need {
			t.Errorf("panels %d bytes, the larger layer needs %d", len(s.panels), need)
		}
	}
	// Interleaved, as layers of one Invoke: each finds the scratch as the
	// other left it.
	for range 2 {
		for _, p := range []struct {
			k    Kernel
			n    *Node
			want []byte
		}{{ks, small, wantSmall}, {kl, large, wantLarge}} {
			if err := p.k.Eval(ctx, p.n); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.n.Outputs[0].Data, p.want) {
				t.Fatalf("output differs from the layer's on its own context")
			}
		}
	}
}
