package kernels

import (
	"fmt"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// shpPrepared is a kernel with its node prepared and outputs allocated.
type shpPrepared struct {
	name string
	k    Kernel
	n    *Node
}

func shpPrepare(tb testing.TB, ctx *Context, name string, op model.BuiltinOp, opts any, ins []*Tensor, outs ...*Tensor) shpPrepared {
	tb.Helper()
	k := shpKernel(tb, op)
	n := &Node{Op: op, Options: opts, Inputs: ins, Outputs: outs}
	if err := k.Prepare(ctx, n); err != nil {
		tb.Fatalf("%s: Prepare: %v", name, err)
	}
	for _, o := range outs {
		o.Data = AlignedBytes(o.Bytes())
	}
	return shpPrepared{name, k, n}
}

func shpGroupKernels(tb testing.TB, ctx *Context) []shpPrepared {
	r := &shpRand{s: 21}
	f := func(shape ...int) *Tensor { return shpT(model.Float32, shape, r.floats(NumElements(shape))) }
	q8 := func(shape ...int) *Tensor { return shpRandQuant(r, model.Int8, shape, 0.05, 1) }
	o32 := func() *Tensor { return shpOut(model.Float32) }
	o8 := func() *Tensor { return shpQ(shpOut(model.Int8), 0.05, 1) }
	dynPads := shpT(model.Int32, []int{2, 2}, []int32{1, 1, 0, 2})
	dynBegin := shpT(model.Int32, []int{2}, []int32{1, 0})
	return []shpPrepared{
		shpPrepare(tb, ctx, "reshape", model.OpReshape, nil, []*Tensor{f(4, 6), shpI32(-1, 8)}, o32()),
		shpPrepare(tb, ctx, "reshape dynamic", model.OpReshape, nil, []*Tensor{f(4, 6), shpT(model.Int32, []int{2}, []int32{3, 8})}, shpOut(model.Float32, 3, 8)),
		shpPrepare(tb, ctx, "squeeze", model.OpSqueeze, nil, []*Tensor{f(1, 6)}, o32()),
		shpPrepare(tb, ctx, "expand", model.OpExpandDims, nil, []*Tensor{f(6), shpI32(0)}, o32()),
		shpPrepare(tb, ctx, "shape", model.OpShape, nil, []*Tensor{f(6, 2)}, shpOut(model.Int32)),
		shpPrepare(tb, ctx, "transpose 4d", model.OpTranspose, nil, []*Tensor{f(2, 40, 30, 16), shpI32(0, 3, 1, 2)}, o32()),
		shpPrepare(tb, ctx, "transpose generic", model.OpTranspose, nil, []*Tensor{f(3, 4, 5, 6), shpI32(2, 0, 3, 1)}, o32()),
		shpPrepare(tb, ctx, "transpose rows", model.OpTranspose, nil, []*Tensor{f(3, 4, 5), shpI32(1, 0, 2)}, o32()),
		shpPrepare(tb, ctx, "concat", model.OpConcatenation, &model.ConcatenationOptions{Axis: 1, Activation: model.ActRelu}, []*Tensor{f(2, 3), f(2, 5)}, o32()),
		shpPrepare(tb, ctx, "concat requant", model.OpConcatenation, &model.ConcatenationOptions{Axis: 0}, []*Tensor{shpQ(q8(2, 3), 0.1, 0), q8(1, 3)}, o8()),
		shpPrepare(tb, ctx, "pack", model.OpPack, &model.PackOptions{Axis: 1}, []*Tensor{f(3, 2), f(3, 2)}, o32()),
		shpPrepare(tb, ctx, "unpack", model.OpUnpack, &model.UnpackOptions{Axis: 1}, []*Tensor{f(3, 2)}, o32(), o32()),
		shpPrepare(tb, ctx, "split", model.OpSplit, &model.SplitOptions{NumSplits: 2}, []*Tensor{shpI32(1), f(3, 4)}, o32(), o32()),
		shpPrepare(tb, ctx, "split_v", model.OpSplitV, nil, []*Tensor{f(3, 4), shpI32(3, -1), shpI32(1)}, o32(), o32()),
		shpPrepare(tb, ctx, "pad", model.OpPad, nil, []*Tensor{q8(3, 4), shpPads(1, 1, 0, 2)}, o8()),
		shpPrepare(tb, ctx, "pad dynamic", model.OpPad, nil, []*Tensor{f(3, 4), dynPads}, shpOut(model.Float32, 5, 6)),
		shpPrepare(tb, ctx, "slice", model.OpSlice, nil, []*Tensor{f(3, 4, 5), shpI32(1, 0, 1), shpI32(2, -1, 3)}, o32()),
		shpPrepare(tb, ctx, "slice dynamic", model.OpSlice, nil, []*Tensor{f(3, 4), dynBegin, shpI32(2, 4)}, shpOut(model.Float32, 2, 4)),
		shpPrepare(tb, ctx, "strided slice", model.OpStridedSlice, &model.StridedSliceOptions{EndMask: 1}, []*Tensor{f(5, 6), shpI32(4, 1), shpI32(0, 6), shpI32(-2, 2)}, o32()),
		shpPrepare(tb, ctx, "strided slice dynamic", model.OpStridedSlice, &model.StridedSliceOptions{ShrinkAxisMask: 1}, []*Tensor{f(5, 6), shpT(model.Int32, []int{2}, []int32{2, 0}), shpI32(3, 6), shpI32(1, 1)}, shpOut(model.Float32, 6)),
		shpPrepare(tb, ctx, "tile", model.OpTile, nil, []*Tensor{f(2, 3), shpI32(2, 3)}, o32()),
		shpPrepare(tb, ctx, "gather", model.OpGather, &model.GatherOptions{Axis: 1}, []*Tensor{f(3, 5, 2), shpT(model.Int64, []int{2}, []int64{4, 0})}, o32()),
		shpPrepare(tb, ctx, "avg pool", model.OpAveragePool2D, &model.Pool2DOptions{Padding: model.PaddingSame, StrideH: 2, StrideW: 2, FilterHeight: 3, FilterWidth: 3}, []*Tensor{f(1, 20, 20, 8)}, o32()),
		shpPrepare(tb, ctx, "avg pool int8", model.OpAveragePool2D, &model.Pool2DOptions{Padding: model.PaddingValid, StrideH: 1, StrideW: 1, FilterHeight: 3, FilterWidth: 3}, []*Tensor{q8(1, 30, 30, 80)}, o8()),
		shpPrepare(tb, ctx, "max pool", model.OpMaxPool2D, &model.Pool2DOptions{Padding: model.PaddingValid, StrideH: 2, StrideW: 2, FilterHeight: 2, FilterWidth: 2}, []*Tensor{f(1, 30, 30, 80)}, o32()),
		shpPrepare(tb, ctx, "resize bilinear", model.OpResizeBilinear, &model.ResizeBilinearOptions{}, []*Tensor{f(1, 5, 5, 3), shpI32(40, 40)}, o32()),
		shpPrepare(tb, ctx, "resize bilinear int8", model.OpResizeBilinear, &model.ResizeBilinearOptions{HalfPixelCenters: true}, []*Tensor{q8(1, 5, 5, 3), shpI32(60, 60)}, o8()),
		shpPrepare(tb, ctx, "resize nearest", model.OpResizeNearestNeighbor, &model.ResizeNearestNeighborOptions{}, []*Tensor{f(1, 5, 5, 3), shpI32(9, 9)}, o32()),
		shpPrepare(tb, ctx, "batch matmul", model.OpBatchMatmul, &model.BatchMatMulOptions{AdjY: true}, []*Tensor{f(4, 33, 20), f(4, 41, 20)}, o32()),
		shpPrepare(tb, ctx, "batch matmul int8", model.OpBatchMatmul, &model.BatchMatMulOptions{AdjX: true}, []*Tensor{q8(30, 40), q8(30, 40)}, shpQ(shpOut(model.Int8), 2, 0)),
		shpPrepare(tb, ctx, "mean", model.OpMean, &model.ReducerOptions{}, []*Tensor{f(1, 3350, 80), shpI32(2)}, o32()),
		shpPrepare(tb, ctx, "mean int8 spatial", model.OpMean, &model.ReducerOptions{KeepDims: true}, []*Tensor{q8(1, 7, 7, 64), shpI32(1, 2)}, shpQ(shpOut(model.Int8), 0.02, 0)),
		shpPrepare(tb, ctx, "sum int8", model.OpSum, &model.ReducerOptions{}, []*Tensor{q8(4, 5, 6), shpI32(0, 2)}, shpQ(shpOut(model.Int8), 0.3, 0)),
		shpPrepare(tb, ctx, "max int32", model.OpReduceMax, &model.ReducerOptions{}, []*Tensor{shpT(model.Int32, []int{4, 5}, nil), shpI32(0)}, shpOut(model.Int32)),
		shpPrepare(tb, ctx, "mean int64", model.OpMean, &model.ReducerOptions{}, []*Tensor{shpT(model.Int64, []int{4, 5}, nil), shpI32(1)}, shpOut(model.Int64)),
		shpPrepare(tb, ctx, "argmax", model.OpArgMax, &model.ArgMaxOptions{OutputType: model.Int32}, []*Tensor{f(4, 7, 3), shpI32(1)}, shpOut(model.Int32)),
	}
}

func TestShapeGroupZeroAllocs(t *testing.T) {
	for _, threads := range []int{1, 2} {
		ctx := NewContext(threads)
		for _, p := range shpGroupKernels(t, ctx) {
			if err := p.k.Eval(ctx, p.n); err != nil {
				t.Fatalf("%s: Eval: %v", p.name, err)
			}
			if a := testing.AllocsPerRun(5, func() { _ = p.k.Eval(ctx, p.n) }); a != 0 {
				t.Errorf("%s with %d threads: Eval allocates %v times, want 0", p.name, threads, a)
			}
		}
		ctx.Close()
	}
}

func shpBench(b *testing.B, threads int, op model.BuiltinOp, opts any, ins []*Tensor, out *Tensor) {
	ctx := NewContext(threads)
	defer ctx.Close()
	p := shpPrepare(b, ctx, op.String(), op, opts, ins, out)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.k.Eval(ctx, p.n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTranspose4D(b *testing.B) {
	r := &shpRand{s: 1}
	for _, perm := range [][]int32{{0, 3, 1, 2}, {0, 2, 3, 1}, {2, 0, 1, 3}} {
		b.Run(fmt.Sprintf("perm%v", perm), func(b *testing.B) {
			in := shpT(model.Float32, []int{1, 64, 64, 32}, r.floats(64*64*32))
			shpBench(b, 1, model.OpTranspose, nil, []*Tensor{in, shpI32(perm...)}, shpOut(model.Float32))
		})
	}
}

func BenchmarkMeanSpatial(b *testing.B) {
	r := &shpRand{s: 2}
	b.Run("float32", func(b *testing.B) {
		in := shpT(model.Float32, []int{1, 7, 7, 1024}, r.floats(7*7*1024))
		shpBench(b, 1, model.OpMean, &model.ReducerOptions{KeepDims: true}, []*Tensor{in, shpI32(1, 2)}, shpOut(model.Float32))
	})
	b.Run("int8", func(b *testing.B) {
		in := shpRandQuant(r, model.Int8, []int{1, 7, 7, 1024}, 0.05, 3)
		shpBench(b, 1, model.OpMean, &model.ReducerOptions{KeepDims: true}, []*Tensor{in, shpI32(1, 2)}, shpQ(shpOut(model.Int8), 0.02, -1))
	})
}

// BenchmarkBatchMatMul times float products at the generic level and
// the best one: 64×64 by 64×64 (plain and adj_y), and conformer_float's
// attention product, [40,335,335]·[40,335,20].
func BenchmarkBatchMatMul(b *testing.B) {
	r := &shpRand{s: 3}
	type mm struct {
		name   string
		xs, ys []int
		adjY   bool
	}
	for _, c := range []mm{{"64x64x64", []int{64, 64}, []int{64, 64}, false}, {"64x64x64/adj_y", []int{64, 64}, []int{64, 64}, true},
		{"40x335x335x20", []int{40, 335, 335}, []int{40, 335, 20}, false}} {
		for _, level := range []Level{LevelGeneric, BestLevel()} {
			b.Run(fmt.Sprintf("%s/%s", c.name, level), func(b *testing.B) {
				x := shpT(model.Float32, c.xs, r.floats(NumElements(c.xs)))
				y := shpT(model.Float32, c.ys, r.floats(NumElements(c.ys)))
				ctx := NewContext(1)
				defer ctx.Close()
				ctx.Level = level
				p := shpPrepare(b, ctx, "batch matmul", model.OpBatchMatmul, &model.BatchMatMulOptions{AdjY: c.adjY}, []*Tensor{x, y}, shpOut(model.Float32))
				b.ReportAllocs()
				for b.Loop() {
					if err := p.k.Eval(ctx, p.n); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
