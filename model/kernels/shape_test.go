package kernels

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

func shpSeq(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	return v
}

func TestShapeReshape(t *testing.T) {
	tests := []struct {
		name      string
		in        *Tensor
		shape     *Tensor
		opts      any
		declared  []int
		wantShape []int
		wantErr   bool
	}{
		{name: "shape input with -1", in: shpT(model.Float32, []int{2, 3}, shpSeq(6)), shape: shpI32(3, -1), wantShape: []int{3, 2}},
		{name: "int64 shape input", in: shpT(model.Float32, []int{2, 3}, shpSeq(6)), shape: shpConst(shpT(model.Int64, []int{1}, []int64{6})), wantShape: []int{6}},
		{name: "options new_shape", in: shpT(model.Int8, []int{2, 3}, []int8{1, 2, 3, 4, 5, 6}), opts: &model.ReshapeOptions{NewShape: []int32{1, 6}}, wantShape: []int{1, 6}},
		{name: "legacy scalar", in: shpT(model.Float32, []int{1, 1}, []float32{7}), opts: &model.ReshapeOptions{NewShape: []int32{0}}, wantShape: []int{}},
		{name: "declared output shape", in: shpT(model.Int16, []int{4}, []int16{1, 2, 3, 4}), declared: []int{2, 2}, wantShape: []int{2, 2}},
		{name: "empty shape operand is scalar", in: shpT(model.Float32, []int{1}, []float32{3}), shape: shpConst(shpT(model.Int32, []int{0}, nil)), wantShape: []int{}},
		{name: "two unknowns", in: shpT(model.Float32, []int{2, 3}, shpSeq(6)), shape: shpI32(-1, -1), wantErr: true},
		{name: "wrong count", in: shpT(model.Float32, []int{2, 3}, shpSeq(6)), shape: shpI32(4), wantErr: true},
		{name: "indivisible", in: shpT(model.Float32, []int{2, 3}, shpSeq(6)), shape: shpI32(4, -1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ins := []*Tensor{tt.in}
			if tt.shape != nil {
				ins = append(ins, tt.shape)
			}
			out := shpOut(tt.in.Type, tt.declared...)
			err := shpRun(shpKernel(t, model.OpReshape), model.OpReshape, tt.opts, ins, []*Tensor{out}, 1)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Reshape(%v) = shape %v, want error", tt.in.Shape, out.Shape)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reshape: %v", err)
			}
			if !slices.Equal(out.Shape, tt.wantShape) {
				t.Fatalf("Reshape shape = %v, want %v", out.Shape, tt.wantShape)
			}
			if !bytes.Equal(out.Data, tt.in.Data) {
				t.Fatalf("Reshape data = %v, want %v", out.Data, tt.in.Data)
			}
		})
	}
}

func TestShapeReshapeDynamic(t *testing.T) {
	in := shpT(model.Float32, []int{2, 3}, shpSeq(6))
	shape := shpT(model.Int32, []int{2}, []int32{3, 2})
	out := shpOut(model.Float32, 3, 2)
	ctx := NewContext(1)
	defer ctx.Close()
	n := &Node{Op: model.OpReshape, Inputs: []*Tensor{in, shape}, Outputs: []*Tensor{out}}
	k := shpKernel(t, model.OpReshape)
	if err := k.Prepare(ctx, n); err != nil {
		t.Fatal(err)
	}
	out.Data = AlignedBytes(out.Bytes())
	if err := k.Eval(ctx, n); err != nil {
		t.Fatalf("Eval with matching run-time shape: %v", err)
	}
	if !bytes.Equal(out.Data, in.Data) {
		t.Fatalf("Reshape data = %v, want %v", out.Data, in.Data)
	}
	copy(shape.I32(), []int32{2, 3})
	if err := k.Eval(ctx, n); err == nil {
		t.Fatalf("Eval with run-time shape [2 3] for planned [3 2] succeeded, want error")
	}
}

func TestShapeSqueezeExpandDims(t *testing.T) {
	tests := []struct {
		name      string
		op        model.BuiltinOp
		in        []int
		axis      *Tensor
		opts      any
		wantShape []int
		wantErr   bool
	}{
		{name: "squeeze all", op: model.OpSqueeze, in: []int{1, 3, 1, 2}, wantShape: []int{3, 2}},
		{name: "squeeze negative", op: model.OpSqueeze, in: []int{1, 3, 1, 2}, opts: &model.SqueezeOptions{SqueezeDims: []int32{-2}}, wantShape: []int{1, 3, 2}},
		{name: "squeeze non-unit", op: model.OpSqueeze, in: []int{1, 3}, opts: &model.SqueezeOptions{SqueezeDims: []int32{1}}, wantErr: true},
		{name: "squeeze out of range", op: model.OpSqueeze, in: []int{1, 3}, opts: &model.SqueezeOptions{SqueezeDims: []int32{2}}, wantErr: true},
		{name: "expand front", op: model.OpExpandDims, in: []int{3, 2}, axis: shpI32(0), wantShape: []int{1, 3, 2}},
		{name: "expand end negative", op: model.OpExpandDims, in: []int{3, 2}, axis: shpI32(-1), wantShape: []int{3, 2, 1}},
		{name: "expand int64 middle", op: model.OpExpandDims, in: []int{3, 2}, axis: shpConst(shpT(model.Int64, []int{}, []int64{1})), wantShape: []int{3, 1, 2}},
		{name: "expand out of range", op: model.OpExpandDims, in: []int{3, 2}, axis: shpI32(4), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := shpT(model.Float32, tt.in, shpSeq(NumElements(tt.in)))
			ins := []*Tensor{in}
			if tt.axis != nil {
				ins = append(ins, tt.axis)
			}
			out := shpOut(model.Float32)
			err := shpRun(shpKernel(t, tt.op), tt.op, tt.opts, ins, []*Tensor{out}, 1)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("%s(%v) = %v, want error", tt.op, tt.in, out.Shape)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape, tt.wantShape) || !bytes.Equal(out.Data, in.Data) {
				t.Fatalf("%s(%v) = %v %v, want %v %v", tt.op, tt.in, out.Shape, out.F32(), tt.wantShape, in.F32())
			}
		})
	}
}

func TestShapeShape(t *testing.T) {
	for _, typ := range []model.TensorType{model.Int32, model.Int64} {
		t.Run(typ.String(), func(t *testing.T) {
			in := shpT(model.Int8, []int{2, 1, 5}, nil)
			out := shpOut(typ)
			if err := shpRun(shpKernel(t, model.OpShape), model.OpShape, nil, []*Tensor{in}, []*Tensor{out}, 1); err != nil {
				t.Fatal(err)
			}
			got, _ := out.Ints()
			if want := []int{2, 1, 5}; !slices.Equal(got, want) {
				t.Fatalf("Shape = %v, want %v", got, want)
			}
		})
	}
}

// transposeNaive is the definition: out[i0..] = in[idx] with idx[perm[k]] = ik.
func transposeNaive(in *Tensor, perm []int) []byte {
	es := in.Type.Size()
	outShape := make([]int, len(perm))
	for i, p := range perm {
		outShape[i] = in.Shape[p]
	}
	out := make([]byte, len(in.Data))
	src := make([]int, len(perm))
	o := 0
	shpEach(outShape, func(idx []int) {
		for k, p := range perm {
			src[p] = idx[k]
		}
		s := shpIndex(in.Shape, src)
		copy(out[o*es:(o+1)*es], in.Data[s*es:(s+1)*es])
		o++
	})
	return out
}

func TestShapeTranspose(t *testing.T) {
	t.Run("hand worked 2x3", func(t *testing.T) {
		in := shpT(model.Float32, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
		out := shpOut(model.Float32)
		if err := shpRun(shpKernel(t, model.OpTranspose), model.OpTranspose, nil, []*Tensor{in, shpI32(1, 0)}, []*Tensor{out}, 1); err != nil {
			t.Fatal(err)
		}
		if want := []float32{1, 4, 2, 5, 3, 6}; !slices.Equal(out.F32(), want) || !slices.Equal(out.Shape, []int{3, 2}) {
			t.Fatalf("Transpose = %v %v, want [3 2] %v", out.Shape, out.F32(), want)
		}
	})
	r := &shpRand{s: 1}
	types := []model.TensorType{model.Float32, model.Int8, model.Int16, model.Int64, model.Bool}
	for i := 0; i < 120; i++ {
		rank := 1 + i%6
		shape := r.shape(rank, 5)
		if i%10 == 0 {
			shape[rank-1] = 1 // unit dimensions exercise the merging
		}
		perm := make([]int, rank)
		for j := range perm {
			perm[j] = j
		}
		for j := rank - 1; j > 0; j-- {
			k := r.intn(j + 1)
			perm[j], perm[k] = perm[k], perm[j]
		}
		typ := types[i%len(types)]
		t.Run("", func(t *testing.T) {
			in := shpT(typ, shape, nil)
			copy(in.Data, r.bytes(len(in.Data)))
			if typ == model.Bool {
				for j := range in.Data {
					in.Data[j] &= 1
				}
			}
			p32 := make([]int32, rank)
			for j, p := range perm {
				p32[j] = int32(p)
			}
			out := shpOut(typ)
			if err := shpRun(shpKernel(t, model.OpTranspose), model.OpTranspose, nil, []*Tensor{in, shpI32(p32...)}, []*Tensor{out}, 1); err != nil {
				t.Fatal(err)
			}
			if want := transposeNaive(in, perm); !bytes.Equal(out.Data, want) {
				t.Fatalf("Transpose(%s%v, perm %v) differs from the definition", typ, shape, perm)
			}
		})
	}
	t.Run("large threaded", func(t *testing.T) {
		for _, perm := range [][]int{{0, 3, 1, 2}, {0, 2, 3, 1}, {2, 0, 1, 3}, {3, 2, 1, 0}} {
			in := shpT(model.Float32, []int{2, 33, 47, 13}, nil)
			copy(in.Data, r.bytes(len(in.Data)))
			p32 := []int32{int32(perm[0]), int32(perm[1]), int32(perm[2]), int32(perm[3])}
			out := shpOut(model.Float32)
			if err := shpRun(shpKernel(t, model.OpTranspose), model.OpTranspose, nil, []*Tensor{in, shpI32(p32...)}, []*Tensor{out}, 2); err != nil {
				t.Fatal(err)
			}
			if want := transposeNaive(in, perm); !bytes.Equal(out.Data, want) {
				t.Fatalf("threaded Transpose(perm %v) differs from the definition", perm)
			}
		}
	})
	t.Run("bad perm", func(t *testing.T) {
		in := shpT(model.Float32, []int{2, 3}, nil)
		err := shpRun(shpKernel(t, model.OpTranspose), model.OpTranspose, nil, []*Tensor{in, shpI32(0, 0)}, []*Tensor{shpOut(model.Float32)}, 1)
		if err == nil {
			t.Fatal("Transpose with perm [0 0] succeeded, want error")
		}
	})
}

func TestShapeConcatenation(t *testing.T) {
	t.Run("float relu6 negative axis", func(t *testing.T) {
		a := shpT(model.Float32, []int{2, 1}, []float32{-1, 7})
		b := shpT(model.Float32, []int{2, 2}, []float32{2, 3, 4, 5})
		out := shpOut(model.Float32)
		opts := &model.ConcatenationOptions{Axis: -1, Activation: model.ActRelu6}
		if err := shpRun(shpKernel(t, model.OpConcatenation), model.OpConcatenation, opts, []*Tensor{a, b}, []*Tensor{out}, 1); err != nil {
			t.Fatal(err)
		}
		if want := []float32{0, 2, 3, 6, 4, 5}; !slices.Equal(out.F32(), want) || !slices.Equal(out.Shape, []int{2, 3}) {
			t.Fatalf("Concat = %v %v, want [2 3] %v", out.Shape, out.F32(), want)
		}
	})
	t.Run("int8 requantized", func(t *testing.T) {
		// a is rescaled from 0.5 to 1.0 with round half away from zero;
		// b already has the output quantization and is copied.
		a := shpQ(shpT(model.Int8, []int{1, 4}, []int8{3, -3, 10, 127}), 0.5, 0)
		b := shpQ(shpT(model.Int8, []int{1, 2}, []int8{-128, 5}), 1, 2)
		out := shpQ(shpOut(model.Int8), 1, 2)
		opts := &model.ConcatenationOptions{Axis: 1}
		if err := shpRun(shpKernel(t, model.OpConcatenation), model.OpConcatenation, opts, []*Tensor{a, b}, []*Tensor{out}, 1); err != nil {
			t.Fatal(err)
		}
		if want := []int8{4, 0, 7, 66, -128, 5}; !slices.Equal(out.I8(), want) {
			t.Fatalf("Concat int8 = %v, want %v", out.I8(), want)
		}
	})
	t.Run("uint8 outer blocks", func(t *testing.T) {
		a := shpT(model.Uint8, []int{2, 1, 2}, []uint8{1, 2, 3, 4})
		b := shpT(model.Uint8, []int{2, 2, 2}, []uint8{5, 6, 7, 8, 9, 10, 11, 12})
		out := shpOut(model.Uint8)
		if err := shpRun(shpKernel(t, model.OpConcatenation), model.OpConcatenation, &model.ConcatenationOptions{Axis: 1}, []*Tensor{a, b}, []*Tensor{out}, 1); err != nil {
			t.Fatal(err)
		}
		if want := []uint8{1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12}; !slices.Equal(out.U8(), want) {
			t.Fatalf("Concat uint8 = %v, want %v", out.U8(), want)
		}
	})
	t.Run("mismatched dims", func(t *testing.T) {
		a := shpT(model.Float32, []int{2, 1}, nil)
		b := shpT(model.Float32, []int{3, 1}, nil)
		if err := shpRun(shpKernel(t, model.OpConcatenation), model.OpConcatenation, &model.ConcatenationOptions{Axis: 1}, []*Tensor{a, b}, []*Tensor{shpOut(model.Float32)}, 1); err == nil {
			t.Fatal("Concat of [2 1] and [3 1] on axis 1 succeeded, want error")
		}
	})
}

func TestShapePackUnpackSplit(t *testing.T) {
	x := func() *Tensor { return shpT(model.Float32, []int{2, 4}, shpSeq(8)) }
	tests := []struct {
		name   string
		op     model.BuiltinOp
		opts   any
		ins    []*Tensor
		nout   int
		shapes [][]int
		want   [][]float32
	}{
		{name: "pack axis 1", op: model.OpPack, opts: &model.PackOptions{ValuesCount: 2, Axis: 1},
			ins:  []*Tensor{shpT(model.Float32, []int{2}, []float32{1, 2}), shpT(model.Float32, []int{2}, []float32{3, 4})},
			nout: 1, shapes: [][]int{{2, 2}}, want: [][]float32{{1, 3, 2, 4}}},
		{name: "pack axis -1 scalars", op: model.OpPack, opts: &model.PackOptions{Axis: -1},
			ins:  []*Tensor{shpT(model.Float32, []int{}, []float32{1}), shpT(model.Float32, []int{}, []float32{2}), shpT(model.Float32, []int{}, []float32{3})},
			nout: 1, shapes: [][]int{{3}}, want: [][]float32{{1, 2, 3}}},
		{name: "unpack axis 0", op: model.OpUnpack, opts: &model.UnpackOptions{Num: 2}, ins: []*Tensor{x()},
			nout: 2, shapes: [][]int{{4}, {4}}, want: [][]float32{{0, 1, 2, 3}, {4, 5, 6, 7}}},
		{name: "unpack axis -1", op: model.OpUnpack, opts: &model.UnpackOptions{Num: 4, Axis: -1}, ins: []*Tensor{x()},
			nout: 4, shapes: [][]int{{2}, {2}, {2}, {2}}, want: [][]float32{{0, 4}, {1, 5}, {2, 6}, {3, 7}}},
		{name: "split axis 1", op: model.OpSplit, opts: &model.SplitOptions{NumSplits: 2}, ins: []*Tensor{shpI32(1), x()},
			nout: 2, shapes: [][]int{{2, 2}, {2, 2}}, want: [][]float32{{0, 1, 4, 5}, {2, 3, 6, 7}}},
		{name: "split axis -2", op: model.OpSplit, opts: &model.SplitOptions{NumSplits: 2}, ins: []*Tensor{shpI32(-2), x()},
			nout: 2, shapes: [][]int{{1, 4}, {1, 4}}, want: [][]float32{{0, 1, 2, 3}, {4, 5, 6, 7}}},
		{name: "split_v inferred", op: model.OpSplitV, opts: &model.SplitOptions{NumSplits: 2}, ins: []*Tensor{x(), shpI32(1, -1), shpI32(1)},
			nout: 2, shapes: [][]int{{2, 1}, {2, 3}}, want: [][]float32{{0, 4}, {1, 2, 3, 5, 6, 7}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outs := make([]*Tensor, tt.nout)
			for i := range outs {
				outs[i] = shpOut(model.Float32)
			}
			if err := shpRun(shpKernel(t, tt.op), tt.op, tt.opts, tt.ins, outs, 1); err != nil {
				t.Fatal(err)
			}
			for i, o := range outs {
				if !slices.Equal(o.Shape, tt.shapes[i]) || !slices.Equal(o.F32(), tt.want[i]) {
					t.Fatalf("%s output %d = %v %v, want %v %v", tt.op, i, o.Shape, o.F32(), tt.shapes[i], tt.want[i])
				}
			}
		})
	}
	t.Run("split uneven", func(t *testing.T) {
		outs := []*Tensor{shpOut(model.Float32), shpOut(model.Float32), shpOut(model.Float32)}
		err := shpRun(shpKernel(t, model.OpSplit), model.OpSplit, &model.SplitOptions{NumSplits: 3}, []*Tensor{shpI32(1), x()}, outs, 1)
		if err == nil {
			t.Fatal("Split of 4 into 3 succeeded, want error")
		}
	})
}

func TestShapePad(t *testing.T) {
	tests := []struct {
		name    string
		op      model.BuiltinOp
		in      *Tensor
		pads    *Tensor
		value   *Tensor
		out     *Tensor
		shape   []int
		want    []byte // expected output data
		wantErr bool
	}{
		{name: "float", op: model.OpPad, in: shpT(model.Float32, []int{2, 2}, []float32{1, 2, 3, 4}),
			pads: shpPads(1, 0, 0, 2), out: shpOut(model.Float32), shape: []int{3, 4},
			want: shpT(model.Float32, []int{12}, []float32{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}).Data},
		{name: "int8 zero point", op: model.OpPad, in: shpQ(shpT(model.Int8, []int{3}, []int8{1, 2, 3}), 0.1, -5),
			pads: shpConst(shpT(model.Int64, []int{1, 2}, []int64{2, 1})), out: shpQ(shpOut(model.Int8), 0.1, -5), shape: []int{6},
			want: shpT(model.Int8, []int{6}, []int8{-5, -5, 1, 2, 3, -5}).Data},
		{name: "uint8 zero point 128", op: model.OpPad, in: shpQ(shpT(model.Uint8, []int{1, 1}, []uint8{9}), 0.1, 128),
			pads: shpPads(0, 1, 1, 0), out: shpQ(shpOut(model.Uint8), 0.1, 128), shape: []int{2, 2},
			want: []byte{128, 9, 128, 128}},
		{name: "padv2 constant", op: model.OpPadv2, in: shpT(model.Int16, []int{1, 2}, []int16{1, 2}),
			pads: shpPads(1, 1, 1, 0), value: shpConst(shpT(model.Int16, []int{}, []int16{-7})), out: shpOut(model.Int16), shape: []int{3, 3},
			want: shpT(model.Int16, []int{9}, []int16{-7, -7, -7, -7, 1, 2, -7, -7, -7}).Data},
		{name: "3d inner", op: model.OpPad, in: shpT(model.Int32, []int{2, 1, 2}, []int32{1, 2, 3, 4}),
			pads: shpPads(0, 0, 1, 0, 0, 1), out: shpOut(model.Int32), shape: []int{2, 2, 3},
			want: shpT(model.Int32, []int{12}, []int32{0, 0, 0, 1, 2, 0, 0, 0, 0, 3, 4, 0}).Data},
		{name: "negative padding", op: model.OpPad, in: shpT(model.Float32, []int{2}, nil),
			pads: shpPads(-1, 0), out: shpOut(model.Float32), wantErr: true},
		{name: "wrong paddings shape", op: model.OpPad, in: shpT(model.Float32, []int{2, 2}, nil),
			pads: shpI32(1, 1), out: shpOut(model.Float32), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ins := []*Tensor{tt.in, tt.pads}
			if tt.value != nil {
				ins = append(ins, tt.value)
			}
			err := shpRun(shpKernel(t, tt.op), tt.op, nil, ins, []*Tensor{tt.out}, 1)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("%s succeeded with shape %v, want error", tt.op, tt.out.Shape)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tt.out.Shape, tt.shape) || !bytes.Equal(tt.out.Data, tt.want) {
				t.Fatalf("%s = %v %v, want %v %v", tt.op, tt.out.Shape, tt.out.Data, tt.shape, tt.want)
			}
		})
	}
}

func TestShapePadDynamic(t *testing.T) {
	in := shpT(model.Float32, []int{2}, []float32{1, 2})
	pads := shpT(model.Int32, []int{1, 2}, []int32{1, 2})
	out := shpOut(model.Float32, 5)
	ctx := NewContext(1)
	defer ctx.Close()
	n := &Node{Op: model.OpPad, Inputs: []*Tensor{in, pads}, Outputs: []*Tensor{out}}
	k := shpKernel(t, model.OpPad)
	if err := k.Prepare(ctx, n); err != nil {
		t.Fatal(err)
	}
	out.Data = AlignedBytes(out.Bytes())
	if err := k.Eval(ctx, n); err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 1, 2, 0, 0}; !slices.Equal(out.F32(), want) {
		t.Fatalf("Pad = %v, want %v", out.F32(), want)
	}
	copy(pads.I32(), []int32{0, 0})
	if err := k.Eval(ctx, n); err == nil {
		t.Fatal("Pad with run-time paddings changing the shape succeeded, want error")
	}
}

func TestShapeSlice(t *testing.T) {
	x := func() *Tensor { return shpT(model.Float32, []int{3, 4}, shpSeq(12)) }
	tests := []struct {
		name        string
		begin, size *Tensor
		shape       []int
		want        []float32
		wantErr     bool
	}{
		{name: "inner block", begin: shpI32(1, 1), size: shpI32(2, -1), shape: []int{2, 3}, want: []float32{5, 6, 7, 9, 10, 11}},
		{name: "full rows", begin: shpI32(1, 0), size: shpI32(1, 4), shape: []int{1, 4}, want: []float32{4, 5, 6, 7}},
		{name: "column int64", begin: shpConst(shpT(model.Int64, []int{2}, []int64{0, 2})), size: shpConst(shpT(model.Int64, []int{2}, []int64{3, 1})), shape: []int{3, 1}, want: []float32{2, 6, 10}},
		{name: "empty", begin: shpI32(0, 0), size: shpI32(0, 4), shape: []int{0, 4}, want: []float32{}},
		{name: "out of range", begin: shpI32(2, 0), size: shpI32(2, 4), wantErr: true},
		{name: "negative begin", begin: shpI32(-1, 0), size: shpI32(1, 4), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := shpOut(model.Float32)
			err := shpRun(shpKernel(t, model.OpSlice), model.OpSlice, nil, []*Tensor{x(), tt.begin, tt.size}, []*Tensor{out}, 1)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Slice = %v, want error", out.Shape)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape, tt.shape) || !slices.Equal(out.F32(), tt.want) {
				t.Fatalf("Slice = %v %v, want %v %v", out.Shape, out.F32(), tt.shape, tt.want)
			}
		})
	}
}

func TestShapeStridedSlice(t *testing.T) {
	v10 := func() *Tensor { return shpT(model.Float32, []int{10}, shpSeq(10)) }
	m34 := func() *Tensor { return shpT(model.Float32, []int{3, 4}, shpSeq(12)) }
	c234 := func() *Tensor { return shpT(model.Float32, []int{2, 3, 4}, shpSeq(24)) }
	type ss = model.StridedSliceOptions
	tests := []struct {
		name               string
		in                 *Tensor
		begin, end, stride *Tensor
		opts               ss
		shape              []int
		want               []float32
		wantErr            bool
	}{
		{name: "stride 3", in: v10(), begin: shpI32(1), end: shpI32(8), stride: shpI32(3), shape: []int{3}, want: []float32{1, 4, 7}},
		{name: "negative stride", in: v10(), begin: shpI32(8), end: shpI32(1), stride: shpI32(-3), shape: []int{3}, want: []float32{8, 5, 2}},
		{name: "begin mask negative stride", in: v10(), begin: shpI32(0), end: shpI32(0), stride: shpI32(-1), opts: ss{BeginMask: 1}, shape: []int{9}, want: []float32{9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{name: "end mask negative stride", in: v10(), begin: shpI32(5), end: shpI32(0), stride: shpI32(-2), opts: ss{EndMask: 1}, shape: []int{3}, want: []float32{5, 3, 1}},
		{name: "reverse all", in: v10(), begin: shpI32(0), end: shpI32(0), stride: shpI32(-1), opts: ss{BeginMask: 1, EndMask: 1}, shape: []int{10}, want: []float32{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{name: "negative indices", in: v10(), begin: shpI32(-3), end: shpI32(-1), stride: shpI32(1), shape: []int{2}, want: []float32{7, 8}},
		{name: "clamped range", in: v10(), begin: shpI32(-20), end: shpI32(20), stride: shpI32(4), shape: []int{3}, want: []float32{0, 4, 8}},
		{name: "empty", in: v10(), begin: shpI32(5), end: shpI32(2), stride: shpI32(1), shape: []int{0}, want: []float32{}},
		{name: "offset", in: v10(), begin: shpI32(2), end: shpI32(3), stride: shpI32(1), opts: ss{Offset: true}, shape: []int{3}, want: []float32{2, 3, 4}},
		{name: "shrink row", in: m34(), begin: shpI32(1, 0), end: shpI32(2, 4), stride: shpI32(1, 1), opts: ss{ShrinkAxisMask: 1}, shape: []int{4}, want: []float32{4, 5, 6, 7}},
		{name: "shrink negative index", in: m34(), begin: shpI32(-1, 0), end: shpI32(0, 4), stride: shpI32(1, 1), opts: ss{ShrinkAxisMask: 1}, shape: []int{4}, want: []float32{8, 9, 10, 11}},
		{name: "shrink both", in: m34(), begin: shpI32(2, -2), end: shpI32(0, 0), stride: shpI32(1, 1), opts: ss{ShrinkAxisMask: 3}, shape: []int{}, want: []float32{10}},
		{name: "2d negative strides", in: m34(), begin: shpI32(-1, -1), end: shpI32(0, 0), stride: shpI32(-2, -3), opts: ss{EndMask: 3}, shape: []int{2, 2}, want: []float32{11, 8, 3, 0}},
		{name: "fewer indices than dims", in: m34(), begin: shpI32(1), end: shpI32(3), stride: shpI32(1), shape: []int{2, 4}, want: []float32{4, 5, 6, 7, 8, 9, 10, 11}},
		{name: "ellipsis", in: c234(), begin: shpI32(0, 1), end: shpI32(0, 3), stride: shpI32(1, 1), opts: ss{EllipsisMask: 1}, shape: []int{2, 3, 2},
			want: []float32{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22}},
		{name: "new axis front", in: m34(), begin: shpI32(0, 0, 0), end: shpI32(0, 0, 0), stride: shpI32(1, 1, 1), opts: ss{NewAxisMask: 1, BeginMask: 6, EndMask: 6}, shape: []int{1, 3, 4}, want: shpSeq(12)},
		{name: "shrink new axis stride", in: m34(), begin: shpI32(1, 0, 0), end: shpI32(2, 0, 0), stride: shpI32(1, 1, 2), opts: ss{ShrinkAxisMask: 1, NewAxisMask: 2, BeginMask: 4, EndMask: 4}, shape: []int{1, 2}, want: []float32{4, 6}},
		{name: "ellipsis then new axis", in: m34(), begin: shpI32(0, 0), end: shpI32(0, 0), stride: shpI32(1, 1), opts: ss{EllipsisMask: 1, NewAxisMask: 2}, shape: []int{3, 4, 1}, want: shpSeq(12)},
		{name: "zero stride", in: v10(), begin: shpI32(0), end: shpI32(3), stride: shpI32(0), wantErr: true},
		{name: "shrink out of range", in: v10(), begin: shpI32(10), end: shpI32(11), stride: shpI32(1), opts: ss{ShrinkAxisMask: 1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := shpOut(model.Float32)
			opts := tt.opts
			err := shpRun(shpKernel(t, model.OpStridedSlice), model.OpStridedSlice, &opts, []*Tensor{tt.in, tt.begin, tt.end, tt.stride}, []*Tensor{out}, 1)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("StridedSlice = %v, want error", out.Shape)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape, tt.shape) || !slices.Equal(out.F32(), tt.want) {
				t.Fatalf("StridedSlice = %v %v, want %v %v", out.Shape, out.F32(), tt.shape, tt.want)
			}
		})
	}
}

// pySliceIndices lists the indices Python's slicing selects for one axis,
// the semantics TFLite's begin/end/stride clamping reproduces.
func pySliceIndices(n, b, e, s int, beginMasked, endMasked bool) []int {
	norm := func(v, lo, hi int) int {
		if v < 0 {
			v += n
		}
		return min(max(v, lo), hi)
	}
	var start, stop int
	if s > 0 {
		start, stop = norm(b, 0, n), norm(e, 0, n)
		if beginMasked {
			start = 0
		}
		if endMasked {
			stop = n
		}
	} else {
		start, stop = norm(b, -1, n-1), norm(e, -1, n-1)
		if beginMasked {
			start = n - 1
		}
		if endMasked {
			stop = -1
		}
	}
	var idx []int
	for i := start; (s > 0 && i < stop) || (s < 0 && i > stop); i += s {
		idx = append(idx, i)
	}
	return idx
}

func TestShapeStridedSliceRandom(t *testing.T) {
	r := &shpRand{s: 7}
	for iter := 0; iter < 300; iter++ {
		rank := 1 + r.intn(4)
		shape := r.shape(rank, 5)
		in := shpT(model.Int32, shape, nil)
		for i := range in.I32() {
			in.I32()[i] = int32(i)
		}
		begin, end, stride := make([]int32, rank), make([]int32, rank), make([]int32, rank)
		var o model.StridedSliceOptions
		sel := make([][]int, rank)
		var outShape []int
		for d := 0; d < rank; d++ {
			n := shape[d]
			begin[d] = int32(r.intn(2*n+5) - n - 2)
			end[d] = int32(r.intn(2*n+5) - n - 2)
			stride[d] = int32(1 + r.intn(3))
			if r.intn(2) == 0 {
				stride[d] = -stride[d]
			}
			bm, em := r.intn(4) == 0, r.intn(4) == 0
			if bm {
				o.BeginMask |= 1 << d
			}
			if em {
				o.EndMask |= 1 << d
			}
			if r.intn(5) == 0 {
				// Converters emit positive strides on shrunk axes; TFLite
				// copies nothing for a negative one.
				o.ShrinkAxisMask |= 1 << d
				stride[d] = int32(1 + r.intn(3))
				begin[d] = int32(r.intn(2*n) - n)
				b := int(begin[d])
				if b < 0 {
					b += n
				}
				sel[d] = []int{b}
				o.BeginMask &^= 1 << d
				continue
			}
			sel[d] = pySliceIndices(n, int(begin[d]), int(end[d]), int(stride[d]), bm, em)
			outShape = append(outShape, len(sel[d]))
		}
		var want []int32
		idx := make([]int, rank)
		var walk func(d int)
		walk = func(d int) {
			if d == rank {
				want = append(want, int32(shpIndex(shape, idx)))
				return
			}
			for _, i := range sel[d] {
				idx[d] = i
				walk(d + 1)
			}
		}
		walk(0)
		out := shpOut(model.Int32)
		err := shpRun(shpKernel(t, model.OpStridedSlice), model.OpStridedSlice, &o,
			[]*Tensor{in, shpI32(begin...), shpI32(end...), shpI32(stride...)}, []*Tensor{out}, 1)
		if err != nil {
			t.Fatalf("StridedSlice(%v, begin %v end %v strides %v %+v): %v", shape, begin, end, stride, o, err)
		}
		if !slices.Equal(out.Shape, outShape) || !slices.Equal(out.I32(), want) {
			t.Fatalf("StridedSlice(%v, begin %v end %v strides %v %+v) = %v %v, want %v %v",
				shape, begin, end, stride, o, out.Shape, out.I32(), outShape, want)
		}
	}
}

// FuzzShapeStridedSlice checks that any masks and indices either fail in
// Prepare or produce an output whose copy stays inside the input.
func FuzzShapeStridedSlice(f *testing.F) {
	f.Add(int32(1), int32(8), int32(3), int32(0), int32(0), int32(0), int32(0), int32(0), false)
	f.Add(int32(-1), int32(0), int32(-2), int32(1), int32(2), int32(1), int32(2), int32(0), false)
	f.Add(int32(0), int32(2), int32(1), int32(0), int32(0), int32(0), int32(1), int32(2), true)
	f.Fuzz(func(t *testing.T, b, e, s, bm, em, ell, na, sh int32, offset bool) {
		in := shpT(model.Int32, []int{3, 4, 2}, nil)
		for i := range in.I32() {
			in.I32()[i] = int32(i)
		}
		o := &model.StridedSliceOptions{BeginMask: bm & 7, EndMask: em & 7, EllipsisMask: ell & 7, NewAxisMask: na & 7, ShrinkAxisMask: sh & 7, Offset: offset}
		out := shpOut(model.Int32)
		k := &stridedSliceKernel{}
		ctx := NewContext(1)
		defer ctx.Close()
		n := &Node{Options: o, Inputs: []*Tensor{in, shpI32(b, e%7, 1), shpI32(e, b%5, 3), shpI32(s, 1, -1)}, Outputs: []*Tensor{out}}
		if err := k.Prepare(ctx, n); err != nil {
			return
		}
		out.Data = AlignedBytes(out.Bytes())
		if k.plan.count() != out.NumElements() {
			t.Fatalf("plan copies %d elements into output %v", k.plan.count(), out.Shape)
		}
		if err := k.Eval(ctx, n); err != nil {
			t.Fatal(err)
		}
		for _, v := range out.I32() {
			if v < 0 || v >= 24 {
				t.Fatalf("output value %d not taken from the input", v)
			}
		}
	})
}

func TestShapeGather(t *testing.T) {
	p32 := func() *Tensor { return shpT(model.Float32, []int{3, 2}, []float32{1, 2, 3, 4, 5, 6}) }
	tests := []struct {
		name    string
		params  *Tensor
		indices *Tensor
		opts    *model.GatherOptions
		shape   []int
		want    []float32
		wantErr bool
	}{
		{name: "axis 0", params: p32(), indices: shpT(model.Int32, []int{2}, []int32{2, 0}), opts: &model.GatherOptions{}, shape: []int{2, 2}, want: []float32{5, 6, 1, 2}},
		{name: "axis 1 int64", params: p32(), indices: shpT(model.Int64, []int{1}, []int64{1}), opts: &model.GatherOptions{Axis: 1}, shape: []int{3, 1}, want: []float32{2, 4, 6}},
		{name: "axis -1 matrix indices", params: p32(), indices: shpT(model.Int32, []int{2, 2}, []int32{1, 0, 0, 0}), opts: &model.GatherOptions{Axis: -1}, shape: []int{3, 2, 2},
			want: []float32{2, 1, 1, 1, 4, 3, 3, 3, 6, 5, 5, 5}},
		{name: "scalar index", params: p32(), indices: shpT(model.Int32, []int{}, []int32{1}), opts: &model.GatherOptions{}, shape: []int{2}, want: []float32{3, 4}},
		{name: "batch dims", params: shpT(model.Float32, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}), indices: shpT(model.Int32, []int{2, 2}, []int32{2, 0, 1, 1}),
			opts: &model.GatherOptions{Axis: 1, BatchDims: 1}, shape: []int{2, 2}, want: []float32{3, 1, 5, 5}},
		{name: "index too large", params: p32(), indices: shpT(model.Int32, []int{1}, []int32{3}), opts: &model.GatherOptions{}, wantErr: true},
		{name: "negative index", params: p32(), indices: shpT(model.Int64, []int{1}, []int64{-1}), opts: &model.GatherOptions{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := shpOut(model.Float32)
			err := shpRun(shpKernel(t, model.OpGather), model.OpGather, tt.opts, []*Tensor{tt.params, tt.indices}, []*Tensor{out}, 1)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Gather = %v, want error", out.F32())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape, tt.shape) || !slices.Equal(out.F32(), tt.want) {
				t.Fatalf("Gather = %v %v, want %v %v", out.Shape, out.F32(), tt.shape, tt.want)
			}
		})
	}
}

func TestShapeTile(t *testing.T) {
	in := shpT(model.Int16, []int{2, 3}, []int16{1, 2, 3, 4, 5, 6})
	out := shpOut(model.Int16)
	if err := shpRun(shpKernel(t, model.OpTile), model.OpTile, nil, []*Tensor{in, shpI32(2, 2)}, []*Tensor{out}, 1); err != nil {
		t.Fatal(err)
	}
	want := []int16{
		1, 2, 3, 1, 2, 3,
		4, 5, 6, 4, 5, 6,
		1, 2, 3, 1, 2, 3,
		4, 5, 6, 4, 5, 6,
	}
	if !slices.Equal(out.Shape, []int{4, 6}) || !slices.Equal(out.I16(), want) {
		t.Fatalf("Tile = %v %v, want [4 6] %v", out.Shape, out.I16(), want)
	}
	in3 := shpT(model.Float32, []int{2, 1, 2}, shpSeq(4))
	out3 := shpOut(model.Float32)
	if err := shpRun(shpKernel(t, model.OpTile), model.OpTile, nil, []*Tensor{in3, shpI32(1, 3, 1)}, []*Tensor{out3}, 1); err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3}; !slices.Equal(out3.F32(), want) {
		t.Fatalf("Tile 3-D = %v, want %v", out3.F32(), want)
	}
}

func TestShapeUnsupportedType(t *testing.T) {
	in := &Tensor{Name: "s", Type: model.String, Shape: []int{2}}
	err := shpRun(shpKernel(t, model.OpReshape), model.OpReshape, nil, []*Tensor{in, shpI32(2)}, []*Tensor{shpOut(model.String)}, 1)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Reshape of string = %v, want ErrUnsupported", err)
	}
}
