package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// depthwiseConv implements DEPTHWISE_CONV_2D: inputs (input NHWC, filter
// [1][kh][kw][in·multiplier], optional bias), one NHWC output whose channel
// ic·multiplier+j sees only input channel ic.
//
// Interior and border pixels run the same inner loop: padding is a pad
// value rather than a skipped tap. For quantized types the pad value is the
// input zero point: with the sum rewritten as Σ x·w' + inOff·Σw' (w' the
// offset filter), a zero-point pad contributes exactly nothing, as TFLite's
// skipped taps do. With multiplier one, float32 and 8-bit data run on the
// padded float copy of depthwise_fast.go; otherwise (multipliers above one,
// int16, or 8-bit filters too large for exact float sums) each output pixel
// first resolves its taps to input pixels or a pad row, then accumulates
// four channels at a time in integers.
type depthwiseConv struct {
	// rounding selects the 8-bit requantization; int16 always uses the
	// reference arithmetic, which TFLite's runtime also runs for it.
	rounding convRounding
	// intOnly keeps 8-bit data off the exact float path (tests cover both).
	intOnly bool
	level   Level
	geo     convGeometry
	mult    int
	taps    int
	eval    func(ctx *Context, n *Node) error
	// offs holds one tap table per worker part.
	offs [][]int
	// rel is every tap's offset from the window's first input pixel, for
	// windows wholly inside the input.
	rel []int
}

func newDepthwiseConv() Kernel { return &depthwiseConv{} }

func (d *depthwiseConv) Prepare(ctx *Context, n *Node) error {
	d.rounding, d.level = ctx.rounding(), ctx.level()
	g := &d.geo
	op, err := g.setup(n, true)
	if err != nil {
		return err
	}
	// The multiplier follows from the shapes; converters have written
	// inconsistent option values.
	if g.outC%g.inC != 0 {
		return errorf("filter channels %d are not a multiple of input channels %d", g.outC, g.inC)
	}
	d.mult = g.outC / g.inC
	d.taps = g.filterH * g.filterW
	d.offs = make([][]int, convWorkers(ctx, g.batches*g.outH*g.outW*g.outC*d.taps))
	for i := range d.offs {
		d.offs[i] = make([]int, d.taps)
	}
	d.rel = make([]int, 0, d.taps)
	for ky := range g.filterH {
		for kx := range g.filterW {
			d.rel = append(d.rel, (ky*g.dilationH*g.inW+kx*g.dilationW)*g.inC)
		}
	}
	switch op.kind {
	case convKindF32:
		return d.prepareF32(ctx, op.filter, op.bias, op.act)
	case convKindQ8:
		return d.prepareQ8(ctx, op.in, op.filter, op.bias, op.out, op.act)
	}
	return d.prepareI16(op.in, op.filter, op.bias, op.out, op.act)
}

func (d *depthwiseConv) Eval(ctx *Context, n *Node) error { return d.eval(ctx, n) }

// tapOffsets fills offs with the element offset of the input pixel under
// each filter tap for output pixel (b, oy, ox), or -1 for padding.
func (d *depthwiseConv) tapOffsets(offs []int, b, oy, ox int) {
	g := &d.geo
	iy0 := oy*g.strideH - g.padTop
	ix0 := ox*g.strideW - g.padLeft
	if iy0 >= 0 && ix0 >= 0 && iy0+(g.filterH-1)*g.dilationH < g.inH && ix0+(g.filterW-1)*g.dilationW < g.inW {
		base := ((b*g.inH+iy0)*g.inW + ix0) * g.inC
		for t, r := range d.rel {
			offs[t] = base + r
		}
		return
	}
	t := 0
	for ky := 0; ky < g.filterH; ky++ {
		iy := iy0 + ky*g.dilationH
		rowOK := iy >= 0 && iy < g.inH
		base := (b*g.inH + iy) * g.inW
		for kx := 0; kx < g.filterW; kx++ {
			ix := ix0 + kx*g.dilationW
			if rowOK && ix >= 0 && ix < g.inW {
				offs[t] = (base + ix) * g.inC
			} else {
				offs[t] = -1
			}
			t++
		}
	}
}

// rows runs fn over the output rows (batch·height) by parts, each with
// its own scratch.
func (d *depthwiseConv) rows(parts int, fn func(p, b, oy int)) convRows {
	g := &d.geo
	return dwSplit(parts, g.batches*g.outH, func(p, lo, hi int) {
		for r := lo; r < hi; r++ {
			fn(p, r/g.outH, r%g.outH)
		}
	})
}

// dwSplit cuts total units into one chunk per part: each part then
// converts the input of its rows once, in bands (see dwPadded), where
// small chunks claimed by whoever came first would convert the rows
// around every chunk's edges again.
func dwSplit(parts, total int, fn func(p, lo, hi int)) convRows {
	return convRows{parts: parts, m: total, grain: (total + parts - 1) / max(parts, 1), fn: fn}
}

// bands runs row over the output rows by parts, each part converting the
// input of a band of its rows into its strip of f before computing them;
// n > 1 cuts every row into n channel slices (dwSlices), so that layers
// with few rows still give each part an even share.
func (d *depthwiseConv) bands(parts int, f *dwPadded, n int, fillRow func(dst []float32, b, iy int),
	row func(p int, st *dwStrip, b, oy, ch0, ch1 int)) convRows {
	g := &d.geo
	return dwSplit(parts, g.batches*g.outH*n, func(p, lo, hi int) {
		st := &f.strips[p]
		last := (hi - 1) / n
		for r := lo / n; r <= last; {
			b, oy := r/g.outH, r%g.outH
			end := min(last+1, (b+1)*g.outH, r+f.band)
			st.load(b, oy, oy+end-r, fillRow)
			for ; r < end; r++ {
				for u := max(lo, r*n); u < min(hi, (r+1)*n); u++ {
					ch0, ch1 := dwSlice(g.outC, n, u%n)
					row(p, st, b, r%g.outH, ch0, ch1)
				}
			}
		}
	})
}

// 8-bit depthwise convolution.

type dwQ8State struct {
	w        []int32 // filter values plus filter offset, [tap][outC]
	colBase  []int32 // inOff·Σw' per channel
	colConst []int32 // colBase + bias
	quant    convQuant
	pad      []byte
	acc      [][]int32 // per part, for multipliers above one
	bias     *Tensor   // refreshed at Eval when not constant
	in, out  []byte
	run      convRows
	fast     *dwPadded   // the exact float path, or nil
	accF     [][]float32 // per part, for the float path
	// constF is colConst as float32, set when every value is exact in
	// float32 (see dwSetConstF); the float path then adds it to its exact
	// sums in floating point, saving two conversions per output.
	constF []float32
	rq     q8Requant // the runtime rounding's constants, for SIMD kernels
	// xs, per part, holds one pixel's input values under every tap for
	// the SIMD multiplier kernel (set when it runs).
	xs [][]int32
}

// dwSetConstF refreshes constF from colConst, or clears it when a
// constant lies beyond ±2^24, where float32 would round it. With exact
// operands, float32(sum + constant) rounds the exact integer once, as
// converting the integer sum does.
func (s *dwQ8State) dwSetConstF() {
	s.constF = s.constF[:cap(s.constF)]
	for c, v := range s.colConst {
		if v > 1<<24 || v < -1<<24 {
			s.constF = s.constF[:0]
			return
		}
		s.constF[c] = float32(v)
	}
}

func (d *depthwiseConv) prepareQ8(ctx *Context, in, filter, bias, out *Tensor, act model.Activation) error {
	g := &d.geo
	p, err := newConvQ8Params(in, filter, bias, out, g.outC, 3, d.rounding, act)
	if err != nil {
		return err
	}
	quant, biasVals, unsigned, fOff := p.quant, p.bias, p.unsigned, p.filterOffset
	inOff := -in.ZeroPoint()
	s := &dwQ8State{
		w:        make([]int32, d.taps*g.outC),
		colBase:  make([]int32, g.outC),
		colConst: make([]int32, g.outC),
		quant:    quant,
		pad:      make([]byte, g.inC),
	}
	for i, x := range filter.Data[:d.taps*g.outC] {
		if unsigned {
			s.w[i] = int32(x) + fOff
		} else {
			s.w[i] = int32(int8(x)) + fOff
		}
		s.colBase[i%g.outC] += s.w[i]
	}
	for c := range s.colBase {
		s.colBase[c] *= inOff
		s.colConst[c] = s.colBase[c]
		if biasVals != nil && bias.Const {
			s.colConst[c] += biasVals[c]
		}
	}
	if bias != nil && !bias.Const {
		s.bias = bias
	}
	for i := range s.pad {
		s.pad[i] = byte(in.ZeroPoint())
	}
	if d.mult > 1 {
		s.acc = make([][]int32, len(d.offs))
		for i := range s.acc {
			s.acc[i] = make([]int32, g.outC)
		}
		if d.level.avx2() && d.mult%8 == 0 {
			s.xs = make([][]int32, len(d.offs))
			for i := range s.xs {
				s.xs[i] = make([]int32, d.taps*g.inC)
			}
		}
	}
	// The float path is exact while taps·max|x|·max|w'| < 2^24.
	maxX, maxW := int64(128), int64(0)
	if unsigned {
		maxX = 255
	}
	for _, w := range s.w {
		maxW = max(maxW, int64(w), -int64(w))
	}
	if d.mult == 1 && !d.intOnly && int64(d.taps)*maxX*maxW < 1<<24 {
		wf := make([]float32, len(s.w))
		for i, w := range s.w {
			wf[i] = float32(w)
		}
		s.fast = newDWPadded(ctx, g, len(d.offs), wf, float32(in.ZeroPoint()))
		s.constF = make([]float32, g.outC)
		s.dwSetConstF()
		s.accF = make([][]float32, len(d.offs))
		for i := range s.accF {
			s.accF[i] = make([]float32, g.outC)
		}
	}
	s.rq = q8Requant{zp: quant.outZP, lo: quant.lo, hi: quant.hi}
	wide := d.level.runs(familyDepthwiseQ8) && s.fast != nil && quant.rounding == convRoundRuntime
	// fillRow converts input row iy of batch b into a strip.
	inRow := func(b, iy int) []byte { return s.in[(b*g.inH+iy)*g.inW*g.inC:] }
	parts := len(d.offs)
	switch {
	case wide:
		fillRow := func(dst []float32, b, iy int) { dwFillRowQ8Wide[int8](dst, inRow(b, iy)) }
		if unsigned {
			fillRow = func(dst []float32, b, iy int) { dwFillRowQ8Wide[uint8](dst, inRow(b, iy)) }
		}
		s.run = d.bands(parts, s.fast, dwSlices(g.batches*g.outH, g.outC, parts), fillRow,
			func(_ int, st *dwStrip, b, oy, ch0, ch1 int) { dwFastRowQ8Wide(d, s, st, b, oy, ch0, ch1) })
	case s.fast != nil:
		fillRow := func(dst []float32, b, iy int) { dwFillRowQ8[int8](dst, inRow(b, iy)) }
		if unsigned {
			fillRow = func(dst []float32, b, iy int) { dwFillRowQ8[uint8](dst, inRow(b, iy)) }
		}
		s.run = d.bands(parts, s.fast, 1, fillRow, func(p int, st *dwStrip, b, oy, _, _ int) { dwFastRowQ8(d, s, st, p, b, oy) })
	case unsigned:
		s.run = d.rows(parts, func(p, b, oy int) { dwQ8Row[uint8](d, s, p, b, oy) })
	default:
		s.run = d.rows(parts, func(p, b, oy int) { dwQ8Row[int8](d, s, p, b, oy) })
	}
	d.eval = func(ctx *Context, n *Node) error {
		if s.bias != nil {
			for c, b := range s.bias.I32()[:g.outC] {
				s.colConst[c] = s.colBase[c] + b
			}
			if s.fast != nil {
				s.dwSetConstF()
			}
		}
		s.in, s.out = n.Inputs[0].Data, n.Outputs[0].Data
		return dwRun(ctx, s.fast, &s.run)
	}
	return nil
}

// dwRun gives the parts their strips, when the layer uses them, and runs
// the rows on ctx's threads.
func dwRun(ctx *Context, f *dwPadded, run *convRows) error {
	if f != nil {
		f.attach(ctx)
	}
	run.on(ctx)
	return nil
}

// dwFastRowQ8 computes output row oy of batch b on the float path.
func dwFastRowQ8(d *depthwiseConv, s *dwQ8State, f *dwStrip, p, b, oy int) {
	g := &d.geo
	c := g.outC
	acc := s.accF[p][:c]
	cc := s.colConst[:c]
	q := &s.quant
	runtime := q.rounding == convRoundRuntime
	if runtime && c%4 == 0 && len(s.constF) == c {
		dwFastRowQ8F(d, s, f, b, oy)
		return
	}
	off, lo, hi := int64(q.outZP)-convMagicBits, int64(q.lo), int64(q.hi)
	last := f.tapOff[len(f.tapOff)-1] + c
	for ox := 0; ox < g.outW; ox++ {
		base := f.base(g, oy, ox)
		x := f.buf[base : base+last]
		o := s.out[((b*g.outH+oy)*g.outW+ox)*c:][:c]
		ch := 0
		if runtime {
			// Four channels at a time, requantized straight from registers.
			for ; ch+4 <= c; ch += 4 {
				a0, a1, a2, a3 := dwSum4(&x[ch], &f.w[ch], f.tapOff, c)
				dwRequant4((*[4]byte)(o[ch:]), (*[4]int32)(cc[ch:]), (*[4]float32)(q.scale[ch:]),
					off, lo, hi, a0, a1, a2, a3)
			}
		}
		if ch == c {
			continue
		}
		f.pixel(base, acc)
		for ; ch < c; ch++ {
			o[ch] = byte(q.round(int32(acc[ch])+cc[ch], ch))
		}
	}
}

// dwRequant4 requantizes four exact float sums with the runtime rounding.
func dwRequant4(o *[4]byte, cc *[4]int32, sc *[4]float32, off, lo, hi int64, a0, a1, a2, a3 float32) {
	o[0] = byte(min(max(convRoundBits(int32(a0)+cc[0], sc[0])+off, lo), hi))
	o[1] = byte(min(max(convRoundBits(int32(a1)+cc[1], sc[1])+off, lo), hi))
	o[2] = byte(min(max(convRoundBits(int32(a2)+cc[2], sc[2])+off, lo), hi))
	o[3] = byte(min(max(convRoundBits(int32(a3)+cc[3], sc[3])+off, lo), hi))
}

// dwFastRowQ8F is dwFastRowQ8 with the runtime rounding, whole groups of
// four channels and float constants. Kept apart: the extra case in
// dwFastRowQ8 makes its register allocator spill.
func dwFastRowQ8F(d *depthwiseConv, s *dwQ8State, f *dwStrip, b, oy int) {
	g := &d.geo
	c := g.outC
	cf := s.constF[:c]
	sc := s.quant.scale[:c]
	off, lo, hi := int64(s.quant.outZP)-convMagicBits, int64(s.quant.lo), int64(s.quant.hi)
	last := f.tapOff[len(f.tapOff)-1] + c
	for ox := 0; ox < g.outW; ox++ {
		base := f.base(g, oy, ox)
		x := f.buf[base : base+last]
		o := s.out[((b*g.outH+oy)*g.outW+ox)*c:][:c]
		for ch := 0; ch+4 <= c; ch += 4 {
			a0, a1, a2, a3 := dwSum4(&x[ch], &f.w[ch], f.tapOff, c)
			dwRequant4F((*[4]byte)(o[ch:]), (*[4]float32)(cf[ch:]), (*[4]float32)(sc[ch:]),
				off, lo, hi, a0, a1, a2, a3)
		}
	}
}

// dwRequant4F is dwRequant4 with the channel constants as exact float32
// values.
func dwRequant4F(o *[4]byte, cf, sc *[4]float32, off, lo, hi int64, a0, a1, a2, a3 float32) {
	o[0] = byte(min(max(dwRoundBitsF(a0+cf[0], sc[0])+off, lo), hi))
	o[1] = byte(min(max(dwRoundBitsF(a1+cf[1], sc[1])+off, lo), hi))
	o[2] = byte(min(max(dwRoundBitsF(a2+cf[2], sc[2])+off, lo), hi))
	o[3] = byte(min(max(dwRoundBitsF(a3+cf[3], sc[3])+off, lo), hi))
}

// dwRoundBitsF is convRoundBits for an integer-valued float32 sum.
func dwRoundBitsF(acc, scale float32) int64 {
	// Both conversions keep each operation rounded to float32.
	f := float32(float32(acc) * scale)
	return int64(math.Float64bits(float64(f) + convMagic))
}

// dwQ8Row computes output row oy of batch b.
func dwQ8Row[T int8 | uint8](d *depthwiseConv, s *dwQ8State, p, b, oy int) {
	g := &d.geo
	offs := d.offs[p]
	c := g.outC
	for ox := 0; ox < g.outW; ox++ {
		d.tapOffsets(offs, b, oy, ox)
		o := s.out[((b*g.outH+oy)*g.outW+ox)*c:][:c]
		switch {
		case d.mult == 1:
			dwQ8Pixel[T](s, offs, o)
		case s.xs != nil:
			dwQ8PixelMultWide[T](s, offs, d.mult, s.acc[p], s.xs[p], o)
		default:
			dwQ8PixelMult[T](s, offs, d.mult, s.acc[p], o)
		}
	}
}

// dwQ8Pixel computes one output pixel with multiplier one.
func dwQ8Pixel[T int8 | uint8](s *dwQ8State, offs []int, out []byte) {
	c := len(out)
	in, pad, w := s.in, s.pad, s.w
	cc := s.colConst[:c]
	q := &s.quant
	ch := 0
	for ; ch+4 <= c; ch += 4 {
		var a0, a1, a2, a3 int32
		for t, off := range offs {
			src := pad
			if off >= 0 {
				src = in[off:]
			}
			x := src[ch : ch+4 : ch+4]
			wt := w[t*c+ch : t*c+ch+4 : t*c+ch+4]
			a0 += int32(T(x[0])) * wt[0]
			a1 += int32(T(x[1])) * wt[1]
			a2 += int32(T(x[2])) * wt[2]
			a3 += int32(T(x[3])) * wt[3]
		}
		o := out[ch : ch+4 : ch+4]
		k := cc[ch : ch+4 : ch+4]
		if q.rounding == convRoundRuntime {
			sc := q.scale[ch : ch+4 : ch+4]
			o[0] = byte(q.roundRuntime(a0+k[0], sc[0]))
			o[1] = byte(q.roundRuntime(a1+k[1], sc[1]))
			o[2] = byte(q.roundRuntime(a2+k[2], sc[2]))
			o[3] = byte(q.roundRuntime(a3+k[3], sc[3]))
			continue
		}
		o[0] = byte(q.roundReference(a0+k[0], ch))
		o[1] = byte(q.roundReference(a1+k[1], ch+1))
		o[2] = byte(q.roundReference(a2+k[2], ch+2))
		o[3] = byte(q.roundReference(a3+k[3], ch+3))
	}
	for ; ch < c; ch++ {
		var a int32
		for t, off := range offs {
			x := pad[ch]
			if off >= 0 {
				x = in[off+ch]
			}
			a += int32(T(x)) * w[t*c+ch]
		}
		out[ch] = byte(q.round(a+cc[ch], ch))
	}
}

// dwQ8PixelMult computes one output pixel with multiplier mult.
func dwQ8PixelMult[T int8 | uint8](s *dwQ8State, offs []int, mult int, acc []int32, out []byte) {
	c := len(out)
	inC := c / mult
	clear(acc)
	for t, off := range offs {
		src := s.pad
		if off >= 0 {
			src = s.in[off:]
		}
		src = src[:inC]
		wt := s.w[t*c : t*c+c]
		for ic, x := range src {
			xv := int32(T(x))
			a := acc[ic*mult : ic*mult+mult]
			for j, wv := range wt[ic*mult : ic*mult+mult] {
				a[j] += xv * wv
			}
		}
	}
	for ch := range out {
		out[ch] = byte(s.quant.round(acc[ch]+s.colConst[ch], ch))
	}
}

// dwQ8PixelMultWide is dwQ8PixelMult with the sums on the SIMD kernel:
// the pixel's input values (pad values for padding) gathered into xs
// first.
func dwQ8PixelMultWide[T int8 | uint8](s *dwQ8State, offs []int, mult int, acc []int32, xs []int32, out []byte) {
	c := len(out)
	inC := c / mult
	if inC == 1 {
		// One input channel (audio spectrograms, single-channel
		// images): one value a tap, without the per-tap slicing.
		xs := xs[:len(offs)]
		for t, off := range offs {
			v := s.pad[0]
			if off >= 0 {
				v = s.in[off]
			}
			xs[t] = int32(T(v))
		}
	} else {
		for t, off := range offs {
			src := s.pad
			if off >= 0 {
				src = s.in[off:]
			}
			x := xs[t*inC : t*inC+inC]
			for ic, v := range src[:inC] {
				x[ic] = int32(T(v))
			}
		}
	}
	dwMultSums(xs, len(offs), inC, mult, s.w, acc)
	for ch := range out {
		out[ch] = byte(s.quant.round(acc[ch]+s.colConst[ch], ch))
	}
}

// Float depthwise convolution.

type dwF32State struct {
	w        []float32 // [tap][outC]
	zeroBias []float32
	pad      []float32
	lo, hi   float32
	acc      [][]float32
	in, out  []float32
	bias     []float32
	run      convRows
	fast     *dwPadded // for multiplier one, or nil
	lohi     [2]float32
}

func (d *depthwiseConv) prepareF32(ctx *Context, filter, bias *Tensor, act model.Activation) error {
	g := &d.geo
	if _, err := convBiasF32(bias, g.outC); err != nil {
		return err
	}
	s := &dwF32State{
		w:        filter.F32()[:d.taps*g.outC],
		zeroBias: make([]float32, g.outC),
		pad:      make([]float32, g.inC),
		acc:      make([][]float32, len(d.offs)),
	}
	s.lo, s.hi = ActivationRangeFloat(act)
	for i := range s.acc {
		s.acc[i] = make([]float32, g.outC)
	}
	if d.mult == 1 {
		// Padding adds 0·w, which leaves every partial sum unchanged, so
		// the sums equal the reference's, which skips padded taps.
		s.fast = newDWPadded(ctx, g, len(d.offs), s.w, 0)
	}
	s.lohi = [2]float32{s.lo, s.hi}
	fillRow := func(dst []float32, b, iy int) { copy(dst, s.in[(b*g.inH+iy)*g.inW*g.inC:]) }
	switch {
	case d.level.runs(familyFloat) && s.fast != nil:
		s.run = d.bands(len(d.offs), s.fast, 1, fillRow, func(_ int, st *dwStrip, b, oy, _, _ int) { dwFastRowF32Wide(d, s, st, b, oy) })
	case s.fast != nil:
		s.run = d.bands(len(d.offs), s.fast, 1, fillRow, func(p int, st *dwStrip, b, oy, _, _ int) { dwFastRowF32(d, s, st, p, b, oy) })
	default:
		s.run = d.rows(len(d.offs), func(p, b, oy int) { dwF32Row(d, s, p, b, oy) })
	}
	d.eval = func(ctx *Context, n *Node) error {
		s.in, s.out = n.Inputs[0].F32(), n.Outputs[0].F32()
		s.bias = s.zeroBias
		if b := n.Input(2); b != nil {
			s.bias = b.F32()
		}
		return dwRun(ctx, s.fast, &s.run)
	}
	return nil
}

// dwFastRowF32 is the generic float row on the padded copy (multiplier
// one).
func dwFastRowF32(d *depthwiseConv, s *dwF32State, st *dwStrip, p, b, oy int) {
	g := &d.geo
	c := g.outC
	acc, bias := s.acc[p][:c], s.bias[:c]
	for ox := 0; ox < g.outW; ox++ {
		o := s.out[((b*g.outH+oy)*g.outW+ox)*c:][:c]
		st.pixel(st.base(g, oy, ox), acc)
		for ch, a := range acc {
			o[ch] = min(max(a+bias[ch], s.lo), s.hi)
		}
	}
}

// dwF32Row is the generic float row for multipliers above one: taps
// resolved per pixel.
func dwF32Row(d *depthwiseConv, s *dwF32State, p, b, oy int) {
	g := &d.geo
	offs, acc := d.offs[p], s.acc[p]
	c := g.outC
	for ox := 0; ox < g.outW; ox++ {
		o := s.out[((b*g.outH+oy)*g.outW+ox)*c:][:c]
		d.tapOffsets(offs, b, oy, ox)
		dwF32Pixel(s, offs, d.mult, acc, o)
	}
}

// dwF32Pixel computes one output pixel. Sums run tap by tap in filter
// order, as TFLite's reference kernel adds them.
func dwF32Pixel(s *dwF32State, offs []int, mult int, acc, out []float32) {
	c := len(out)
	inC := c / mult
	clear(acc)
	for t, off := range offs {
		if off < 0 {
			continue // padding contributes nothing
		}
		src := s.in[off : off+inC]
		wt := s.w[t*c : t*c+c]
		if mult == 1 {
			a := acc[:len(src)]
			wt = wt[:len(src)]
			for i, x := range src {
				a[i] += x * wt[i]
			}
			continue
		}
		for ic, x := range src {
			a := acc[ic*mult : ic*mult+mult]
			for j, wv := range wt[ic*mult : ic*mult+mult] {
				a[j] += x * wv
			}
		}
	}
	b := s.bias[:c]
	for i := range out {
		out[i] = min(max(acc[i]+b[i], s.lo), s.hi)
	}
}

// int16 activations with int8 filters.

type dwI16State struct {
	w       []int64 // [tap][outC]
	bias    []int64
	biasT   *Tensor // reloaded at Eval when not constant
	quant   convQuant
	acc     [][]int64
	in, out []int16
	run     convRows
}

func (d *depthwiseConv) prepareI16(in, filter, bias, out *Tensor, act model.Activation) error {
	g := &d.geo
	quant, err := convQuantI16(in, filter, bias, out, g.outC, 3, act)
	if err != nil {
		return err
	}
	wide := bias != nil && bias.Type == model.Int64
	s := &dwI16State{
		w:     make([]int64, d.taps*g.outC),
		bias:  make([]int64, g.outC),
		quant: quant,
		acc:   make([][]int64, len(d.offs)),
	}
	if bias != nil && bias.Const {
		convLoadBiasI64(s.bias, bias)
	} else {
		s.biasT = bias
	}
	for i, x := range filter.I8()[:d.taps*g.outC] {
		s.w[i] = int64(x)
	}
	for i := range s.acc {
		s.acc[i] = make([]int64, g.outC)
	}
	s.run = d.rows(len(d.offs), func(p, b, oy int) {
		offs, acc := d.offs[p], s.acc[p]
		c := g.outC
		inC := g.inC
		for ox := 0; ox < g.outW; ox++ {
			d.tapOffsets(offs, b, oy, ox)
			clear(acc)
			for t, off := range offs {
				if off < 0 {
					continue
				}
				src := s.in[off : off+inC]
				wt := s.w[t*c : t*c+c]
				for ic, x := range src {
					xv := int64(x)
					a := acc[ic*d.mult : ic*d.mult+d.mult]
					for j, wv := range wt[ic*d.mult : ic*d.mult+d.mult] {
						a[j] += xv * wv
					}
				}
			}
			o := s.out[((b*g.outH+oy)*g.outW+ox)*c:][:c]
			for ch := range o {
				o[ch] = convRound16(&s.quant, acc[ch]+s.bias[ch], ch, wide)
			}
		}
	})
	d.eval = func(ctx *Context, n *Node) error {
		if s.biasT != nil {
			convLoadBiasI64(s.bias, s.biasT)
		}
		s.in, s.out = n.Inputs[0].I16(), n.Outputs[0].I16()
		s.run.on(ctx)
		return nil
	}
	return nil
}
