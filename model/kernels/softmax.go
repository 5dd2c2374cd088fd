package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// softmaxKernel implements SOFTMAX over the last dimension.
//
// float32 subtracts the row maximum, exponentiates in float32 (exp32, on
// SIMD at levels above generic) and normalises with a float64 sum.
// Quantized inputs (int8, uint8) follow the TFLite runtime's optimized
// kernel: a 256-entry float table of exp(-scale·beta·d) indexed by the
// distance d from the row maximum, a float32 sum, and rounding of
// probability/output_scale. Outputs may be the input's type or int16.
type softmaxKernel struct {
	inType, outType model.TensorType
	beta            float32
	rows, depth     int

	table      [256]float32
	outScale   float32
	outZp      int32
	qmin, qmax int32

	// expArgs is the argument block of the SIMD exponentials of float
	// rows, or nil.
	expArgs *ewUnaryArgs

	in, out []byte
	body    func(lo, hi int)
}

func newSoftmax() Kernel { return &softmaxKernel{} }

func (k *softmaxKernel) Prepare(ctx *Context, n *Node) error {
	if err := ewCheckIO(n, 1, 1); err != nil {
		return err
	}
	in, out := n.Inputs[0], n.Outputs[0]
	k.beta = 1
	if o, ok := n.Options.(*model.SoftmaxOptions); ok {
		k.beta = o.Beta
	}
	if len(in.Shape) < 1 {
		return errorf("input %v: want rank >= 1", in.Shape)
	}
	k.inType, k.outType = in.Type, out.Type
	k.depth = in.Shape[len(in.Shape)-1]
	if k.depth == 0 {
		k.rows = 0
	} else {
		k.rows = in.NumElements() / k.depth
	}
	ewSetShape(out, in.Shape)
	k.body = k.chunk
	switch {
	case k.inType == model.Float32 && k.outType == model.Float32:
		if ctx.level().runs(familyFloat) {
			k.expArgs = ewSoftmaxExpArgs()
		}
		return nil
	case (k.inType == model.Int8 || k.inType == model.Uint8) && (k.outType == k.inType || k.outType == model.Int16):
	default:
		return unsupportedf("SOFTMAX from %s to %s", k.inType, k.outType)
	}
	if err := ewCheckQuantized("input", in); err != nil {
		return err
	}
	if err := ewCheckQuantized("output", out); err != nil {
		return err
	}
	scale := -float32(in.Scale()) * k.beta
	for d := 0; d < 256; d++ {
		k.table[255-d] = float32(math.Exp(float64(scale * float32(d))))
	}
	k.outScale = float32(out.Scale())
	k.outZp = out.ZeroPoint()
	k.qmin, k.qmax = QuantRange(k.outType)
	return nil
}

func (k *softmaxKernel) Eval(ctx *Context, n *Node) error {
	k.in, k.out = n.Inputs[0].Data, n.Outputs[0].Data
	if ctx != nil && ctx.Threads > 1 && k.rows > 1 && k.rows*k.depth >= ewParallelMin/4 {
		ctx.ParallelFor(k.rows, k.body)
	} else {
		k.body(0, k.rows)
	}
	return nil
}

// chunk normalises rows [lo, hi).
func (k *softmaxKernel) chunk(lo, hi int) {
	d := k.depth
	for r := lo; r < hi; r++ {
		s, e := r*d, (r+1)*d
		switch k.inType {
		case model.Float32:
			ewSoftmaxF32(view[float32](k.out)[s:e], view[float32](k.in)[s:e], k.beta, k.expArgs)
		case model.Int8:
			ewSoftmaxQuantRow(k, view[int8](k.in)[s:e], s)
		case model.Uint8:
			ewSoftmaxQuantRow(k, k.in[s:e], s)
		}
	}
}

// ewSoftmaxF32 computes one float row: e = exp32((x − max)·beta) in
// float32 (whole steps of eight on the SIMD loop when args is not nil:
// the same bits), their sum in float64 with four accumulators, then each
// e times the sum's inverse.
func ewSoftmaxF32(dst, src []float32, beta float32, args *ewUnaryArgs) {
	// A NaN is never the maximum here, but its exponential makes the sum
	// and so the whole row NaN all the same.
	m := float32(math.Inf(-1))
	for _, x := range src {
		if x > m {
			m = x
		}
	}
	done := 0
	if n8 := len(src) &^ 7; args != nil && n8 > 0 {
		a := *args
		a[0], a[1] = m, beta
		ewF32UnaryRun(ewSoftmaxExpCode, &dst[0], &src[0], n8, &a)
		done = n8
	}
	for i := done; i < len(src); i++ {
		dst[i] = exp32((src[i] - m) * beta)
	}
	var s [4]float64
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		s[0] += float64(dst[i])
		s[1] += float64(dst[i+1])
		s[2] += float64(dst[i+2])
		s[3] += float64(dst[i+3])
	}
	for ; i < len(dst); i++ {
		s[i&3] += float64(dst[i])
	}
	inv := float32(1 / ((s[0] + s[1]) + (s[2] + s[3])))
	for i := range dst {
		dst[i] *= inv
	}
}

// ewSoftmaxQuantRow computes one quantized row; o is the row's first output
// element.
func ewSoftmaxQuantRow[T int8 | uint8](k *softmaxKernel, src []T, o int) {
	mx := int32(src[0])
	for _, v := range src[1:] {
		mx = max(mx, int32(v))
	}
	var sum float32
	for _, v := range src {
		sum += k.table[255-mx+int32(v)]
	}
	inv := 1 / (sum * k.outScale)
	n := len(src)
	switch k.outType {
	case model.Uint8:
		dst := k.out[o : o+n]
		for i, v := range src {
			p := k.table[255-mx+int32(v)] * inv
			// The x86 runtime truncates p+0.5 for uint8 outputs.
			q := int32(min(p+0.5, 1<<20))
			dst[i] = uint8(Clamp32(q, k.qmin, k.qmax))
		}
	case model.Int8:
		ewSoftmaxRound(k, view[int8](k.out)[o:o+n], src, mx, inv)
	case model.Int16:
		ewSoftmaxRound(k, view[int16](k.out)[o:o+n], src, mx, inv)
	}
}

// ewSoftmaxRound writes the probabilities of src, whose maximum is mx,
// times inv, rounded half away from zero, to dst.
func ewSoftmaxRound[O int8 | int16, T int8 | uint8](k *softmaxKernel, dst []O, src []T, mx int32, inv float32) {
	for i, v := range src {
		p := k.table[255-mx+int32(v)] * inv
		q := int32(math.Round(float64(min(p, 1<<20)))) + k.outZp
		dst[i] = O(Clamp32(q, k.qmin, k.qmax))
	}
}
