package kernels

import (
	"github.com/ood-agent/ood-agent/model"
)

// conv2D implements CONV_2D: inputs (input NHWC, filter [out][kh][kw][in],
// optional bias [out]), one NHWC output. Every type runs as a matrix
// product: each output pixel's receptive field is gathered (im2col) four
// pixels at a time into an interleaved panel, which the register-tiled
// product consumes while it is still in L1 cache.
type conv2D struct {
	// rounding selects the 8-bit requantization; int16 always uses the
	// reference arithmetic, which TFLite's runtime also runs for it.
	rounding convRounding
	geo      convGeometry
	level    Level
	k        int // filter values per output channel
	m        int // output pixels
	eval     func(ctx *Context, n *Node) error
}

func newConv2D() Kernel { return &conv2D{} }

func (c *conv2D) Prepare(ctx *Context, n *Node) error {
	c.rounding, c.level = ctx.rounding(), ctx.level()
	g := &c.geo
	op, err := g.setup(n, false)
	if err != nil {
		return err
	}
	c.k = g.filterH * g.filterW * g.inC
	c.m = g.batches * g.outH * g.outW
	return prepareGEMM(c, op.kind, ctx, n, convWorkers(ctx, c.m*c.k*g.outC), op.in, op.filter, op.bias, op.out, op.act)
}

func (c *conv2D) Eval(ctx *Context, n *Node) error { return c.eval(ctx, n) }

// pointwise reports whether every output pixel reads exactly one input
// pixel's channels, contiguous and never padded.
func (g *convGeometry) pointwise() bool { return g.filterH == 1 && g.filterW == 1 }

// convPacker gathers the receptive fields of output pixels, four at a time,
// into a panel laid out [k][4] for the register-tiled products: each row
// (one output pixel) goes straight into its column of the panel, whole
// filter rows at a time where they lie inside the input. Pointwise
// convolutions with stride one read their rows straight from the input.
type convPacker[E byte | int16 | float32] struct {
	g      *convGeometry
	k      int
	pad    []E  // one filter row of pad values
	direct bool // rows are contiguous in the input
}

func newConvPacker[E byte | int16 | float32](g *convGeometry, pad E) *convPacker[E] {
	p := &convPacker[E]{
		g:      g,
		k:      g.filterH * g.filterW * g.inC,
		pad:    make([]E, g.filterW*g.inC),
		direct: g.pointwise() && g.strideH == 1 && g.strideW == 1,
	}
	for i := range p.pad {
		p.pad[i] = pad
	}
	return p
}

// pack fills panel with output pixels m0..m0+rows-1 (rows ≤ 4). Columns of
// missing rows keep stale values: their results are never stored.
func (p *convPacker[E]) pack(in, panel []E, m0, rows int) {
	k := p.k
	if p.direct {
		gemmPackRows(panel, in[m0*k:], k, rows)
		return
	}
	g := p.g
	hw := g.outH * g.outW
	b, rem := m0/hw, m0%hw
	oy, ox := rem/g.outW, rem%g.outW
	for r := 0; r < rows; r++ {
		p.gather(in, panel[r:k*q8MR], b, oy, ox)
		if ox++; ox == g.outW {
			ox = 0
			if oy++; oy == g.outH {
				oy = 0
				b++
			}
		}
	}
}

// gather writes the receptive field of output pixel (b, oy, ox) to every
// fourth element of dst.
func (p *convPacker[E]) gather(in, dst []E, b, oy, ox int) {
	g := p.g
	c := g.inC
	rowLen := g.filterW * c
	iy0 := oy*g.strideH - g.padTop
	ix0 := ox*g.strideW - g.padLeft
	whole := g.dilationW == 1 && ix0 >= 0 && ix0+g.filterW <= g.inW
	for ky := 0; ky < g.filterH; ky++ {
		d := dst[ky*rowLen*q8MR:]
		iy := iy0 + ky*g.dilationH
		if iy < 0 || iy >= g.inH {
			convScatter(d, p.pad)
			continue
		}
		base := (b*g.inH + iy) * g.inW
		if whole {
			convScatter(d, in[(base+ix0)*c:(base+ix0)*c+rowLen])
			continue
		}
		for kx := 0; kx < g.filterW; kx++ {
			seg := d[kx*c*q8MR:]
			if ix := ix0 + kx*g.dilationW; ix >= 0 && ix < g.inW {
				convScatter(seg, in[(base+ix)*c:(base+ix)*c+c])
			} else {
				convScatter(seg, p.pad[:c])
			}
		}
	}
}

// convScatter copies src to every fourth element of dst.
func convScatter[E byte | int16 | float32](dst, src []E) {
	if len(src) == 0 {
		return
	}
	dst = dst[:(len(src)-1)*q8MR+1]
	for i, v := range src {
		dst[i*q8MR] = v
	}
}

// convRows is work over the m output pixels of a convolution by parts,
// each with its own scratch, in chunks of whole four-row tiles.
type convRows struct {
	parts, m, grain int
	fn              func(part, lo, hi int)
}

// convRun cuts m rows into chunks of whole tiles for parts.
func convRun(parts, m int, fn func(part, lo, hi int)) convRows { return partRows(parts, m, q8MR, fn) }

// partRows cuts total rows into about chunksPerThread chunks per part, in
// multiples of align.
func partRows(parts, total, align int, fn func(part, lo, hi int)) convRows {
	grain := (total + parts*chunksPerThread - 1) / (parts * chunksPerThread)
	return convRows{parts: parts, m: total, grain: max(align, (grain+align-1)/align*align), fn: fn}
}

// on runs the rows on ctx's threads.
func (r *convRows) on(ctx *Context) { ctx.ParallelParts(r.parts, r.m, r.grain, r.fn) }

// The runners below serve CONV_2D and FULLY_CONNECTED alike: both are m
// rows of k values times the weights, rows that a convPacker gathers, or
// for fully connected reads straight from the input (newRowPacker).

// newRowPacker returns a packer of k-long rows read straight from the input.
func newRowPacker[E byte | int16 | float32](k int) *convPacker[E] {
	return &convPacker[E]{k: k, direct: true}
}

// 8-bit (int8 and uint8) convolution.

func (c *conv2D) prepareQ8(ctx *Context, n *Node, parts int, in, filter, bias, out *Tensor, act model.Activation) error {
	g := &c.geo
	p, err := newConvQ8Params(in, filter, bias, out, g.outC, 0, c.rounding, act)
	if err != nil {
		return err
	}
	w := q8Weights{data: filter.Data, unsigned: p.unsigned, offset: p.filterOffset}
	packer := newConvPacker(g, byte(in.ZeroPoint()))
	// A single output pixel of a pointwise convolution is a
	// matrix-vector product.
	gemm := shared(ctx, n, "q8gemm", func() *q8Gemm {
		return newQ8Gemm(w, g.outC, c.k, -in.ZeroPoint(), p.quant, c.m == 1 && packer.direct, c.level)
	}).forRun()
	c.eval = newConvQ8State(ctx, parts, c.m, gemm, packer, !p.unsigned, bias, p.bias).eval
	return nil
}

// convQ8State runs an 8-bit matrix product over packed rows.
type convQ8State struct {
	gemm   *q8Gemm
	packer *convPacker[byte]
	blocks []*q8Block // per part
	run    convRows
	bias   *Tensor // refreshed at Eval when not constant
	signed bool
	in     []byte
	out    []byte
}

// newConvQ8State splits m rows over parts workers. A constant bias, with
// values biasVals, is folded into gemm now; any other is read at Eval.
func newConvQ8State(ctx *Context, parts, m int, gemm *q8Gemm, packer *convPacker[byte], signed bool, bias *Tensor, biasVals []int32) *convQ8State {
	s := &convQ8State{gemm: gemm, packer: packer, signed: signed}
	if bias != nil && bias.Const {
		s.gemm.setBias(biasVals)
	} else {
		s.bias = bias
	}
	s.blocks = make([]*q8Block, parts)
	for i := range s.blocks {
		s.blocks[i] = s.gemm.newBlock(ctx, i)
	}
	switch {
	case gemm.wide != nil && m <= q8MR && parts > 1 && signed:
		s.run = partRows(parts, gemm.wide.nb, 1, func(p, lo, hi int) {
			q8ChannelsWide[int8](s.gemm, s.blocks[p], s, m, lo, hi, s.out, s.gemm.n)
		})
	case gemm.wide != nil && m <= q8MR && parts > 1:
		s.run = partRows(parts, gemm.wide.nb, 1, func(p, lo, hi int) {
			q8ChannelsWide[uint8](s.gemm, s.blocks[p], s, m, lo, hi, s.out, s.gemm.n)
		})
	case signed:
		s.run = convRun(parts, m, func(p, lo, hi int) { convQ8Rows[int8](s, p, lo, hi) })
	default:
		s.run = convRun(parts, m, func(p, lo, hi int) { convQ8Rows[uint8](s, p, lo, hi) })
	}
	return s
}

func (s *convQ8State) eval(ctx *Context, n *Node) error {
	if s.bias != nil {
		s.gemm.setBias(s.bias.I32())
	}
	if ctx != nil {
		for p, b := range s.blocks {
			b.attach(&ctx.q8Scratch[p])
		}
	}
	s.in, s.out = n.Inputs[0].Data, n.Outputs[0].Data
	s.run.on(ctx)
	return nil
}

// convQ8Rows computes output rows [lo, hi) with part p's scratch.
func convQ8Rows[T int8 | uint8](s *convQ8State, p, lo, hi int) {
	k, n := s.gemm.k, s.gemm.n
	blk := s.blocks[p]
	if s.gemm.wide != nil {
		q8RowsWide[T](s.gemm, blk, s, lo, hi, s.out, n)
		return
	}
	if hi-lo == 1 && s.packer.direct && s.gemm.gemv != nil {
		q8OneRow[T](s.gemm, s.in[lo*k:(lo+1)*k], blk.panels, s.out[lo*n:(lo+1)*n])
		return
	}
	q8Rows[T](s.gemm, blk, s, lo, hi, s.out, n)
}

// pack implements q8RowSource: it gathers output pixels' receptive fields,
// or copies rows that lie in the input as they are.
func (s *convQ8State) pack(panel []byte, m0, rows int, sums *[q8MR]int32) {
	k := s.packer.k
	withSums := s.gemm.rowCoef != 0
	switch {
	case s.packer.direct && s.signed:
		q8PackRows[int8](panel, s.in[m0*k:], k, rows, sums, withSums)
	case s.packer.direct:
		q8PackRows[uint8](panel, s.in[m0*k:], k, rows, sums, withSums)
	default:
		s.packer.pack(s.in, panel, m0, rows)
		switch {
		case !withSums:
		case s.signed:
			q8PanelSums[int8](panel[:k*q8MR], sums)
		default:
			q8PanelSums[uint8](panel[:k*q8MR], sums)
		}
	}
}

// Float convolution.

func (c *conv2D) prepareF32(ctx *Context, n *Node, parts int, filter, bias *Tensor, act model.Activation) error {
	g := &c.geo
	if _, err := convBiasF32(bias, g.outC); err != nil {
		return err
	}
	gemm := shared(ctx, n, "f32gemm", func() *f32Gemm { return newF32GemmAt(c.level, filter.F32(), c.m, g.outC, c.k, act) }).forRun()
	c.eval = newConvF32State(parts, c.m, gemm, newConvPacker(g, float32(0))).eval
	return nil
}

// convF32State runs a float matrix product over packed rows.
type convF32State struct {
	gemm   *f32Gemm
	packer *convPacker[float32]
	parts  [][]float32 // panel per part
	tmps   [][]float32 // partial tiles per part, for the SIMD product
	run    convRows
	in     []float32
	out    []float32
	bias   []float32
}

// newConvF32State splits m rows over parts workers.
func newConvF32State(parts, m int, gemm *f32Gemm, packer *convPacker[float32]) *convF32State {
	s := &convF32State{gemm: gemm, packer: packer}
	s.parts = make([][]float32, parts)
	s.tmps = make([][]float32, parts)
	for i := range s.parts {
		s.parts[i] = s.gemm.newPanel()
		if w := gemm.wide; w != nil {
			s.tmps[i] = make([]float32, q8MR*w.nb*f32WideNR)
		}
	}
	s.run = convRun(parts, m, s.rows)
	return s
}

func (s *convF32State) eval(ctx *Context, n *Node) error {
	s.in, s.out = n.Inputs[0].F32(), n.Outputs[0].F32()
	s.bias = s.gemm.zeroBias
	if b := n.Input(2); b != nil {
		s.bias = b.F32()
	}
	if w := s.gemm.wide; w != nil {
		copy(w.biasPad, s.bias[:s.gemm.n])
	}
	s.run.on(ctx)
	return nil
}

// rows computes output rows [lo, hi) with part p's panel.
func (s *convF32State) rows(p, lo, hi int) {
	panel := s.parts[p]
	n, k := s.gemm.n, s.gemm.k
	if w := s.gemm.wide; w != nil {
		for m0 := lo; m0 < hi; m0 += q8MR {
			rows := min(q8MR, hi-m0)
			s.packer.pack(s.in, panel, m0, rows)
			w.tile(s.gemm, panel, rows, s.out[m0*n:], n, s.tmps[p])
		}
		return
	}
	if hi-lo == 1 && s.packer.direct {
		s.gemm.row1(s.in[lo*k:lo*k+k], s.out[lo*n:lo*n+n], s.bias)
		return
	}
	for m0 := lo; m0 < hi; m0 += q8MR {
		rows := min(q8MR, hi-m0)
		s.packer.pack(s.in, panel, m0, rows)
		s.gemm.tile4(panel, rows, s.out[m0*n:], n, s.bias)
	}
}

// int16 activations with int8 filters.

func (c *conv2D) prepareI16(parts int, in, filter, bias, out *Tensor, act model.Activation) error {
	g := &c.geo
	quant, err := convQuantI16(in, filter, bias, out, g.outC, 0, act)
	if err != nil {
		return err
	}
	gemm := newI16Gemm(filter.I8(), g.outC, c.k, quant, bias != nil && bias.Type == model.Int64)
	c.eval = newConvI16State(parts, c.m, gemm, newConvPacker(g, int16(0)), bias).eval
	return nil
}

// convI16State runs an int16×int8 matrix product over packed rows.
type convI16State struct {
	gemm   *i16Gemm
	bias   *Tensor // reloaded at Eval when not constant
	packer *convPacker[int16]
	parts  [][]int16
	run    convRows
	in     []int16
	out    []int16
}

// newConvI16State splits m rows over parts workers. A constant bias is
// loaded into gemm now; any other is read at Eval.
func newConvI16State(parts, m int, gemm *i16Gemm, packer *convPacker[int16], bias *Tensor) *convI16State {
	s := &convI16State{gemm: gemm, packer: packer}
	if bias != nil && bias.Const {
		convLoadBiasI64(s.gemm.bias, bias)
	} else {
		s.bias = bias
	}
	s.parts = make([][]int16, parts)
	for i := range s.parts {
		s.parts[i] = s.gemm.newPanel()
	}
	s.run = convRun(parts, m, s.rows)
	return s
}

func (s *convI16State) eval(ctx *Context, n *Node) error {
	if s.bias != nil {
		convLoadBiasI64(s.gemm.bias, s.bias)
	}
	s.in, s.out = n.Inputs[0].I16(), n.Outputs[0].I16()
	s.run.on(ctx)
	return nil
}

// rows computes output rows [lo, hi) with part p's panel.
func (s *convI16State) rows(p, lo, hi int) {
	panel := s.parts[p]
	n, k := s.gemm.n, s.gemm.k
	if hi-lo == 1 && s.packer.direct {
		s.gemm.row1(s.in[lo*k:lo*k+k], s.out[lo*n:lo*n+n])
		return
	}
	for m0 := lo; m0 < hi; m0 += q8MR {
		rows := min(q8MR, hi-m0)
		s.packer.pack(s.in, panel, m0, rows)
		s.gemm.tile4(panel, rows, s.out[m0*n:], n)
	}
}
