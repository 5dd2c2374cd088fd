package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

func ewBool(shape []int, vals ...bool) *Tensor {
	t := ewNew(model.Bool, shape, nil)
	for i, v := range vals {
		if v {
			t.Data[i] = 1
		}
	}
	return t
}

func TestSelectHandWorked(t *testing.T) {
	tests := []struct {
		name    string
		v2      bool
		c, x, y *Tensor
		shape   []int
		want    []float32
	}{
		{"same shapes", false, ewBool([]int{4}, true, false, false, true), ewF32([]int{4}, 1, 2, 3, 4), ewF32([]int{4}, 5, 6, 7, 8), []int{4}, []float32{1, 6, 7, 4}},
		{"row selector", false, ewBool([]int{2}, false, true), ewF32([]int{2, 2}, 1, 2, 3, 4), ewF32([]int{2, 2}, 5, 6, 7, 8), []int{2, 2}, []float32{5, 6, 3, 4}},
		{"v2 scalar values", true, ewBool([]int{2, 3}, true, false, true, false, false, true), ewF32(nil, 1), ewF32(nil, -1), []int{2, 3}, []float32{1, -1, 1, -1, -1, 1}},
		{"v2 broadcast all three", true, ewBool([]int{2, 1}, true, false), ewF32([]int{3}, 1, 2, 3), ewF32([]int{2, 1}, 8, 9), []int{2, 3}, []float32{1, 2, 3, 9, 9, 9}},
		{"v2 scalar condition", true, ewBool(nil, false), ewF32([]int{2}, 1, 2), ewF32([]int{2}, 3, 4), []int{2}, []float32{3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := model.OpSelect
			if tt.v2 {
				op = model.OpSelectV2
			}
			out := ewOut(model.Float32, nil)
			ewEval(t, newSelect(tt.v2), op, nil, NewContext(1), out, tt.c, tt.x, tt.y)
			if !slices.Equal(out.Shape, tt.shape) {
				t.Errorf("%s output shape = %v, want %v", op, out.Shape, tt.shape)
			}
			if got := out.F32(); !slices.Equal(got, tt.want) {
				t.Errorf("%s = %v, want %v", op, got, tt.want)
			}
		})
	}
}

// TestSelectV2Types runs the conformer model's SELECT_V2: a [10,
// 335] mask choosing between two scalars, on every element size.
func TestSelectV2Types(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	c := ewNew(model.Bool, []int{10, 335}, nil)
	for i := range c.Data {
		c.Data[i] = uint8(r.IntN(2))
	}
	for _, typ := range []model.TensorType{model.Float32, model.Int8, model.Int16, model.Int32, model.Int64} {
		t.Run(typ.String(), func(t *testing.T) {
			x, y := ewNew(typ, nil, nil), ewNew(typ, nil, nil)
			for i := range x.Data {
				x.Data[i] = 0x11
				y.Data[i] = 0x22
			}
			out := ewOut(typ, nil)
			ewEval(t, newSelect(true), model.OpSelectV2, nil, NewContext(2), out, c, x, y)
			size := typ.Size()
			for i, cv := range c.Data {
				want := byte(0x22)
				if cv != 0 {
					want = 0x11
				}
				for b := 0; b < size; b++ {
					if got := out.Data[i*size+b]; got != want {
						t.Fatalf("element %d byte %d = %#x, want %#x", i, b, got, want)
					}
				}
			}
		})
	}
}

func TestSelectPrepareErrors(t *testing.T) {
	tests := []struct {
		name    string
		v2      bool
		c, x, y *Tensor
	}{
		{"condition not bool", true, ewF32([]int{2}), ewF32([]int{2}), ewF32([]int{2})},
		{"value types differ", true, ewBool([]int{2}), ewF32([]int{2}), ewI32([]int{2})},
		{"v1 broadcast", false, ewBool([]int{2}), ewF32(nil), ewF32([]int{2})},
		{"v1 wrong row count", false, ewBool([]int{3}), ewF32([]int{2, 2}), ewF32([]int{2, 2})},
		{"v2 incompatible", true, ewBool([]int{3}), ewF32([]int{2}), ewF32([]int{2})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{Inputs: []*Tensor{tt.c, tt.x, tt.y}, Outputs: []*Tensor{ewOut(tt.x.Type, nil)}}
			if err := newSelect(tt.v2)().Prepare(NewContext(1), n); err == nil {
				t.Errorf("Prepare(%s) = nil, want error", tt.name)
			}
		})
	}
}

func TestSelectEvalDoesNotAllocate(t *testing.T) {
	ctxs := ewContexts()
	defer ewClose(ctxs)
	for _, ctx := range ctxs {
		k, n := ewPrepare(t, newSelect(true), model.OpSelectV2, nil, ctx, ewOut(model.Float32, nil),
			ewNew(model.Bool, []int{100, 1, 400}, nil), ewF32([]int{100, 2, 400}), ewF32(nil, 1))
		if allocs := testing.AllocsPerRun(20, func() { _ = k.Eval(ctx, n) }); allocs != 0 {
			t.Errorf("SELECT_V2 Eval with %d threads: %v allocs, want 0", ctx.Threads, allocs)
		}
	}
}
