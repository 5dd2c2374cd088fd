package kernels

import (
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// matmulNaive multiplies in float64 following the definition, with
// broadcast batch dimensions and optional adjoints.
func matmulNaive(xs []int, x []float32, ys []int, y []float32, adjX, adjY bool) ([]int, []float32) {
	xr, yr := len(xs), len(ys)
	m, k := xs[xr-2], xs[xr-1]
	if adjX {
		m, k = k, m
	}
	n := ys[yr-1]
	if adjY {
		n = ys[yr-2]
	}
	batch, xi, yi, err := matmulBroadcast(xs[:xr-2], ys[:yr-2])
	if err != nil {
		panic(err)
	}
	var out []float32
	for b := range xi {
		xm := x[xi[b]*m*k:]
		ym := y[yi[b]*k*n:]
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				acc := 0.0
				for p := 0; p < k; p++ {
					a := xm[i*k+p]
					if adjX {
						a = xm[p*m+i]
					}
					bv := ym[p*n+j]
					if adjY {
						bv = ym[j*k+p]
					}
					acc += float64(a) * float64(bv)
				}
				out = append(out, float32(acc))
			}
		}
	}
	return append(batch, m, n), out
}

func TestBatchMatMulHandWorked(t *testing.T) {
	x := shpT(model.Float32, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	y := shpT(model.Float32, []int{3, 2}, []float32{7, 8, 9, 10, 11, 12})
	out := shpOut(model.Float32)
	if err := shpRun(shpKernel(t, model.OpBatchMatmul), model.OpBatchMatmul, &model.BatchMatMulOptions{}, []*Tensor{x, y}, []*Tensor{out}, 1); err != nil {
		t.Fatal(err)
	}
	if want := []float32{58, 64, 139, 154}; !slices.Equal(out.F32(), want) || !slices.Equal(out.Shape, []int{2, 2}) {
		t.Fatalf("BatchMatMul = %v %v, want [2 2] %v", out.Shape, out.F32(), want)
	}
	bad := shpT(model.Float32, []int{2, 2}, nil)
	if err := shpRun(shpKernel(t, model.OpBatchMatmul), model.OpBatchMatmul, &model.BatchMatMulOptions{}, []*Tensor{x, bad}, []*Tensor{shpOut(model.Float32)}, 1); err == nil {
		t.Fatal("BatchMatMul of [2 3] and [2 2] succeeded, want error")
	}
}

func TestBatchMatMulFloatRandom(t *testing.T) {
	r := &shpRand{s: 13}
	batches := [][2][]int{
		{{}, {}}, {{3}, {3}}, {{2, 1}, {3}}, {{1}, {4}}, {{2, 3}, {1, 1}}, {{5}, {}},
	}
	for iter := 0; iter < 48; iter++ {
		bx, by := batches[iter%len(batches)][0], batches[iter%len(batches)][1]
		m, k, n := 1+r.intn(11), 1+r.intn(9), 1+r.intn(13)
		adjX, adjY := iter&1 != 0, iter&2 != 0
		xs := append(append([]int{}, bx...), m, k)
		if adjX {
			xs[len(xs)-2], xs[len(xs)-1] = k, m
		}
		ys := append(append([]int{}, by...), k, n)
		if adjY {
			ys[len(ys)-2], ys[len(ys)-1] = n, k
		}
		constY := iter%3 == 0
		t.Run("", func(t *testing.T) {
			x := shpT(model.Float32, xs, r.floats(NumElements(xs)))
			y := shpT(model.Float32, ys, r.floats(NumElements(ys)))
			y.Const = constY
			out := shpOut(model.Float32)
			opts := &model.BatchMatMulOptions{AdjX: adjX, AdjY: adjY}
			if err := shpRun(shpKernel(t, model.OpBatchMatmul), model.OpBatchMatmul, opts, []*Tensor{x, y}, []*Tensor{out}, 1+iter%2); err != nil {
				t.Fatal(err)
			}
			shape, want := matmulNaive(xs, x.F32(), ys, y.F32(), adjX, adjY)
			if !slices.Equal(out.Shape, shape) {
				t.Fatalf("BatchMatMul(%v, %v) shape = %v, want %v", xs, ys, out.Shape, shape)
			}
			shpCloseF32(t, "BatchMatMul", out.F32(), want, 1e-5, 1e-5)
		})
	}
}

func TestBatchMatMulQuantized(t *testing.T) {
	r := &shpRand{s: 17}
	tests := []struct {
		name       string
		typ        model.TensorType
		xs, ys     []int
		adjX, adjY bool
		zx, zy, zo int64
	}{
		{name: "int8", typ: model.Int8, xs: []int{2, 5, 7}, ys: []int{2, 7, 3}, zx: 3, zy: -2, zo: 5},
		{name: "int8 adjoints broadcast", typ: model.Int8, xs: []int{3, 7, 5}, ys: []int{3, 7}, adjX: true, adjY: true, zx: -10, zy: 0, zo: -1},
		{name: "int16", typ: model.Int16, xs: []int{4, 9}, ys: []int{9, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sx, sy := float32(0.02), float32(0.03)
			x := shpRandQuant(r, tt.typ, tt.xs, sx, tt.zx)
			y := shpRandQuant(r, tt.typ, tt.ys, sy, tt.zy)
			if tt.typ == model.Int16 {
				x.Quant.Scale[0], y.Quant.Scale[0] = 0.0002, 0.0003
			}
			xr, yr := shpDequant(x), shpDequant(y)
			shape, want := matmulNaive(tt.xs, xr, tt.ys, yr, tt.adjX, tt.adjY)
			hi := float32(0)
			for _, v := range want {
				hi = max(hi, v, -v)
			}
			qhi := float32(127)
			if tt.typ == model.Int16 {
				qhi = 32767
			}
			out := shpQ(shpOut(tt.typ), hi/qhi*1.1, tt.zo)
			opts := &model.BatchMatMulOptions{AdjX: tt.adjX, AdjY: tt.adjY}
			if err := shpRun(shpKernel(t, model.OpBatchMatmul), model.OpBatchMatmul, opts, []*Tensor{x, y}, []*Tensor{out}, 1); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape, shape) {
				t.Fatalf("shape = %v, want %v", out.Shape, shape)
			}
			shpWithinSteps(t, tt.name, out, want, 1)
		})
	}
}
