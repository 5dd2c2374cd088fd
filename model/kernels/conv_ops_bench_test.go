package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// Per-operator benchmarks on mobilenet_v1 shapes. Each reports the
// multiply-accumulate rate in GMAC/s next to the time.

func convBenchEval(b *testing.B, k Kernel, n *Node, macs int, threads int) {
	b.Helper()
	ctx := NewContext(threads)
	defer ctx.Close()
	if err := k.Prepare(ctx, n); err != nil {
		b.Fatal(err)
	}
	for _, o := range n.Outputs {
		o.Data = AlignedBytes(o.Bytes())
	}
	rng := rand.New(rand.NewPCG(1, 1))
	convFillRandom(rng, n.Inputs[0])
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := k.Eval(ctx, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(macs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
}

// convBenchPixels returns the number of output pixels of s.
func convBenchPixels(b *testing.B, s convShape) int {
	g := convGeometry{inH: s.h, inW: s.w, filterH: s.kh, filterW: s.kw}
	if err := convSpatial(&g, s.padding, int32(s.strideH), int32(s.strideW), 1, 1); err != nil {
		b.Fatal(err)
	}
	return g.outH * g.outW
}

var convBenchShapes = []convShape{
	// The first layer: 3×3 stride 2 over RGB.
	{1, 128, 128, 3, 8, 3, 3, 2, 2, 1, 1, model.PaddingSame, model.ActRelu6, false, true},
	// Pointwise layers.
	{1, 64, 64, 8, 16, 1, 1, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, true},
	{1, 32, 32, 32, 32, 1, 1, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, true},
	{1, 8, 8, 128, 128, 1, 1, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, true},
	{1, 1, 1, 256, 1001, 1, 1, 1, 1, 1, 1, model.PaddingSame, model.ActNone, false, true},
}

func BenchmarkConv2D(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, typ := range []model.TensorType{model.Uint8, model.Int8, model.Float32} {
		for _, s := range convBenchShapes {
			n := convBuild(rng, s, typ)
			k := &conv2D{}
			macs := convBenchPixels(b, s) * s.outC * s.kh * s.kw * s.inC
			b.Run(fmt.Sprintf("%s/%dx%dx%d_k%d_s%d_to%d", typ, s.h, s.w, s.inC, s.kh, s.strideH, s.outC), func(b *testing.B) {
				convBenchEval(b, k, n, macs, 1)
			})
		}
	}
}

var dwBenchShapes = []dwShape{
	{convShape{1, 64, 64, 8, 8, 3, 3, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, true}, 1},
	{convShape{1, 64, 64, 16, 16, 3, 3, 2, 2, 1, 1, model.PaddingSame, model.ActRelu6, false, true}, 1},
	{convShape{1, 32, 32, 32, 32, 3, 3, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, true}, 1},
	{convShape{1, 8, 8, 128, 128, 3, 3, 1, 1, 1, 1, model.PaddingSame, model.ActRelu6, false, true}, 1},
	{convShape{1, 49, 40, 1, 8, 10, 8, 2, 2, 1, 1, model.PaddingSame, model.ActRelu, false, false}, 8},
}

func BenchmarkDepthwiseConv(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, typ := range []model.TensorType{model.Uint8, model.Int8, model.Float32} {
		for _, s := range dwBenchShapes {
			n := dwBuild(rng, s, typ)
			k := &depthwiseConv{}
			macs := convBenchPixels(b, s.convShape) * s.outC * s.kh * s.kw
			b.Run(fmt.Sprintf("%s/%dx%dx%d_k%d_s%d_m%d", typ, s.h, s.w, s.inC, s.kh, s.strideH, s.mult), func(b *testing.B) {
				convBenchEval(b, k, n, macs, 1)
			})
		}
	}
}

func BenchmarkFullyConnected(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	shapes := []fcShape{
		{[]int{1, 4000}, 4, model.ActNone, false, false, false},
		{[]int{1, 1024}, 1001, model.ActNone, false, false, false},
		{[]int{3350, 80}, 128, model.ActNone, false, false, false},
	}
	for _, typ := range []model.TensorType{model.Int8, model.Uint8, model.Float32} {
		for _, s := range shapes {
			n := fcBuild(rng, s, typ)
			macs := s.inShape[0] * s.inShape[1] * s.n
			b.Run(fmt.Sprintf("%s/%dx%d_to%d", typ, s.inShape[0], s.inShape[1], s.n), func(b *testing.B) {
				convBenchEval(b, &fullyConnected{}, n, macs, 1)
			})
		}
	}
}
