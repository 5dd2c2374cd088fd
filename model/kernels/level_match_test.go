package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// levelRun prepares a fresh kernel on n at level with the rounding option
// and threads, evaluates it on n's current inputs and returns a copy of the
// output bytes.
func levelRun(t *testing.T, newKernel Factory, n *Node, level Level, reference bool, threads int) []byte {
	t.Helper()
	ctx := NewContext(threads)
	defer ctx.Close()
	ctx.Level, ctx.ReferenceRounding, ctx.splitSmall = level, reference, true
	k := newKernel()
	if err := k.Prepare(ctx, n); err != nil {
		t.Fatalf("prepare at %v: %v", level, err)
	}
	out := n.Outputs[0]
	out.Data = AlignedBytes(out.Bytes())
	if err := k.Eval(ctx, n); err != nil {
		t.Fatalf("eval at %v: %v", level, err)
	}
	return bytes.Clone(out.Data)
}

// levelCase is one node of the level-matching tests.
type levelCase struct {
	name      string
	newKernel Factory
	build     func(rng *rand.Rand, typ model.TensorType) *Node
}

// levelCases lists random convolution, fully connected and depthwise
// shapes, plus sizes that exercise the SIMD blocking: many channels (whole
// and partial blocks of four), depths off every multiple of eight and
// sixteen, and more rows than one block of tiles.
func levelCases(rng *rand.Rand) []levelCase {
	var cases []levelCase
	convs := convShapes(rng, 30)
	convs = append(convs,
		convShape{1, 15, 13, 21, 37, 1, 1, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, false},
		convShape{1, 40, 40, 24, 144, 1, 1, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, true},
		convShape{1, 20, 19, 3, 32, 3, 3, 2, 2, 1, 1, model.PaddingSame, model.ActRelu6, false, false},
		convShape{2, 7, 7, 161, 9, 1, 1, 1, 1, 1, 1, model.PaddingValid, model.ActNone, true, false},
	)
	for _, s := range convs {
		cases = append(cases, levelCase{"conv/" + s.String(), newConv2D, func(rng *rand.Rand, typ model.TensorType) *Node { return convBuild(rng, s, typ) }})
	}
	fcs := append(fcShapes(rng, 20), fcShape{[]int{1, 1280}, 1001, model.ActNone, false, false, false},
		fcShape{[]int{7, 129}, 65, model.ActRelu, false, false, true})
	for _, s := range fcs {
		cases = append(cases, levelCase{"fc/" + s.String(), newFullyConnected, func(rng *rand.Rand, typ model.TensorType) *Node { return fcBuild(rng, s, typ) }})
	}
	dws := append(dwShapes(rng, 20),
		dwShape{convShape{1, 17, 15, 40, 40, 3, 3, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, false}, 1},
		dwShape{convShape{1, 18, 17, 27, 27, 3, 3, 2, 2, 1, 1, model.PaddingSame, model.ActRelu6, false, false}, 1},
		dwShape{convShape{2, 9, 8, 9, 9, 3, 3, 2, 2, 1, 1, model.PaddingValid, model.ActNone, true, false}, 1},
		// Seven and three output rows: cut into channel slices (three
		// blocks of 32 and a tail; two blocks and a tail).
		dwShape{convShape{1, 7, 7, 100, 100, 3, 3, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, false}, 1},
		dwShape{convShape{1, 6, 5, 70, 70, 3, 3, 2, 2, 1, 1, model.PaddingSame, model.ActNone, false, false}, 1},
	)
	for _, s := range dws {
		cases = append(cases, levelCase{"dw/" + s.String(), newDepthwiseConv, func(rng *rand.Rand, typ model.TensorType) *Node { return dwBuild(rng, s, typ) }})
	}
	return cases
}

// TestLevelsMatchGeneric checks that every kernel level this machine runs
// writes exactly the generic kernels' bytes, for 8-bit data with both
// rounding options and for float32 (the SIMD float kernels keep the
// generic summation order), on one and two threads.
func TestLevelsMatchGeneric(t *testing.T) {
	levels := Levels()[1:]
	t.Logf("levels above generic here: %v", levels)
	if len(levels) == 0 {
		t.Log("only the generic level runs here")
		return
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, c := range levelCases(rng) {
		for _, typ := range []model.TensorType{model.Uint8, model.Int8, model.Float32} {
			n := c.build(rng, typ)
			convFillInputs(rng, n)
			for _, reference := range []bool{false, true} {
				if reference && typ == model.Float32 {
					continue // no rounding option for floats
				}
				for _, threads := range []int{1, 2} {
					want := levelRun(t, c.newKernel, n, LevelGeneric, reference, threads)
					for _, level := range levels {
						name := fmt.Sprintf("%s/%s/ref=%v/t%d/%v", c.name, typ, reference, threads, level)
						got := levelRun(t, c.newKernel, n, level, reference, threads)
						if i := firstDiff(got, want); i >= 0 {
							t.Errorf("%s: byte %d = %d, generic wrote %d", name, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// firstDiff is the index of the first differing byte, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestFloatElementwiseLevelsMatchGeneric checks the SIMD float binary and
// unary ops and softmax's exponentials against the generic loops, to the
// bit: same shapes, either
// operand broadcast, lengths around the eight-lane steps, a fused
// activation, and values that decide ties and NaNs (±0, ±Inf, NaN, equal
// operands, the clamps' bounds).
func TestFloatElementwiseLevelsMatchGeneric(t *testing.T) {
	levels := Levels()[1:]
	if len(levels) == 0 {
		t.Log("only the generic level runs here")
		return
	}
	rng := rand.New(rand.NewPCG(21, 22))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1, -1, 5.5, 7, 6, -3, 3,
		88.7, 89, -87.5, -100, -104.5, 0.6249, 0.625, -0.63, 1e-30} // exp32 and tanh32 edges
	fill := func(t *Tensor) {
		v := t.F32()
		for i := range v {
			if rng.IntN(4) == 0 {
				v[i] = special[rng.IntN(len(special))]
			} else {
				v[i] = float32(rng.NormFloat64() * 4)
			}
		}
	}
	for _, op := range []model.BuiltinOp{model.OpAdd, model.OpSub, model.OpMul, model.OpDiv, model.OpMaximum, model.OpMinimum, model.OpSquaredDifference, model.OpPrelu} {
		var opts any
		switch op {
		case model.OpAdd:
			opts = &model.AddOptions{Activation: model.ActRelu6}
		case model.OpMul:
			opts = &model.MulOptions{Activation: model.ActRelu}
		}
		for _, n := range []int{1, 7, 8, 9, 31, 100} {
			for _, shapes := range [][2][]int{{{2, n}, {2, n}}, {{2, n}, {1, 1}}, {{1, 1}, {2, n}}, {{3, 1, n}, {1, 2, n}}, {{3, 2, n}, {1, 1, n}}} {
				if op == model.OpPrelu && (shapes[0][0] == 1 || shapes[0][1] == 1) {
					continue // alpha may not widen PRELU's input
				}
				a, b := ewNew(model.Float32, shapes[0], nil), ewNew(model.Float32, shapes[1], nil)
				fill(a)
				fill(b)
				node := &Node{Op: op, Version: 1, Options: opts, Inputs: []*Tensor{a, b}, Outputs: []*Tensor{ewOut(model.Float32, nil)}}
				want := levelRun(t, newBinary(op), node, LevelGeneric, false, 1)
				for _, level := range levels {
					got := levelRun(t, newBinary(op), node, level, false, 1)
					if i := firstDiff(got, want); i >= 0 {
						t.Errorf("%s %v: byte %d = %d at %s, generic wrote %d", op, shapes, i, got[i], level, want[i])
					}
				}
			}
		}
	}
	for _, op := range []model.BuiltinOp{model.OpRelu, model.OpRelu6, model.OpReluN1To1, model.OpLeakyRelu,
		model.OpAbs, model.OpNeg, model.OpHardSwish, model.OpSqrt, model.OpRsqrt,
		model.OpExp, model.OpLogistic, model.OpTanh} {
		var opts any
		if op == model.OpLeakyRelu {
			opts = &model.LeakyReluOptions{Alpha: 0.2}
		}
		for _, n := range []int{1, 7, 8, 9, 31, 100} {
			a := ewNew(model.Float32, []int{2, n}, nil)
			fill(a)
			node := &Node{Op: op, Version: 1, Options: opts, Inputs: []*Tensor{a}, Outputs: []*Tensor{ewOut(model.Float32, nil)}}
			want := levelRun(t, newUnary(op), node, LevelGeneric, false, 1)
			for _, level := range levels {
				got := levelRun(t, newUnary(op), node, level, false, 1)
				if i := firstDiff(got, want); i >= 0 {
					t.Errorf("%s [2 %d]: byte %d = %d at %s, generic wrote %d", op, n, i, got[i], level, want[i])
				}
			}
		}
	}
	for _, beta := range []float32{1, 0.37} {
		for _, n := range []int{1, 7, 8, 9, 31, 100, 335} {
			a := ewNew(model.Float32, []int{3, n}, nil)
			fill(a)
			node := &Node{Op: model.OpSoftmax, Version: 1, Options: &model.SoftmaxOptions{Beta: beta}, Inputs: []*Tensor{a}, Outputs: []*Tensor{ewOut(model.Float32, nil)}}
			want := levelRun(t, newSoftmax, node, LevelGeneric, false, 1)
			for _, level := range levels {
				got := levelRun(t, newSoftmax, node, level, false, 1)
				if i := firstDiff(got, want); i >= 0 {
					t.Errorf("SOFTMAX beta %g [3 %d]: byte %d = %d at %s, generic wrote %d", beta, n, i, got[i], level, want[i])
				}
			}
		}
	}
}

// TestBatchMatMulLevelsMatchGeneric checks float BATCH_MATMUL on the SIMD
// matrix product against the generic loops, to the bit: column counts
// around the 16-wide blocks, row counts around the four-row panels,
// transposed, constant and broadcast operands, one and two threads.
func TestBatchMatMulLevelsMatchGeneric(t *testing.T) {
	levels := Levels()[1:]
	if len(levels) == 0 {
		t.Log("only the generic level runs here")
		return
	}
	rng := rand.New(rand.NewPCG(31, 32))
	cases := []struct {
		bx, by     []int
		m, k, n    int
		adjX, adjY bool
		constY     bool
	}{
		{nil, nil, 1, 1, 1, false, false, false},
		{nil, nil, 4, 7, 16, false, false, true},
		{[]int{3}, []int{3}, 9, 20, 17, false, true, false},
		{[]int{2, 1}, []int{3}, 5, 33, 35, true, false, false},
		{[]int{4}, nil, 13, 64, 48, true, true, true},
		{[]int{2}, []int{2}, 335, 20, 40, false, false, false},
		{[]int{2}, []int{2}, 40, 67, 3, false, true, false},
	}
	for _, c := range cases {
		xs := append(append([]int{}, c.bx...), c.m, c.k)
		if c.adjX {
			xs[len(xs)-2], xs[len(xs)-1] = c.k, c.m
		}
		ys := append(append([]int{}, c.by...), c.k, c.n)
		if c.adjY {
			ys[len(ys)-2], ys[len(ys)-1] = c.n, c.k
		}
		x, y := ewNew(model.Float32, xs, nil), ewNew(model.Float32, ys, nil)
		for _, v := range [][]float32{x.F32(), y.F32()} {
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
		}
		y.Const = c.constY
		node := &Node{Op: model.OpBatchMatmul, Version: 1, Options: &model.BatchMatMulOptions{AdjX: c.adjX, AdjY: c.adjY},
			Inputs: []*Tensor{x, y}, Outputs: []*Tensor{ewOut(model.Float32, nil)}}
		for _, threads := range []int{1, 2} {
			want := levelRun(t, func() Kernel { return &batchMatMulKernel{} }, node, LevelGeneric, false, threads)
			for _, level := range levels {
				got := levelRun(t, func() Kernel { return &batchMatMulKernel{} }, node, level, false, threads)
				if i := firstDiff(got, want); i >= 0 {
					t.Errorf("%v·%v adj %t %t t%d: byte %d = %d at %s, generic wrote %d", xs, ys, c.adjX, c.adjY, threads, i, got[i], level, want[i])
				}
			}
		}
	}
}
