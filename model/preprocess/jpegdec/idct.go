package jpegdec

import "math"

// The inverse DCT is the Arai–Agui–Nakajima factorization in float32: five
// multiplies and 29 additions per 8-point transform, the rest of the
// cosine factors folded into the dequantization (idctScale, with the
// transform's overall 1/8).

// idctScale[k] is 1 for k = 0 and √2·cos(kπ/16) otherwise.
var idctScale = func() (s [8]float32) {
	s[0] = 1
	for k := 1; k < 8; k++ {
		s[k] = float32(math.Sqrt2 * math.Cos(float64(k)*math.Pi/16))
	}
	return s
}()

const (
	c4x2   = 1.414213562 // 2·cos(4π/16)
	c2x2   = 1.847759065 // 2·cos(2π/16)
	c2m6x2 = 1.082392200 // 2·(cos(2π/16) − cos(6π/16))
	c2p6x2 = 2.613125930 // 2·(cos(2π/16) + cos(6π/16))
)

// idct transforms the scaled coefficients in b (natural order) and writes
// the 8×8 samples, level-shifted, rounded and clamped to 0–255, at dst
// with the given stride. b is overwritten.
func idct(b *[64]float32, dst []byte, stride int) {
	// Columns; a column of zero AC coefficients (most, in smooth areas)
	// is its DC value eight times.
	for x := range 8 {
		c := b[x:]
		if c[8] == 0 && c[16] == 0 && c[24] == 0 && c[32] == 0 && c[40] == 0 && c[48] == 0 && c[56] == 0 {
			dc := c[0]
			c[8], c[16], c[24], c[32], c[40], c[48], c[56] = dc, dc, dc, dc, dc, dc, dc
			continue
		}
		c[0], c[8], c[16], c[24], c[32], c[40], c[48], c[56] = idct8(c[0], c[8], c[16], c[24], c[32], c[40], c[48], c[56])
	}
	// Rows, into the picture.
	for y := range 8 {
		r := b[8*y : 8*y+8 : 8*y+8]
		o0, o1, o2, o3, o4, o5, o6, o7 := idct8(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])
		out := dst[y*stride : y*stride+8 : y*stride+8]
		out[0], out[1], out[2], out[3] = sample(o0), sample(o1), sample(o2), sample(o3)
		out[4], out[5], out[6], out[7] = sample(o4), sample(o5), sample(o6), sample(o7)
	}
}

// sample level-shifts, rounds (half up) and clamps one output value.
func sample(v float32) byte {
	// Truncation toward zero rounds half up for v+128.5 ≥ 0; what is
	// below −1 or above 255 saturates (float comparisons with min and
	// max would also handle NaN, which cannot occur, at twice the cost).
	i := int32(v + 128.5)
	if uint32(i) > 255 {
		i = ^(i >> 31) & 255
	}
	return byte(i)
}

// idct8 is the 8-point AAN inverse DCT of scaled inputs.
func idct8(i0, i1, i2, i3, i4, i5, i6, i7 float32) (o0, o1, o2, o3, o4, o5, o6, o7 float32) {
	// Even part.
	t10 := i0 + i4
	t11 := i0 - i4
	t13 := i2 + i6
	t12 := float32((i2-i6)*c4x2) - t13
	e0 := t10 + t13
	e3 := t10 - t13
	e1 := t11 + t12
	e2 := t11 - t12
	// Odd part.
	z13 := i5 + i3
	z10 := i5 - i3
	z11 := i1 + i7
	z12 := i1 - i7
	t7 := z11 + z13
	t11o := float32((z11 - z13) * c4x2)
	z5 := float32((z10 + z12) * c2x2)
	t10o := z5 - float32(z12*c2m6x2)
	t12o := z5 - float32(z10*c2p6x2)
	t6 := t12o - t7
	t5 := t11o - t6
	t4 := t10o - t5
	return e0 + t7, e1 + t6, e2 + t5, e3 + t4, e3 - t4, e2 - t5, e1 - t6, e0 - t7
}
