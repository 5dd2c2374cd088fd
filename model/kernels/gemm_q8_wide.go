package kernels

import "encoding/binary"

// The SIMD 8-bit matrix product (LevelAVX2, LevelNEON; LevelDotProd and
// LevelVNNI below).
// Activations and weights are widened to int16 so that the microkernels
// multiply them and add into int32 exactly (VPMADDWD, SMLAL); the filter
// offset is folded into the
// weights (w' = w + offset, within ±255), so no row sums are needed:
//
//	Σ(a+inOff)(w+wOff) = Σ a·w' + inOff·Σw',
//
// and the second term is the generic kernel's per-channel constant. The
// int32 sums therefore equal the generic kernel's, and the runtime
// rounding is vectorized with the same float32 operations (convert, one
// multiply, round half to even), fused into the AVX2 kernel and as a
// separate pass over the sums on arm64, so the output bytes are identical.
// The reference rounding takes the sums and runs the scalar code.

// q8Requant is the runtime-rounding epilogue constants the assembly reads.
type q8Requant struct{ zp, lo, hi, _ int32 }

// q8Wide holds the widened weights in blocks of q8WideNR channels, k
// padded with zeros to kp, a multiple of 8: laid out [kp/2][q8WideNR][2]
// for AVX2 (pairs for VPMADDWD), [kp][q8WideNR] for NEON (SMLAL by lane).
type q8Wide struct {
	kp, nb int
	w      []int16
	rq     q8Requant
	// fused is set when the kernel requantizes the runtime rounding
	// itself (AVX2); otherwise it returns sums and Go requantizes them.
	fused bool
	// dot selects the dot-product kernels (LevelDotProd, LevelVNNI): the
	// weight bytes in wb, laid out [kp/4][q8WideNR][4] with kp a multiple
	// of 16, and activations left as bytes. Their sums lack a multiple of
	// each row's sum, which coef restores.
	//
	// SDOT/UDOT multiply bytes of one signedness, so wb holds the raw
	// weights and coef is the filter offset. VPDPBUSD (VNNI) multiplies
	// unsigned activations by signed weights, so one side moves by 128:
	// uint8 weights are stored as w-128 (w^0x80), and the lost 128·Σa
	// joins coef; int8 activations are flipped to a+128 after packing
	// (flip), and the 128·Σw that adds is taken out of the per-channel
	// constant (see newQ8Gemm).
	dot  bool
	wb   []byte
	coef int32
	flip bool
}

const (
	q8WideNR         = 16       // channels per block
	q8WideBlockBytes = 16 << 10 // weights per pass over a block of rows
	q8WidePanelBytes = 64 << 10 // widened activations per block of rows
)

func newQ8Wide(w q8Weights, n, k int, quant convQuant, level Level) *q8Wide {
	kp := (k + 7) &^ 7
	x := &q8Wide{kp: kp, nb: (n + q8WideNR - 1) / q8WideNR, fused: level.avx2(), dot: level.dot()}
	x.rq = q8Requant{zp: quant.outZP, lo: quant.lo, hi: quant.hi}
	if x.dot {
		// Raw bytes: uint8 weights are v+128 and unsigned products
		// then carry 128·Σa, so both types need offset·Σa alone.
		x.kp = (k + 15) &^ 15
		x.coef = w.offset
		var shift byte
		if level == LevelVNNI {
			if w.unsigned {
				shift = 0x80
				x.coef += 128
			} else {
				x.flip = true
			}
		}
		x.wb = make([]byte, x.nb*x.kp*q8WideNR)
		for c := 0; c < n; c++ {
			blk, j := c/q8WideNR, c%q8WideNR
			for kk, b := range w.data[c*k : c*k+k] {
				x.wb[(blk*x.kp+kk&^3)*q8WideNR+4*j+kk&3] = b ^ shift
			}
		}
		return x
	}
	x.w = make([]int16, x.nb*kp*q8WideNR)
	for c := 0; c < n; c++ {
		blk, j := c/q8WideNR, c%q8WideNR
		row := w.data[c*k : c*k+k]
		for kk, b := range row {
			v := int32(int8(b))
			if w.unsigned {
				v = int32(b)
			}
			if level.avx2() {
				x.w[(blk*kp+kk&^1)*q8WideNR+2*j+kk&1] = int16(v + w.offset)
			} else {
				x.w[(blk*kp+kk)*q8WideNR+j] = int16(v + w.offset)
			}
		}
	}
	return x
}

// q8WideScratch is one worker's buffers for the wide product (views set
// by q8Block.attach).
type q8WideScratch struct {
	a     []int16 // tiles panels of four rows × kp
	ab    []byte  // the same as bytes, for the dot-product kernels
	sumsA [][q8MR]int32
	tiles int
	tmp   []byte  // one tile's bytes for partial tiles: 4 rows × nb·NR
	sums  []int32 // one tile's sums for the reference rounding
	// The buffers' lengths, and which of a and ab is used.
	aLen, tmpLen, sumsLen int
	dot                   bool
}

func (x *q8Wide) newScratch() *q8WideScratch {
	tiles := min(max(q8WidePanelBytes/(q8MR*x.kp*2), 1), 32)
	return &q8WideScratch{
		tiles: tiles, dot: x.dot,
		aLen: tiles * q8MR * x.kp, tmpLen: q8MR * x.nb * q8WideNR, sumsLen: x.nb * q8MR * q8WideNR,
	}
}

// q8RowsWide computes rows [lo, hi) of the product into out, whose row m
// starts at m·outStride.
func q8RowsWide[T int8 | uint8](g *q8Gemm, blk *q8Block, s *convQ8State, lo, hi int, out []byte, outStride int) {
	x, ws := g.wide, blk.wide
	kp, nb := x.kp, x.nb
	span := ws.tiles * q8MR
	chunk := max(1, q8WideBlockBytes/(kp*q8WideNR*2))
	for b0 := lo; b0 < hi; b0 += span {
		b1 := min(hi, b0+span)
		nt := (b1 - b0 + q8MR - 1) / q8MR
		for i := 0; i < nt; i++ {
			q8PackWideTile[T](g, ws, s, i, b0+i*q8MR, min(q8MR, b1-b0-i*q8MR))
		}
		// Channel blocks outermost within the row block: each pass's
		// weights stay in L1 cache while every tile uses them.
		for c0 := 0; c0 < nb; c0 += chunk {
			c1 := min(nb, c0+chunk)
			for i := 0; i < nt; i++ {
				m0 := b0 + i*q8MR
				g.wideTile(ws, i, c0, c1, min(q8MR, b1-m0), out[m0*outStride:], outStride)
			}
		}
	}
}

// q8PackWideTile packs output rows m0..m0+rows-1 into tile i of ws, in
// the layout of the level's kernel.
func q8PackWideTile[T int8 | uint8](g *q8Gemm, ws *q8WideScratch, s *convQ8State, i, m0, rows int) {
	x := g.wide
	tileLen := q8MR * x.kp
	if !x.dot {
		q8PackTile[T](s, ws.a[i*tileLen:(i+1)*tileLen], m0, rows)
		return
	}
	tile := ws.ab[i*tileLen : (i+1)*tileLen]
	q8PackTile[T](s, tile, m0, rows)
	if x.flip {
		flipSigns(tile)
	}
	if x.coef != 0 {
		q8PanelRowSums[T](tile, x.kp, x.flip, &ws.sumsA[i])
	}
}

// q8ChannelsWide computes channel blocks [c0, c1) of the m ≤ 4 rows of a
// product that is one tile high (a fully connected layer on one input):
// there the rows give threads nothing to share, the channels do. Each
// part packs the tile for itself, which costs k bytes.
func q8ChannelsWide[T int8 | uint8](g *q8Gemm, blk *q8Block, s *convQ8State, m, c0, c1 int, out []byte, outStride int) {
	ws := blk.wide
	q8PackWideTile[T](g, ws, s, 0, 0, m)
	g.wideTile(ws, 0, c0, c1, m, out, outStride)
}

// q8PackTile writes output rows m0..m0+rows-1 into a, four rows of kp
// values (widened to int16, or bytes as they are); rows past rows keep
// stale values, whose results are discarded.
func q8PackTile[T int8 | uint8, E int16 | byte](s *convQ8State, a []E, m0, rows int) {
	k, kp := s.packer.k, s.gemm.wide.kp
	var zero T
	signed := ^zero < 0
	if s.packer.direct {
		if k == kp && rows == q8MR {
			// Whole rows back to back: convert the tile in one call.
			q8Convert[T](a, s.in[m0*k:(m0+q8MR)*k], signed)
			return
		}
		for r := 0; r < rows; r++ {
			dst := a[r*kp : r*kp+kp]
			q8Convert[T](dst, s.in[(m0+r)*k:(m0+r)*k+k], signed)
			clear(dst[k:])
		}
		return
	}
	g := s.packer.g
	hw := g.outH * g.outW
	for r := 0; r < rows; r++ {
		m := m0 + r
		dst := a[r*kp : r*kp+kp]
		q8GatherRow[T](s.packer, s.in, dst[:k], m/hw, m%hw/g.outW, m%g.outW)
		clear(dst[k:])
	}
}

// q8GatherRow writes the receptive field of output pixel (b, oy, ox) to
// dst, converted to E, whole filter rows at a time where they lie inside
// the input.
func q8GatherRow[T int8 | uint8, E int16 | byte](p *convPacker[byte], in []byte, dst []E, b, oy, ox int) {
	g := p.g
	c := g.inC
	rowLen := g.filterW * c
	pad := E(T(p.pad[0]))
	iy0 := oy*g.strideH - g.padTop
	ix0 := ox*g.strideW - g.padLeft
	whole := g.dilationW == 1 && ix0 >= 0 && ix0+g.filterW <= g.inW
	for ky := 0; ky < g.filterH; ky++ {
		d := dst[ky*rowLen : ky*rowLen+rowLen]
		iy := iy0 + ky*g.dilationH
		if iy < 0 || iy >= g.inH {
			for i := range d {
				d[i] = pad
			}
			continue
		}
		base := (b*g.inH + iy) * g.inW
		if whole {
			q8Convert[T](d, in[(base+ix0)*c:(base+ix0)*c+rowLen], ^T(0) < 0)
			continue
		}
		for kx := 0; kx < g.filterW; kx++ {
			seg := d[kx*c : kx*c+c]
			if ix := ix0 + kx*g.dilationW; ix >= 0 && ix < g.inW {
				q8Convert[T](seg, in[(base+ix)*c:(base+ix)*c+c], ^T(0) < 0)
			} else {
				for i := range seg {
					seg[i] = pad
				}
			}
		}
	}
}

// q8Convert writes src's values (as T) to the start of dst: copied as
// bytes, or widened to int16.
func q8Convert[T int8 | uint8, E int16 | byte](dst []E, src []byte, signed bool) {
	if d8, ok := any(dst).([]byte); ok {
		copy(d8, src)
		return
	}
	i := 0
	if d16, ok := any(dst).([]int16); ok {
		i = q8Widen(d16, src, signed)
	}
	for ; i < len(src); i++ {
		dst[i] = E(T(src[i]))
	}
}

// q8PanelRowSums sets sums to the sums of the four rows (as T values) of
// a panel of rows kp long. flipped says the bytes hold the values plus
// 128 (int8 values flipped for VPDPBUSD).
func q8PanelRowSums[T int8 | uint8](a []byte, kp int, flipped bool, sums *[q8MR]int32) {
	var zero T
	for r := range sums {
		row := a[r*kp : r*kp+kp]
		switch {
		case flipped:
			sums[r] = q8SumBytes(row, 0) - 128*int32(kp)
		case ^zero < 0:
			sums[r] = q8SumBytes(row, 0x80) - 128*int32(kp)
		default:
			sums[r] = q8SumBytes(row, 0)
		}
	}
}

// flipSigns adds 128 to every int8 in b, making it the uint8 VPDPBUSD
// takes.
func flipSigns(b []byte) {
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^0x8080808080808080)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= 0x80
	}
}

// wideTile computes channel blocks [c0, c1) of tile i of rows rows.
func (g *q8Gemm) wideTile(ws *q8WideScratch, i, c0, c1, rows int, out []byte, stride int) {
	x := g.wide
	kp := x.kp
	const nr = q8WideNR
	q := &g.quant
	var rowTerm [q8MR]int32
	if x.dot {
		for r, v := range ws.sumsA[i] {
			rowTerm[r] = x.coef * v
		}
	}
	if q.rounding == convRoundReference || !x.fused {
		sums := ws.sums
		if x.dot {
			q8WideDot(ws.ab[i*q8MR*kp:(i+1)*q8MR*kp], x.wb[c0*kp*nr:], kp, c1-c0, sums, g.signed)
		} else {
			q8WideSums(ws.a[i*q8MR*kp:(i+1)*q8MR*kp], x.w[c0*kp*nr:], kp, c1-c0, sums)
		}
		for b := c0; b < c1; b++ {
			tile := sums[(b-c0)*q8MR*nr : (b-c0+1)*q8MR*nr]
			end := min(nr, g.n-b*nr) // channels of this block
			for r := 0; r < rows; r++ {
				sr := tile[r*nr : r*nr+end]
				o := out[r*stride+b*nr : r*stride+b*nr+end]
				j := 0
				if q.rounding == convRoundRuntime {
					j = q8RequantRow(sr, g.colConst[b*nr:], g.scale[b*nr:], &x.rq, rowTerm[r], o)
				}
				for ; j < end; j++ {
					o[j] = byte(q.round(sr[j]+rowTerm[r]+g.colConst[b*nr+j], b*nr+j))
				}
			}
		}
		return
	}
	// tile runs the fused kernel over blocks [c0, c0+nb).
	tile := func(c0, nb int, out []byte, stride int) {
		if x.dot {
			q8WideTileDot(ws.ab[i*q8MR*kp:(i+1)*q8MR*kp], x.wb[c0*kp*nr:], kp, nb, &rowTerm, g.colConst[c0*nr:], g.scale[c0*nr:], &x.rq, out, stride)
		} else {
			q8WideTile(ws.a[i*q8MR*kp:(i+1)*q8MR*kp], x.w[c0*kp*nr:], kp, nb, g.colConst[c0*nr:], g.scale[c0*nr:], &x.rq, out, stride)
		}
	}
	// Whole tiles of whole blocks go straight to the output; the rest
	// through tmp.
	if full := min(c1, g.n/nr); rows == q8MR && full > c0 {
		tile(c0, full-c0, out[c0*nr:], stride)
		c0 = full
	}
	if c0 == c1 {
		return
	}
	width := (c1 - c0) * nr
	tmp := ws.tmp[:q8MR*width]
	tile(c0, c1-c0, tmp, width)
	end := min(c1*nr, g.n)
	for r := 0; r < rows; r++ {
		copy(out[r*stride+c0*nr:r*stride+end], tmp[r*width:])
	}
}
