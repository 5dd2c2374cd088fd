package kernels

import (
	"math"
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// reduceNaive reduces data of shape over axes in float64, the definition
// the kernels are checked against.
func reduceNaive(op int, shape []int, data []float64, axes []bool) []float64 {
	var outShape []int
	for i, d := range shape {
		if axes[i] {
			d = 1
		}
		outShape = append(outShape, d)
	}
	n := NumElements(outShape)
	acc := make([]float64, n)
	cnt := make([]int, n)
	oidx := make([]int, len(shape))
	i := 0
	shpEach(shape, func(idx []int) {
		for k := range idx {
			oidx[k] = idx[k]
			if axes[k] {
				oidx[k] = 0
			}
		}
		o := shpIndex(outShape, oidx)
		v := data[i]
		i++
		if cnt[o] == 0 {
			acc[o] = v
		} else {
			switch op {
			case reduceSum, reduceMean:
				acc[o] += v
			case reduceMax:
				acc[o] = math.Max(acc[o], v)
			case reduceMin:
				acc[o] = math.Min(acc[o], v)
			case reduceProd:
				acc[o] *= v
			}
		}
		cnt[o]++
	})
	if op == reduceMean {
		for o := range acc {
			acc[o] /= float64(cnt[o])
		}
	}
	return acc
}

// reduceOpCode maps a reduce* constant to its operator.
func reduceOpCode(op int) model.BuiltinOp {
	return [...]model.BuiltinOp{
		reduceSum: model.OpSum, reduceMean: model.OpMean, reduceMax: model.OpReduceMax,
		reduceMin: model.OpReduceMin, reduceProd: model.OpReduceProd,
	}[op]
}

func TestReduceHandWorked(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6} // [[1 2 3] [4 5 6]]
	tests := []struct {
		name  string
		op    model.BuiltinOp
		axis  []int32
		keep  bool
		shape []int
		want  []float32
	}{
		{name: "mean rows", op: model.OpMean, axis: []int32{1}, shape: []int{2}, want: []float32{2, 5}},
		{name: "mean duplicate axes", op: model.OpMean, axis: []int32{1, -1}, shape: []int{2}, want: []float32{2, 5}},
		{name: "sum columns", op: model.OpSum, axis: []int32{0}, shape: []int{3}, want: []float32{5, 7, 9}},
		{name: "max last", op: model.OpReduceMax, axis: []int32{-1}, shape: []int{2}, want: []float32{3, 6}},
		{name: "min all", op: model.OpReduceMin, axis: []int32{0, 1}, shape: []int{}, want: []float32{1}},
		{name: "prod keep dims", op: model.OpReduceProd, axis: []int32{1}, keep: true, shape: []int{2, 1}, want: []float32{6, 120}},
		{name: "mean all keep dims", op: model.OpMean, axis: []int32{0, 1}, keep: true, shape: []int{1, 1}, want: []float32{3.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := shpT(model.Float32, []int{2, 3}, x)
			out := shpOut(model.Float32)
			err := shpRun(shpKernel(t, tt.op), tt.op, &model.ReducerOptions{KeepDims: tt.keep}, []*Tensor{in, shpI32(tt.axis...)}, []*Tensor{out}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape, tt.shape) || !slices.Equal(out.F32(), tt.want) {
				t.Fatalf("%s(axis %v) = %v %v, want %v %v", tt.op, tt.axis, out.Shape, out.F32(), tt.shape, tt.want)
			}
		})
	}
	t.Run("axis out of range", func(t *testing.T) {
		in := shpT(model.Float32, []int{2, 3}, x)
		err := shpRun(shpKernel(t, model.OpMean), model.OpMean, &model.ReducerOptions{}, []*Tensor{in, shpI32(2)}, []*Tensor{shpOut(model.Float32)}, 1)
		if err == nil {
			t.Fatal("Mean over axis 2 of a rank-2 tensor succeeded, want error")
		}
	})
}

func TestReduceFloatRandom(t *testing.T) {
	r := &shpRand{s: 3}
	for iter := 0; iter < 200; iter++ {
		rank := 1 + r.intn(5)
		shape := r.shape(rank, 6)
		var axis []int32
		axes := make([]bool, rank)
		for len(axis) == 0 {
			for d := 0; d < rank; d++ {
				if r.intn(2) == 0 {
					a := int32(d)
					if r.intn(2) == 0 {
						a -= int32(rank)
					}
					axis = append(axis, a)
					axes[d] = true
				}
			}
		}
		op := iter % 5
		keep := r.intn(2) == 0
		vals := r.floats(NumElements(shape))
		if op == reduceProd {
			for i := range vals {
				vals[i] = 0.5 + vals[i]/4 // keep products in range
			}
		}
		threads := 1 + iter%2
		t.Run(reduceOpCode(op).String(), func(t *testing.T) {
			in := shpT(model.Float32, shape, vals)
			out := shpOut(model.Float32)
			err := shpRun(shpKernel(t, reduceOpCode(op)), reduceOpCode(op), &model.ReducerOptions{KeepDims: keep}, []*Tensor{in, shpI32(axis...)}, []*Tensor{out}, threads)
			if err != nil {
				t.Fatal(err)
			}
			data := make([]float64, len(vals))
			for i, v := range vals {
				data[i] = float64(v)
			}
			want64 := reduceNaive(op, shape, data, axes)
			want := make([]float32, len(want64))
			for i, v := range want64 {
				want[i] = float32(v)
			}
			shpCloseF32(t, reduceOpCode(op).String(), out.F32(), want, 1e-5, 1e-5)
		})
	}
}

func TestReduceInt(t *testing.T) {
	tests := []struct {
		name string
		op   model.BuiltinOp
		typ  model.TensorType
		in   []int64
		want []int64
	}{
		{name: "mean truncates", op: model.OpMean, typ: model.Int32, in: []int64{1, 2, 3, 5, -1, -2}, want: []int64{1, 4, -1}},
		{name: "sum int64", op: model.OpSum, typ: model.Int64, in: []int64{1 << 40, 1, -3, 3, 7, 8}, want: []int64{1<<40 + 1, 0, 15}},
		{name: "max int32", op: model.OpReduceMax, typ: model.Int32, in: []int64{-5, -7, 2, 2, 0, -1}, want: []int64{-5, 2, 0}},
		{name: "min int64", op: model.OpReduceMin, typ: model.Int64, in: []int64{-5, -7, 2, 2, 0, -1}, want: []int64{-7, 2, -1}},
		{name: "prod int32", op: model.OpReduceProd, typ: model.Int32, in: []int64{-5, -7, 2, 2, 0, -1}, want: []int64{35, 4, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := shpT(tt.typ, []int{3, 2}, nil)
			for i, v := range tt.in {
				if tt.typ == model.Int32 {
					in.I32()[i] = int32(v)
				} else {
					in.I64()[i] = v
				}
			}
			out := shpOut(tt.typ)
			if err := shpRun(shpKernel(t, tt.op), tt.op, &model.ReducerOptions{}, []*Tensor{in, shpI32(1)}, []*Tensor{out}, 1); err != nil {
				t.Fatal(err)
			}
			got, _ := out.Ints()
			want := make([]int, len(tt.want))
			for i, v := range tt.want {
				want[i] = int(v)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s = %v, want %v", tt.op, got, want)
			}
		})
	}
}

func TestReduceQuantized(t *testing.T) {
	type qp struct {
		scale float32
		zp    int64
	}
	tests := []struct {
		name    string
		op      model.BuiltinOp
		typ     model.TensorType
		shape   []int
		axis    []int32
		keep    bool
		in, out qp
		steps   int32
	}{
		{name: "int8 mean equal quant", op: model.OpMean, typ: model.Int8, shape: []int{3, 7, 5}, axis: []int32{1}, in: qp{0.05, -3}, out: qp{0.05, -3}, steps: 1},
		{name: "int8 mean rescaled", op: model.OpMean, typ: model.Int8, shape: []int{2, 5, 9}, axis: []int32{-1, 0}, in: qp{0.05, -3}, out: qp{0.02, 10}, steps: 1},
		{name: "int8 mean spatial", op: model.OpMean, typ: model.Int8, shape: []int{2, 7, 6, 11}, axis: []int32{1, 2}, keep: true, in: qp{0.07, 5}, out: qp{0.03, -4}, steps: 1},
		{name: "uint8 mean spatial", op: model.OpMean, typ: model.Uint8, shape: []int{1, 5, 5, 8}, axis: []int32{2, 1}, keep: true, in: qp{0.02, 128}, out: qp{0.01, 120}, steps: 1},
		{name: "uint8 mean rescaled", op: model.OpMean, typ: model.Uint8, shape: []int{4, 6}, axis: []int32{0}, in: qp{0.02, 128}, out: qp{0.015, 100}, steps: 1},
		{name: "int16 mean rescaled", op: model.OpMean, typ: model.Int16, shape: []int{3, 10}, axis: []int32{1}, in: qp{0.001, 0}, out: qp{0.0007, 0}, steps: 1},
		{name: "int8 sum", op: model.OpSum, typ: model.Int8, shape: []int{3, 4}, axis: []int32{1}, in: qp{0.01, 3}, out: qp{0.04, -2}, steps: 1},
		{name: "uint8 sum equal quant", op: model.OpSum, typ: model.Uint8, shape: []int{6, 3}, axis: []int32{1}, in: qp{0.1, 100}, out: qp{0.1, 100}, steps: 0},
		{name: "int8 max", op: model.OpReduceMax, typ: model.Int8, shape: []int{4, 5}, axis: []int32{0}, in: qp{0.1, 1}, out: qp{0.1, 1}, steps: 0},
		{name: "int16 min", op: model.OpReduceMin, typ: model.Int16, shape: []int{4, 5}, axis: []int32{1}, in: qp{0.1, 0}, out: qp{0.1, 0}, steps: 0},
	}
	r := &shpRand{s: 11}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := shpRandQuant(r, tt.typ, tt.shape, tt.in.scale, tt.in.zp)
			out := shpQ(shpOut(tt.typ), tt.out.scale, tt.out.zp)
			if err := shpRun(shpKernel(t, tt.op), tt.op, &model.ReducerOptions{KeepDims: tt.keep}, []*Tensor{in, shpI32(tt.axis...)}, []*Tensor{out}, 1); err != nil {
				t.Fatal(err)
			}
			axes := make([]bool, len(tt.shape))
			for _, a := range tt.axis {
				na, _ := shapeNormAxis(int(a), len(tt.shape))
				axes[na] = true
			}
			real := shpDequant(in)
			data := make([]float64, len(real))
			for i, v := range real {
				data[i] = float64(v)
			}
			op := map[model.BuiltinOp]int{model.OpMean: reduceMean, model.OpSum: reduceSum, model.OpReduceMax: reduceMax, model.OpReduceMin: reduceMin}[tt.op]
			want64 := reduceNaive(op, tt.shape, data, axes)
			want := make([]float32, len(want64))
			for i, v := range want64 {
				want[i] = float32(v)
			}
			shpWithinSteps(t, tt.name, out, want, tt.steps)
		})
	}
}

func TestReduceArg(t *testing.T) {
	x := []float32{1, 3, 3, 2, 0, 2} // [[1 3 3] [2 0 2]]
	tests := []struct {
		name string
		op   model.BuiltinOp
		typ  model.TensorType
		axis int32
		out  model.TensorType
		want []int
	}{
		{name: "argmax ties lowest", op: model.OpArgMax, typ: model.Float32, axis: 1, out: model.Int32, want: []int{1, 0}},
		{name: "argmin ties lowest", op: model.OpArgMin, typ: model.Float32, axis: -1, out: model.Int64, want: []int{0, 1}},
		{name: "argmax axis 0", op: model.OpArgMax, typ: model.Float32, axis: 0, out: model.Int32, want: []int{1, 0, 0}},
		{name: "argmax uint8", op: model.OpArgMax, typ: model.Uint8, axis: 1, out: model.Int64, want: []int{1, 0}},
		{name: "argmin int8", op: model.OpArgMin, typ: model.Int8, axis: 0, out: model.Int32, want: []int{0, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := shpT(tt.typ, []int{2, 3}, nil)
			for i, v := range x {
				switch tt.typ {
				case model.Float32:
					in.F32()[i] = v
				case model.Uint8:
					in.U8()[i] = uint8(v)
				case model.Int8:
					in.I8()[i] = int8(v)
				}
			}
			out := shpOut(tt.out)
			opts := &model.ArgMaxOptions{OutputType: tt.out}
			if err := shpRun(shpKernel(t, tt.op), tt.op, opts, []*Tensor{in, shpI32(tt.axis)}, []*Tensor{out}, 1); err != nil {
				t.Fatal(err)
			}
			got, _ := out.Ints()
			if !slices.Equal(got, tt.want) {
				t.Fatalf("%s(axis %d) = %v, want %v", tt.op, tt.axis, got, tt.want)
			}
		})
	}
}
