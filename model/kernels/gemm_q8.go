package kernels

import "unsafe"

// The 8-bit matrix product behind quantized CONV_2D and FULLY_CONNECTED:
//
//	out[m][n] = requant(Σ_k (a[m][k] + inOff)·(w[n][k] + wOff) + bias[n])
//
// Go has no SIMD, so each scalar multiply is made to do three
// multiply-accumulates: weights are pre-packed three output channels per
// int64, in 21-bit lanes at bits 0, 21 and 42, and one multiply by an
// activation scales all three lanes at once. Products of an
// activation (-128..255) and a packed weight (-128..127) stay within ±32640,
// so 32 of them fit a signed 21-bit lane; after each chunk of 32 steps the
// lanes are split off into int32 sums. The arithmetic is exact, so the
// result equals TFLite's int32 reference accumulation bit for bit.
//
// Weights are stored as v = w (int8) or v = w-128 (uint8), so
// w+wOff = v+d with d = wOff (+128 for uint8), and
//
//	Σ(a+inOff)(v+d) = Σ a·v + d·Σa + inOff·Σv + K·inOff·d.
//
// The last two terms are per-channel constants folded into the bias at
// Prepare; d·Σa needs one sum per row, computed while packing rows, and
// vanishes for symmetric int8 filters.

const (
	q8LaneBits = 21
	q8MR       = 4  // rows per register tile
	q8Chunk    = 32 // steps before lanes are split: 32·255·128 < 2^20
	q8GemvNR   = 4  // packed words per step in the one-row layout
)

// q8Gemm holds packed weights and the per-channel epilogue of one 8-bit
// matrix product with k-long rows and n output channels.
//
// The register tiles are small on purpose: Go keeps about fourteen general
// registers, and a tile whose accumulators spill to the stack runs at half
// the speed of one that fits. Four rows by one packed word (four
// accumulators) fits; four by two does not.
type q8Gemm struct {
	k, n    int
	triples int // packed words per step: ceil(n/3)
	// w holds one panel per word (three channels), k values each, then a
	// spare panel: kernels advance their pointers one step past the data.
	w []int64
	// gemv, when built, holds the words again in groups of four laid out
	// [group][k][4], for products of one row.
	gemv     []int64
	rowCoef  int32   // d, the multiplier of each row's sum
	colBase  []int32 // inOff·Σv + K·inOff·d per channel
	colConst []int32 // colBase + bias per channel
	// scale is quant.scale; it and colConst are zero-padded to whole
	// groups, so that every epilogue runs unrolled.
	scale []float32
	quant convQuant
	// wide, when set, holds the weights for the SIMD kernels and w and
	// gemv are not built.
	wide   *q8Wide
	signed bool // int8 data, else uint8
}

// q8Weights describes raw 8-bit weights laid out [n][k].
type q8Weights struct {
	data     []byte
	unsigned bool  // uint8 values (stored shifted by -128)
	offset   int32 // added to every weight value (minus its zero point)
}

// newQ8Gemm packs weights for n channels of k values and folds the input
// offset (minus the input zero point) into per-channel constants. With
// gemv set it also builds the one-row layout. At a vector level it
// builds the SIMD layout instead of both.
func newQ8Gemm(w q8Weights, n, k int, inOff int32, quant convQuant, gemv bool, level Level) *q8Gemm {
	g := &q8Gemm{k: k, n: n, triples: (n + 2) / 3, quant: quant, signed: !w.unsigned}
	if level.runs(familyQ8Gemm) {
		g.wide = newQ8Wide(w, n, k, quant, level)
		gemv = false
	}
	d := w.offset
	if w.unsigned {
		d += 128
	}
	g.rowCoef = d
	value := func(c, kk int) int64 {
		if c >= n {
			return 0
		}
		x := w.data[c*k+kk]
		if w.unsigned {
			return int64(x) - 128
		}
		return int64(int8(x))
	}
	packed := func(t, kk int) int64 {
		return value(3*t, kk) + value(3*t+1, kk)<<q8LaneBits + value(3*t+2, kk)<<(2*q8LaneBits)
	}
	groups := (g.triples + q8GemvNR - 1) / q8GemvNR
	if g.wide == nil {
		g.w = make([]int64, (g.triples+1)*k)
	}
	for t := 0; g.wide == nil && t < g.triples; t++ {
		for kk := 0; kk < k; kk++ {
			g.w[t*k+kk] = packed(t, kk)
		}
	}
	if gemv {
		g.gemv = make([]int64, (groups+1)*k*q8GemvNR)
		for t := 0; t < g.triples; t++ {
			grp, j := t/q8GemvNR, t%q8GemvNR
			for kk := 0; kk < k; kk++ {
				g.gemv[(grp*k+kk)*q8GemvNR+j] = packed(t, kk)
			}
		}
	}
	// The SIMD kernels read whole blocks of q8WideNR channels.
	padded := max(groups*q8GemvNR*3, (n+q8WideNR-1)/q8WideNR*q8WideNR)
	g.colBase = make([]int32, n)
	g.colConst = make([]int32, padded)
	g.scale = make([]float32, padded)
	copy(g.scale, quant.scale)
	for c := 0; c < n; c++ {
		var sum int32
		for kk := 0; kk < k; kk++ {
			sum += int32(value(c, kk))
		}
		g.colBase[c] = inOff*sum + int32(k)*inOff*d
		if g.wide != nil && g.wide.flip {
			g.colBase[c] -= 128 * sum // the flipped activations' surplus
		}
		g.colConst[c] = g.colBase[c]
	}
	return g
}

// setBias folds bias (nil for none) into the per-channel constants.
func (g *q8Gemm) setBias(bias []int32) {
	if bias == nil {
		copy(g.colConst, g.colBase)
		return
	}
	for c, b := range bias[:g.n] {
		g.colConst[c] = g.colBase[c] + b
	}
}

// q8Sums holds the int32 sums of one packed word (three channels) for the
// four rows of a tile.
type q8Sums [q8MR][3]int32

// q8Split adds the three signed 21-bit lanes of acc to s.
func q8Split(acc int64, s *[3]int32) {
	l0 := acc << (64 - q8LaneBits) >> (64 - q8LaneBits)
	acc = (acc - l0) >> q8LaneBits
	l1 := acc << (64 - q8LaneBits) >> (64 - q8LaneBits)
	s[0] += int32(l0)
	s[1] += int32(l1)
	s[2] += int32((acc - l1) >> q8LaneBits)
}

// q8RowSource packs the rows of the left-hand matrix four at a time.
type q8RowSource interface {
	// pack fills panel ([k][4]) with rows m0..m0+rows-1 and, when the
	// product needs them (rowCoef ≠ 0), sets their sums of values.
	pack(panel []byte, m0, rows int, sums *[q8MR]int32)
}

// q8Block is one worker's scratch: the packed panels of a block of tiles.
// Products run block by block, packed word by packed word, so that each
// word's weights are read into L1 cache once per block rather than once
// per tile. Its buffers are views of the context's q8Scratch, taken at
// every Eval (attach): the layers of an interpreter run one at a time, and
// a set of buffers per layer and thread cost MobileNetV2 3 MB per thread.
type q8Block struct {
	panels  []byte
	stride  int // bytes between panels
	tiles   int
	rowTerm [][q8MR]int32
	wide    *q8WideScratch // for the SIMD product, or nil
}

// q8Scratch is the memory behind one part's q8Blocks.
type q8Scratch struct {
	panels  []byte
	rowTerm [][q8MR]int32
	a       []int16
	ab      []byte
	sumsA   [][q8MR]int32
	tmp     []byte
	sums    []int32
}

// newBlock sizes a block to about 32 KiB of panels and reserves its
// memory in ctx's scratch of parts parts (nil ctx: memory of its own).
func (g *q8Gemm) newBlock(ctx *Context, part int) *q8Block {
	stride := (g.k*q8MR + 64 + 63) &^ 63
	tiles := min(max(32<<10/stride, 1), 32)
	b := &q8Block{stride: stride, tiles: tiles}
	if g.wide != nil {
		b.wide = g.wide.newScratch()
	}
	if ctx == nil {
		var own q8Scratch
		b.reserve(&own)
		b.attach(&own)
		return b
	}
	for len(ctx.q8Scratch) <= part {
		ctx.q8Scratch = append(ctx.q8Scratch, q8Scratch{})
	}
	b.reserve(&ctx.q8Scratch[part])
	return b
}

// reserve grows s to hold b's buffers.
func (b *q8Block) reserve(s *q8Scratch) {
	if n := b.tiles * b.stride; len(s.panels) < n {
		s.panels = AlignedBytes(n)
	}
	growTo(&s.rowTerm, b.tiles)
	if w := b.wide; w != nil {
		growTo(&s.sumsA, w.tiles)
		growTo(&s.tmp, w.tmpLen)
		growTo(&s.sums, w.sumsLen)
		if w.dot {
			growTo(&s.ab, w.aLen)
		} else {
			growTo(&s.a, w.aLen)
		}
	}
}

// attach points b's buffers into s.
func (b *q8Block) attach(s *q8Scratch) {
	b.panels = s.panels[:b.tiles*b.stride]
	b.rowTerm = s.rowTerm[:b.tiles]
	if w := b.wide; w != nil {
		w.sumsA, w.tmp, w.sums = s.sumsA[:w.tiles], s.tmp[:w.tmpLen], s.sums[:w.sumsLen]
		if w.dot {
			w.ab = s.ab[:w.aLen]
		} else {
			w.a = s.a[:w.aLen]
		}
	}
}

// growTo makes *s at least n long.
func growTo[E any](s *[]E, n int) {
	if len(*s) < n {
		*s = make([]E, n)
	}
}

// panel returns block panel i, with its slack.
func (b *q8Block) panel(i int) []byte { return b.panels[i*b.stride : (i+1)*b.stride] }

// q8Rows computes rows [lo, hi) of the product into out, whose row m
// starts at m·outStride.
func q8Rows[T int8 | uint8](g *q8Gemm, blk *q8Block, src q8RowSource, lo, hi int, out []byte, outStride int) {
	k := g.k
	w := g.w[:(g.triples+1)*k]
	span := blk.tiles * q8MR
	for b0 := lo; b0 < hi; b0 += span {
		b1 := min(hi, b0+span)
		n := (b1 - b0 + q8MR - 1) / q8MR
		for i := 0; i < n; i++ {
			m0 := b0 + i*q8MR
			// The sums go straight to the block: a local passed through
			// the interface would escape to the heap.
			rt := &blk.rowTerm[i]
			src.pack(blk.panel(i), m0, min(q8MR, b1-m0), rt)
			for r, v := range rt {
				rt[r] = g.rowCoef * v
			}
		}
		for t := 0; t < g.triples; t++ {
			pw := unsafe.Pointer(&w[t*k])
			for i := 0; i < n; i++ {
				m0 := b0 + i*q8MR
				panel := blk.panel(i)
				var s q8Sums
				q8Dot4x1[T](unsafe.Pointer(&panel[0]), pw, k, &s)
				g.store(&s, &blk.rowTerm[i], min(q8MR, b1-m0), 3*t, out[m0*outStride:], outStride)
			}
		}
	}
}

// row1 computes one row of k activations into out. a must have room for
// the kernel's final pointer step: callers copy the row into a panel
// buffer.
func row1[T int8 | uint8](g *q8Gemm, a []byte, rowSum int32, out []byte) {
	k := g.k
	_ = a[k]
	rowTerm := [q8MR]int32{g.rowCoef * rowSum}
	pa := unsafe.Pointer(unsafe.SliceData(a))
	groups := (g.triples + q8GemvNR - 1) / q8GemvNR
	w := g.gemv[:(groups+1)*k*q8GemvNR]
	for grp := 0; grp < groups; grp++ {
		var s q8Sums // one row: s[j] is word j of the group
		q8Dot1x4[T](pa, unsafe.Pointer(&w[grp*k*q8GemvNR]), k, &s)
		for j := range s {
			if t := grp*q8GemvNR + j; t < g.triples {
				one := q8Sums{s[j]}
				g.store(&one, &rowTerm, 1, 3*t, out, 0)
			}
		}
	}
}

// The kernels below multiply-accumulate packed activations (rows
// interleaved, one byte each) with packed weight words, splitting the
// lanes into s after every chunk. They walk memory with unsafe pointer
// steps: bounds checks, or even index arithmetic, in these loops cost a
// large part of their speed. Callers guarantee k steps of data plus one
// step of slack behind both pointers. The kernels here and in
// depthwise_fast.go and gemm_f32.go are kept out of line: inlined into
// their callers, the register allocator spills their loop state to the
// stack.

//go:noinline
func q8Dot4x1[T int8 | uint8](pa, pw unsafe.Pointer, k int, s *q8Sums) {
	for k > 0 {
		kc := min(q8Chunk, k)
		k -= kc
		// The loops run to end pointers rather than counters, which
		// cost a register the allocator then reloads from the stack. The
		// first takes the kc mod 4 odd steps, the second four steps per
		// iteration, which cuts the loop overhead by about a tenth of the
		// whole model's time.
		var c0, c1, c2, c3 int64
		for odd := unsafe.Add(pw, 8*(kc&3)); pw != odd; {
			b := *(*int64)(pw)
			c0 += int64(*(*T)(pa)) * b
			c1 += int64(*(*T)(unsafe.Add(pa, 1))) * b
			c2 += int64(*(*T)(unsafe.Add(pa, 2))) * b
			c3 += int64(*(*T)(unsafe.Add(pa, 3))) * b
			pa = unsafe.Add(pa, q8MR)
			pw = unsafe.Add(pw, 8)
		}
		end := unsafe.Add(pw, 8*(kc&^3))
		for pw != end {
			b := *(*int64)(pw)
			c0 += int64(*(*T)(pa)) * b
			c1 += int64(*(*T)(unsafe.Add(pa, 1))) * b
			c2 += int64(*(*T)(unsafe.Add(pa, 2))) * b
			c3 += int64(*(*T)(unsafe.Add(pa, 3))) * b
			b = *(*int64)(unsafe.Add(pw, 8))
			c0 += int64(*(*T)(unsafe.Add(pa, 4))) * b
			c1 += int64(*(*T)(unsafe.Add(pa, 5))) * b
			c2 += int64(*(*T)(unsafe.Add(pa, 6))) * b
			c3 += int64(*(*T)(unsafe.Add(pa, 7))) * b
			b = *(*int64)(unsafe.Add(pw, 16))
			c0 += int64(*(*T)(unsafe.Add(pa, 8))) * b
			c1 += int64(*(*T)(unsafe.Add(pa, 9))) * b
			c2 += int64(*(*T)(unsafe.Add(pa, 10))) * b
			c3 += int64(*(*T)(unsafe.Add(pa, 11))) * b
			b = *(*int64)(unsafe.Add(pw, 24))
			c0 += int64(*(*T)(unsafe.Add(pa, 12))) * b
			c1 += int64(*(*T)(unsafe.Add(pa, 13))) * b
			c2 += int64(*(*T)(unsafe.Add(pa, 14))) * b
			c3 += int64(*(*T)(unsafe.Add(pa, 15))) * b
			pa = unsafe.Add(pa, 4*q8MR)
			pw = unsafe.Add(pw, 32)
		}
		q8Split(c0, &s[0])
		q8Split(c1, &s[1])
		q8Split(c2, &s[2])
		q8Split(c3, &s[3])
	}
}

//go:noinline
func q8Dot1x4[T int8 | uint8](pa, pw unsafe.Pointer, k int, s *q8Sums) {
	for k > 0 {
		kc := min(q8Chunk, k)
		k -= kc
		end := unsafe.Add(pa, kc)
		var c0, c1, c2, c3 int64
		for pa != end {
			x := int64(*(*T)(pa))
			c0 += x * *(*int64)(pw)
			c1 += x * *(*int64)(unsafe.Add(pw, 8))
			c2 += x * *(*int64)(unsafe.Add(pw, 16))
			c3 += x * *(*int64)(unsafe.Add(pw, 24))
			pa = unsafe.Add(pa, 1)
			pw = unsafe.Add(pw, 8*q8GemvNR)
		}
		q8Split(c0, &s[0])
		q8Split(c1, &s[1])
		q8Split(c2, &s[2])
		q8Split(c3, &s[3])
	}
}

// store requantizes one word's sums (channels ch0..ch0+2) for rows rows
// and writes them.
func (g *q8Gemm) store(s *q8Sums, rowTerm *[q8MR]int32, rows, ch0 int, out []byte, outStride int) {
	cnt := min(3, g.n-ch0)
	q := &g.quant
	if q.rounding == convRoundRuntime {
		// Fixed-size views need no bounds checks; a partial word is
		// computed whole into tmp and copied.
		cc := (*[3]int32)(g.colConst[ch0:])
		sc := (*[3]float32)(g.scale[ch0:])
		off, lo, hi := int64(q.outZP)-convMagicBits, int64(q.lo), int64(q.hi)
		if cnt == 3 && rows == q8MR {
			o0 := (*[3]byte)(out[ch0:])
			o1 := (*[3]byte)(out[outStride+ch0:])
			o2 := (*[3]byte)(out[2*outStride+ch0:])
			o3 := (*[3]byte)(out[3*outStride+ch0:])
			q8Requant3(o0, &s[0], rowTerm[0], cc, sc, off, lo, hi)
			q8Requant3(o1, &s[1], rowTerm[1], cc, sc, off, lo, hi)
			q8Requant3(o2, &s[2], rowTerm[2], cc, sc, off, lo, hi)
			q8Requant3(o3, &s[3], rowTerm[3], cc, sc, off, lo, hi)
			return
		}
		if cnt == 3 {
			for r := 0; r < rows; r++ {
				q8Requant3((*[3]byte)(out[r*outStride+ch0:]), &s[r], rowTerm[r], cc, sc, off, lo, hi)
			}
			return
		}
		var tmp [3]byte
		for r := 0; r < rows; r++ {
			q8Requant3(&tmp, &s[r], rowTerm[r], cc, sc, off, lo, hi)
			copy(out[r*outStride+ch0:r*outStride+ch0+cnt], tmp[:cnt])
		}
		return
	}
	cc := g.colConst[ch0 : ch0+cnt]
	for r := 0; r < rows; r++ {
		o := out[r*outStride+ch0 : r*outStride+ch0+cnt]
		sr := s[r][:cnt]
		rt := rowTerm[r]
		for j := range o {
			o[j] = byte(q.roundReference(sr[j]+rt+cc[j], ch0+j))
		}
	}
}

// q8Requant3 requantizes one row of a word's sums with the runtime
// rounding, unrolled so that every operand stays in registers. off is the
// output zero point less the rounding constant's bits.
func q8Requant3(o *[3]byte, s *[3]int32, rt int32, cc *[3]int32, sc *[3]float32, off, lo, hi int64) {
	o[0] = byte(min(max(convRoundBits(s[0]+rt+cc[0], sc[0])+off, lo), hi))
	o[1] = byte(min(max(convRoundBits(s[1]+rt+cc[1], sc[1])+off, lo), hi))
	o[2] = byte(min(max(convRoundBits(s[2]+rt+cc[2], sc[2])+off, lo), hi))
}

// gemmPackRows transposes up to four rows (rows) of k values, contiguous
// in src, into panel[kk*4+r], zeroing the missing rows.
func gemmPackRows[E byte | int16 | float32](panel, src []E, k, rows int) {
	panel = panel[:k*q8MR]
	if rows == q8MR {
		s0, s1, s2, s3 := src[:k], src[k:2*k], src[2*k:3*k], src[3*k:4*k]
		for i := range s0 {
			d := panel[i*q8MR : i*q8MR+q8MR : i*q8MR+q8MR]
			d[0], d[1], d[2], d[3] = s0[i], s1[i], s2[i], s3[i]
		}
		return
	}
	clear(panel)
	for r := 0; r < rows; r++ {
		for i, x := range src[r*k : r*k+k] {
			panel[i*q8MR+r] = x
		}
	}
}

// q8PackRows is gemmPackRows for 8-bit rows, also returning each row's
// sum of values (as T) when withSums is set.
func q8PackRows[T int8 | uint8](panel, src []byte, k, rows int, sums *[q8MR]int32, withSums bool) {
	if rows < q8MR || !withSums {
		gemmPackRows(panel, src, k, rows)
		*sums = [q8MR]int32{}
		if withSums {
			for r := 0; r < rows; r++ {
				sums[r] = q8RowSum[T](src[r*k : r*k+k])
			}
		}
		return
	}
	panel = panel[:k*q8MR]
	s0, s1, s2, s3 := src[:k], src[k:2*k], src[2*k:3*k], src[3*k:4*k]
	var a0, a1, a2, a3 int32
	for i := range s0 {
		d := panel[i*q8MR : i*q8MR+q8MR : i*q8MR+q8MR]
		x0, x1, x2, x3 := s0[i], s1[i], s2[i], s3[i]
		d[0], d[1], d[2], d[3] = x0, x1, x2, x3
		a0 += int32(T(x0))
		a1 += int32(T(x1))
		a2 += int32(T(x2))
		a3 += int32(T(x3))
	}
	*sums = [q8MR]int32{a0, a1, a2, a3}
}

// q8PanelSums sums each of the four interleaved rows of a panel. Columns
// of missing rows hold stale values; their sums go unused.
func q8PanelSums[T int8 | uint8](panel []byte, sums *[q8MR]int32) {
	var s0, s1, s2, s3 int32
	for i := 0; i+q8MR <= len(panel); i += q8MR {
		p := panel[i : i+q8MR : i+q8MR]
		s0 += int32(T(p[0]))
		s1 += int32(T(p[1]))
		s2 += int32(T(p[2]))
		s3 += int32(T(p[3]))
	}
	*sums = [q8MR]int32{s0, s1, s2, s3}
}

// q8OneRow computes the product of one row, copied into scratch (at least
// k+1 bytes) for the kernel's slack.
func q8OneRow[T int8 | uint8](g *q8Gemm, row, scratch, out []byte) {
	k := g.k
	copy(scratch[:k], row)
	var sum int32
	if g.rowCoef != 0 {
		sum = q8RowSum[T](row)
	}
	row1[T](g, scratch[:k+1], sum, out)
}

// q8RowSum is the sum of a row's values.
func q8RowSum[T int8 | uint8](row []byte) int32 {
	var sum int32
	for _, x := range row {
		sum += int32(T(x))
	}
	return sum
}

// forRun returns a copy of g for one interpreter: the packed weights and
// quantization are shared, the per-channel constants (which a non-constant
// bias rewrites at Eval) are its own.
func (g *q8Gemm) forRun() *q8Gemm {
	c := *g
	c.colConst = append([]int32(nil), g.colConst...)
	return &c
}
