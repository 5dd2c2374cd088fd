package kernels

import "unsafe"

// The 8-bit matrix product behind quantized CONV_2D and FULLY_CONNECTED:
//
//	out[m][n] = requant(Σ_k (a[m][k] + inOff)·(w[n][k] + wOff) + bias[n])
//
// Scalar Go can issue about one 64-bit multiply per cycle, so each
// multiply does three multiply-accumulates: weights are pre-packed three
// output channels per int64, in 21-bit lanes at bits 0, 21 and 42, and one
// multiply by an activation scales all three lanes at once. Products of an
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
	q8NR       = 2  // packed weight words (three channels each) per panel
	q8Chunk    = 32 // steps before lanes are split: 32·255·128 < 2^20
)

// q8Gemm holds packed weights and the per-channel epilogue of one 8-bit
// matrix product with k-long rows and n output channels.
type q8Gemm struct {
	k, n    int
	triples int // packed words per step: ceil(n/3)
	full    int // panels of q8NR words; a last single-word panel follows when triples is odd
	// w holds the panels one after another, each laid out [k][words],
	// followed by one spare panel row so that kernels never address past it.
	w        []int64
	rowCoef  int32   // d, the multiplier of each row's sum
	colBase  []int32 // inOff·Σv + K·inOff·d per channel
	colConst []int32 // colBase + bias per channel
	quant    convQuant
}

// q8Weights describes raw 8-bit weights laid out [n][k].
type q8Weights struct {
	data     []byte
	unsigned bool  // uint8 values (stored shifted by -128)
	offset   int32 // added to every weight value (minus its zero point)
}

// newQ8Gemm packs weights for n channels of k values and folds the input
// offset (minus the input zero point) into per-channel constants.
func newQ8Gemm(w q8Weights, n, k int, inOff int32, quant convQuant) *q8Gemm {
	g := &q8Gemm{k: k, n: n, triples: (n + 2) / 3, quant: quant}
	g.full = g.triples / q8NR
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
	g.w = make([]int64, g.triples*k+q8NR)
	off := 0
	for p := 0; p < g.full; p++ {
		for kk := 0; kk < k; kk++ {
			for j := 0; j < q8NR; j++ {
				g.w[off] = packed(p*q8NR+j, kk)
				off++
			}
		}
	}
	if g.triples%q8NR != 0 {
		for kk := 0; kk < k; kk++ {
			g.w[off] = packed(g.triples-1, kk)
			off++
		}
	}
	g.colBase = make([]int32, n)
	g.colConst = make([]int32, n)
	for c := 0; c < n; c++ {
		var sum int32
		for kk := 0; kk < k; kk++ {
			sum += int32(value(c, kk))
		}
		g.colBase[c] = inOff*sum + int32(k)*inOff*d
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

// panelBytes is the scratch size of one packed four-row panel.
func (g *q8Gemm) panelBytes() int { return g.k*q8MR + 64 }

// q8Sums holds a tile's int32 accumulators: four rows of six channels.
type q8Sums [q8MR][3 * q8NR]int32

// q8Split adds the three signed 21-bit lanes of acc to s[0..2].
func q8Split(acc int64, s []int32) {
	s = s[:3]
	l0 := acc << (64 - q8LaneBits) >> (64 - q8LaneBits)
	acc = (acc - l0) >> q8LaneBits
	l1 := acc << (64 - q8LaneBits) >> (64 - q8LaneBits)
	s[0] += int32(l0)
	s[1] += int32(l1)
	s[2] += int32((acc - l1) >> q8LaneBits)
}

// tile4 computes up to four rows (rows) from a panel packed [k][4] and
// writes their n outputs at out, rows outStride bytes apart. rowSum holds
// each row's sum of activations.
func tile4[T int8 | uint8](g *q8Gemm, panel []byte, rowSum *[q8MR]int32, rows int, out []byte, outStride int) {
	k := g.k
	_ = panel[k*q8MR-1]
	var rowTerm [q8MR]int32
	for r := range rowTerm {
		rowTerm[r] = g.rowCoef * rowSum[r]
	}
	pa := (*T)(unsafe.Pointer(unsafe.SliceData(panel)))
	for p := 0; p < g.full; p++ {
		var s q8Sums
		w := g.w[p*q8NR*k:]
		for k0 := 0; k0 < k; k0 += q8Chunk {
			kc := min(q8Chunk, k-k0)
			c00, c01, c10, c11, c20, c21, c30, c31 := q8Kernel4x2((*T)(unsafe.Add(unsafe.Pointer(pa), k0*q8MR)), &w[k0*q8NR], kc)
			q8Split(c00, s[0][0:])
			q8Split(c01, s[0][3:])
			q8Split(c10, s[1][0:])
			q8Split(c11, s[1][3:])
			q8Split(c20, s[2][0:])
			q8Split(c21, s[2][3:])
			q8Split(c30, s[3][0:])
			q8Split(c31, s[3][3:])
		}
		g.store(&s, &rowTerm, rows, p*3*q8NR, out, outStride)
	}
	if g.triples%q8NR != 0 {
		var s q8Sums
		w := g.w[g.full*q8NR*k:]
		for k0 := 0; k0 < k; k0 += q8Chunk {
			kc := min(q8Chunk, k-k0)
			c0, c1, c2, c3 := q8Kernel4x1((*T)(unsafe.Add(unsafe.Pointer(pa), k0*q8MR)), &w[k0], kc)
			q8Split(c0, s[0][0:])
			q8Split(c1, s[1][0:])
			q8Split(c2, s[2][0:])
			q8Split(c3, s[3][0:])
		}
		g.store(&s, &rowTerm, rows, g.full*3*q8NR, out, outStride)
	}
}

// row1 computes one row a (k activations) into out.
func row1[T int8 | uint8](g *q8Gemm, a []byte, rowSum int32, out []byte) {
	k := g.k
	_ = a[k-1]
	rowTerm := [q8MR]int32{g.rowCoef * rowSum}
	pa := (*T)(unsafe.Pointer(unsafe.SliceData(a)))
	for p := 0; p < g.full; p++ {
		var s q8Sums
		w := g.w[p*q8NR*k:]
		for k0 := 0; k0 < k; k0 += q8Chunk {
			kc := min(q8Chunk, k-k0)
			c0, c1 := q8Kernel1x2((*T)(unsafe.Add(unsafe.Pointer(pa), k0)), &w[k0*q8NR], kc)
			q8Split(c0, s[0][0:])
			q8Split(c1, s[0][3:])
		}
		g.store(&s, &rowTerm, 1, p*3*q8NR, out, 0)
	}
	if g.triples%q8NR != 0 {
		var s q8Sums
		w := g.w[g.full*q8NR*k:]
		for k0 := 0; k0 < k; k0 += q8Chunk {
			kc := min(q8Chunk, k-k0)
			q8Split(q8Kernel1x1((*T)(unsafe.Add(unsafe.Pointer(pa), k0)), &w[k0], kc), s[0][0:])
		}
		g.store(&s, &rowTerm, 1, g.full*3*q8NR, out, 0)
	}
}

// store requantizes a tile's sums for channels ch0.. and writes them.
func (g *q8Gemm) store(s *q8Sums, rowTerm *[q8MR]int32, rows, ch0 int, out []byte, outStride int) {
	cnt := min(3*q8NR, g.n-ch0)
	if cnt <= 0 {
		return
	}
	q := &g.quant
	if cnt == 3*q8NR && q.rounding == convRoundRuntime {
		// The common case, with fixed-size views that need no bounds checks.
		cc := (*[3 * q8NR]int32)(g.colConst[ch0:])
		sc := (*[3 * q8NR]float32)(q.scale[ch0:])
		off, lo, hi := int64(q.outZP)-convMagicBits, int64(q.lo), int64(q.hi)
		for r := 0; r < rows; r++ {
			q8Requant6((*[3 * q8NR]byte)(out[r*outStride+ch0:]), &s[r], rowTerm[r], cc, sc, off, lo, hi)
		}
		return
	}
	cc := g.colConst[ch0 : ch0+cnt]
	for r := 0; r < rows; r++ {
		o := out[r*outStride+ch0 : r*outStride+ch0+cnt]
		sr := s[r][:cnt]
		rt := rowTerm[r]
		for j := range o {
			o[j] = byte(q.round(sr[j]+rt+cc[j], ch0+j))
		}
	}
}

// q8Requant6 requantizes one row of a full tile with the runtime rounding:
// unrolled, it keeps every operand in registers. off is the output zero
// point less the rounding constant's bits.
func q8Requant6(o *[3 * q8NR]byte, s *[3 * q8NR]int32, rt int32, cc *[3 * q8NR]int32, sc *[3 * q8NR]float32, off, lo, hi int64) {
	o[0] = byte(min(max(convRoundBits(s[0]+rt+cc[0], sc[0])+off, lo), hi))
	o[1] = byte(min(max(convRoundBits(s[1]+rt+cc[1], sc[1])+off, lo), hi))
	o[2] = byte(min(max(convRoundBits(s[2]+rt+cc[2], sc[2])+off, lo), hi))
	o[3] = byte(min(max(convRoundBits(s[3]+rt+cc[3], sc[3])+off, lo), hi))
	o[4] = byte(min(max(convRoundBits(s[4]+rt+cc[4], sc[4])+off, lo), hi))
	o[5] = byte(min(max(convRoundBits(s[5]+rt+cc[5], sc[5])+off, lo), hi))
}

// The kernels below multiply-accumulate kc steps of packed activations
// (rows interleaved, one byte each) with packed weight words. They address
// memory through unsafe offsets from the start pointers: bounds checks in
// this loop cost about a fifth of its speed. Callers guarantee that
// a[0 : kc·rows] and w[0 : kc·words] are in range.

func q8Kernel4x2[T int8 | uint8](a *T, w *int64, kc int) (c00, c01, c10, c11, c20, c21, c30, c31 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for i := 0; i < kc; i++ {
		b0 := *(*int64)(unsafe.Add(pw, 16*i))
		b1 := *(*int64)(unsafe.Add(pw, 16*i+8))
		a0 := int64(*(*T)(unsafe.Add(pa, 4*i)))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(*(*T)(unsafe.Add(pa, 4*i+1)))
		c10 += a1 * b0
		c11 += a1 * b1
		a2 := int64(*(*T)(unsafe.Add(pa, 4*i+2)))
		c20 += a2 * b0
		c21 += a2 * b1
		a3 := int64(*(*T)(unsafe.Add(pa, 4*i+3)))
		c30 += a3 * b0
		c31 += a3 * b1
	}
	return
}

func q8Kernel4x1[T int8 | uint8](a *T, w *int64, kc int) (c0, c1, c2, c3 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for i := 0; i < kc; i++ {
		b := *(*int64)(unsafe.Add(pw, 8*i))
		c0 += int64(*(*T)(unsafe.Add(pa, 4*i))) * b
		c1 += int64(*(*T)(unsafe.Add(pa, 4*i+1))) * b
		c2 += int64(*(*T)(unsafe.Add(pa, 4*i+2))) * b
		c3 += int64(*(*T)(unsafe.Add(pa, 4*i+3))) * b
	}
	return
}

func q8Kernel1x2[T int8 | uint8](a *T, w *int64, kc int) (c0, c1 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for i := 0; i < kc; i++ {
		x := int64(*(*T)(unsafe.Add(pa, i)))
		c0 += x * *(*int64)(unsafe.Add(pw, 16*i))
		c1 += x * *(*int64)(unsafe.Add(pw, 16*i+8))
	}
	return
}

func q8Kernel1x1[T int8 | uint8](a *T, w *int64, kc int) (c int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for i := 0; i < kc; i++ {
		c += int64(*(*T)(unsafe.Add(pa, i))) * *(*int64)(unsafe.Add(pw, 8*i))
	}
	return
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

// q8RowSum is the sum of a row's values.
func q8RowSum[T int8 | uint8](row []byte) int32 {
	var sum int32
	for _, x := range row {
		sum += int32(T(x))
	}
	return sum
}
