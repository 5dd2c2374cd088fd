package kernels

// The SIMD depthwise path (LevelAVX2) for 8-bit data with multiplier one
// and the runtime rounding: the padded float copy of depthwise_fast.go,
// filled by vector conversions, summed with FMA and requantized in vector
// registers. The sums are exact integers (see depthwise_fast.go), so they
// equal the generic kernel's in any order, and the requantization runs the
// same float32 operations; the bytes are identical.

// dwRowArgs is what the row kernel reads; depthwise_amd64.s fixes its
// field offsets.
type dwRowArgs struct {
	x      *float32 // first tap of the row's first pixel, channel 0
	xstep  int      // bytes between consecutive pixels' first taps
	pixels int
	w      *float32
	taps   *int // byte offsets of the taps from a pixel's first tap
	ntaps  int
	c      int // channels, the stride of w between taps
	c32    int // channels done dwBig at a time
	c8     int // channels done in vectors at all (dwBig and then dwVec at a time)
	cc     *int32
	scale  *float32
	rq     *q8Requant
	out    *byte
	ostep  int // bytes between output pixels
	// For float data: the bias, the activation range and the output.
	bias *float32
	lohi *[2]float32
	outF *float32
}

// dwFastRowQ8Wide computes channels [ch0, ch1) of output row oy of batch
// b with the row kernel, and the channels past the last whole vector with
// scalar code.
func dwFastRowQ8Wide(d *depthwiseConv, s *dwQ8State, f *dwStrip, b, oy, ch0, ch1 int) {
	g := &d.geo
	c := g.outC
	width := ch1 - ch0
	c8 := width / dwVec * dwVec
	row := (b*g.outH + oy) * g.outW * c
	if c8 > 0 {
		a := dwRowArgs{
			x: &f.buf[f.base(g, oy, 0)+ch0], xstep: g.strideW * c * 4, pixels: g.outW,
			w: &f.w[ch0], taps: &f.tapBytes[0], ntaps: len(f.tapBytes),
			c: c, c32: width / dwBig * dwBig, c8: c8,
			cc: &s.colConst[ch0], scale: &s.quant.scale[ch0], rq: &s.rq,
			out: &s.out[row+ch0], ostep: c,
		}
		dwRowQ8(&a)
	}
	if c8 == width {
		return
	}
	q := &s.quant
	for ox := 0; ox < g.outW; ox++ {
		base := f.base(g, oy, ox)
		o := s.out[row+ox*c : row+ox*c+c]
		for ch := ch0 + c8; ch < ch1; ch++ {
			o[ch] = byte(q.round(int32(f.dwSum1(base, ch))+s.colConst[ch], ch))
		}
	}
}

// dwSlices is how many channel slices, each a whole number of dwBig
// channels, the output rows of a layer are cut into so that parts threads
// get equal shares: a 7×7 layer has seven rows, which two threads would
// share four to three. Layers with many rows stay whole.
func dwSlices(rows, c, parts int) int {
	if parts < 2 || rows >= 8*parts {
		return 1
	}
	a, b := rows, parts
	for b != 0 {
		a, b = b, a%b
	}
	return max(1, min(parts/a, c/dwBig))
}

// dwSlice returns slice i of n of c channels, cut at multiples of dwBig.
func dwSlice(c, n, i int) (lo, hi int) {
	blocks := (c + dwBig - 1) / dwBig
	lo = min(c, i*blocks/n*dwBig)
	hi = min(c, (i+1)*blocks/n*dwBig)
	return lo, hi
}

// dwFillRowQ8Wide is dwFillRowQ8 with vector conversions.
func dwFillRowQ8Wide[T int8 | uint8](dst []float32, src []byte) {
	var zero T
	src = src[:len(dst)]
	for i := dwFillWide(dst, src, ^zero < 0); i < len(src); i++ {
		dst[i] = float32(T(src[i]))
	}
}

// dwFastRowF32Wide computes output row oy of batch b of a float depthwise
// convolution with the row kernel, and the channels past the last whole
// vector with scalar code; the sums keep the generic order.
func dwFastRowF32Wide(d *depthwiseConv, s *dwF32State, f *dwStrip, b, oy int) {
	g := &d.geo
	c := g.outC
	c8 := c / dwVec * dwVec
	row := (b*g.outH + oy) * g.outW * c
	if c8 > 0 {
		a := dwRowArgs{
			x: &f.buf[f.base(g, oy, 0)], xstep: g.strideW * c * 4, pixels: g.outW,
			w: &f.w[0], taps: &f.tapBytes[0], ntaps: len(f.tapBytes),
			c: c, c32: c / dwBig * dwBig, c8: c8,
			bias: &s.bias[0], lohi: &s.lohi, outF: &s.out[row], ostep: 4 * c,
		}
		dwRowF32(&a)
	}
	for ox := 0; c8 < c && ox < g.outW; ox++ {
		base := f.base(g, oy, ox)
		o := s.out[row+ox*c : row+ox*c+c]
		for ch := c8; ch < c; ch++ {
			o[ch] = min(max(f.dwSum1(base, ch)+s.bias[ch], s.lo), s.hi)
		}
	}
}
