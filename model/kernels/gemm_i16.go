package kernels

// The int16×int8 ("16x8") matrix product behind int16 CONV_2D and
// FULLY_CONNECTED. Sums run in int64 (the product of an int16 and an int8
// fits 23 bits) and are rescaled as TFLite does for the bias type
// (convRound16). Zero points are zero for int16, so no offsets enter the
// sum.

const i16NR = 2 // channels per weight panel

type i16Gemm struct {
	k, n   int
	panels int
	w      []int16 // panels [k][2], int8 values widened
	bias   []int64 // per channel, zero when omitted
	wide   bool    // int64 bias: int64 sums (see convRound16)
	quant  convQuant
}

// newI16Gemm packs weights for n channels of k values. The bias starts at
// zero; callers load it into g.bias. wide selects int64 sums.
func newI16Gemm(w []int8, n, k int, quant convQuant, wide bool) *i16Gemm {
	g := &i16Gemm{k: k, n: n, panels: (n + i16NR - 1) / i16NR, quant: quant, bias: make([]int64, n), wide: wide}
	g.w = make([]int16, g.panels*k*i16NR)
	for p := 0; p < g.panels; p++ {
		for kk := 0; kk < k; kk++ {
			for j := 0; j < i16NR; j++ {
				if c := p*i16NR + j; c < n {
					g.w[(p*k+kk)*i16NR+j] = int16(w[c*k+kk])
				}
			}
		}
	}
	return g
}

func (g *i16Gemm) newPanel() []int16 { return make([]int16, g.k*q8MR) }

// tile4 computes up to four rows from a panel packed [k][4].
func (g *i16Gemm) tile4(panel []int16, rows int, out []int16, outStride int) {
	k := g.k
	panel = panel[:k*q8MR]
	for p := 0; p < g.panels; p++ {
		w := g.w[p*k*i16NR : (p+1)*k*i16NR]
		var c00, c01, c10, c11, c20, c21, c30, c31 int64
		for kk := 0; kk < k; kk++ {
			a := panel[kk*q8MR : kk*q8MR+q8MR : kk*q8MR+q8MR]
			b := w[kk*i16NR : kk*i16NR+i16NR : kk*i16NR+i16NR]
			b0, b1 := int64(b[0]), int64(b[1])
			a0, a1, a2, a3 := int64(a[0]), int64(a[1]), int64(a[2]), int64(a[3])
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1
		}
		acc := [q8MR][i16NR]int64{{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}}
		ch0 := p * i16NR
		cnt := min(i16NR, g.n-ch0)
		for r := 0; r < rows; r++ {
			o := out[r*outStride+ch0 : r*outStride+ch0+cnt]
			for j := range o {
				o[j] = g.requant(acc[r][j], ch0+j)
			}
		}
	}
}

// row1 computes one row of k activations into out.
func (g *i16Gemm) row1(a []int16, out []int16) {
	k := g.k
	a = a[:k]
	for p := 0; p < g.panels; p++ {
		w := g.w[p*k*i16NR : (p+1)*k*i16NR]
		var c0, c1 int64
		for kk, x := range a {
			b := w[kk*i16NR : kk*i16NR+i16NR : kk*i16NR+i16NR]
			c0 += int64(x) * int64(b[0])
			c1 += int64(x) * int64(b[1])
		}
		ch0 := p * i16NR
		out[ch0] = g.requant(c0, ch0)
		if ch0+1 < g.n {
			out[ch0+1] = g.requant(c1, ch0+1)
		}
	}
}

// requant adds the bias of channel c to acc, rescales, offsets and clamps.
func (g *i16Gemm) requant(acc int64, c int) int16 {
	return convRound16(&g.quant, acc+g.bias[c], c, g.wide)
}
