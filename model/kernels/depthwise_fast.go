package kernels

import "unsafe"

// The fast depthwise path, for multiplier one: the input is copied into
// float32 strips whose padding is materialized, so every output pixel reads its taps at fixed offsets from one base, with
// no bounds logic, and multiply-adds run on the floating-point units, which
// issue two multiplies per cycle where integer multiplies issue one.
//
// For 8-bit data the float32 sums are exact: each product of an activation
// (|x| ≤ 255) and an offset filter value (|w'| ≤ 255) is an integer below
// 2^16, and Prepare only takes this path when taps·max|x|·max|w'| < 2^24,
// so every partial sum is an integer float32 represents exactly, whatever
// the order. The result equals the integer sum bit for bit.

// dwPadded describes the padded float copy and holds the float filter.
// The copy is made in strips: each part converts the input rows a band of
// output rows reads into its own strip, then computes those rows, so the
// rows it reads are the ones it just wrote, in its own cache — a whole
// MobileNetV2 layer as float32 is up to 4.8 MB, more than a core's L2
// cache, and when one thread converted what the other read, the fetches
// across cores ate a third of two threads' gain.
type dwPadded struct {
	pad     float32
	wp      int // padded width
	c       int
	inH     int
	inW     int
	strideH int
	kEffH   int   // padded rows one output row reads
	tapOff  []int // offset of each tap from a pixel's first tap, in elements
	// tapBytes is tapOff in bytes, for the SIMD kernels.
	tapBytes []int
	w        []float32 // filter values (plus offset), [tap][c]
	padTop   int
	padLeft  int
	// band is the most output rows one strip holds the input of, and
	// stripSize a strip's length.
	band, stripSize int
	// strips are the parts' buffers, views of the context's float
	// scratch taken at each Eval (attach): the layers of one interpreter
	// run one at a time, so one scratch the size of the largest serves
	// them all.
	strips []dwStrip
}

// dwStripFloats bounds a strip (384 KiB of float32): with the 8-bit input
// rows it is made from, it stays in a core's L2 cache, and it holds a
// whole part of MobileNetV2's 14×14 layers at once.
const dwStripFloats = 96 << 10

func newDWPadded(ctx *Context, g *convGeometry, parts int, w []float32, pad float32) *dwPadded {
	p := &dwPadded{c: g.inC, w: w, pad: pad, padTop: g.padTop, padLeft: g.padLeft, inH: g.inH, inW: g.inW, strideH: g.strideH}
	p.wp = max(g.padLeft+g.inW+g.padRight, (g.outW-1)*g.strideW+(g.filterW-1)*g.dilationW+1)
	p.kEffH = (g.filterH-1)*g.dilationH + 1
	row := p.wp * p.c
	rows := max(p.kEffH, dwStripFloats/row)
	p.band = min(g.outH, max(1, (rows-p.kEffH)/g.strideH+1))
	p.stripSize = ((p.band-1)*g.strideH + p.kEffH) * row
	p.strips = make([]dwStrip, parts)
	for i := range p.strips {
		p.strips[i].dwPadded = p
	}
	ctx.reserveF32(parts * p.stripSize)
	for ky := 0; ky < g.filterH; ky++ {
		for kx := 0; kx < g.filterW; kx++ {
			p.tapOff = append(p.tapOff, (ky*g.dilationH*p.wp+kx*g.dilationW)*p.c)
			p.tapBytes = append(p.tapBytes, 4*p.tapOff[len(p.tapOff)-1])
		}
	}
	return p
}

// attach gives each part its strip of ctx's scratch.
func (p *dwPadded) attach(ctx *Context) {
	for i := range p.strips {
		p.strips[i].buf = ctx.f32Scratch[i*p.stripSize : (i+1)*p.stripSize]
	}
}

// dwStrip is one part's padded float rows: padded rows from y0 on, of one
// batch.
type dwStrip struct {
	*dwPadded
	buf []float32
	y0  int
}

// load fills the strip with the padded rows output rows [oy0, oy1) of
// batch b read, converting each input row with fillRow(dst, b, iy).
func (st *dwStrip) load(b, oy0, oy1 int, fillRow func(dst []float32, b, iy int)) {
	row := st.wp * st.c
	st.y0 = oy0 * st.strideH
	y1 := (oy1-1)*st.strideH + st.kEffH
	left, right := st.padLeft*st.c, (st.padLeft+st.inW)*st.c
	for y := st.y0; y < y1; y++ {
		r := st.buf[(y-st.y0)*row : (y-st.y0+1)*row]
		iy := y - st.padTop
		if iy < 0 || iy >= st.inH {
			dwFill(r, st.pad)
			continue
		}
		dwFill(r[:left], st.pad)
		fillRow(r[left:right], b, iy)
		dwFill(r[right:], st.pad)
	}
}

// dwFill sets every element of s to v: past a few elements by copying
// what is already filled onto the rest, which runs as memmove.
func dwFill(s []float32, v float32) {
	n := min(len(s), 16)
	for i := range n {
		s[i] = v
	}
	for ; n < len(s); n *= 2 {
		copy(s[n:], s[:n])
	}
}

// base is the offset in the strip of output pixel (oy, ox)'s first tap.
func (st *dwStrip) base(g *convGeometry, oy, ox int) int {
	return ((oy*g.strideH-st.y0)*st.wp + ox*g.strideW) * st.c
}

// dwFillRowQ8 converts one row of 8-bit input.
func dwFillRowQ8[T int8 | uint8](dst []float32, src []byte) {
	for i, x := range src[:len(dst)] {
		dst[i] = float32(T(x))
	}
}

// dwSum4 sums the taps of four channels starting at x (the pixel's first
// tap at the first channel) with filter w (the first tap's first channel),
// taps wStride values apart. Four channels at a time keep the products and
// sums in registers; eight spill one sum and run at half the speed.
// Callers guarantee that every tap of all four channels lies within the
// buffers; unsafe offsets keep bounds checks out of the loop.
//
//go:noinline
func dwSum4(x, w *float32, tapOff []int, wStride int) (a0, a1, a2, a3 float32) {
	px, pw := unsafe.Pointer(x), unsafe.Pointer(w)
	for t, off := range tapOff {
		p := unsafe.Add(px, 4*off)
		q := unsafe.Add(pw, 4*t*wStride)
		a0 += *(*float32)(p) * *(*float32)(q)
		a1 += *(*float32)(unsafe.Add(p, 4)) * *(*float32)(unsafe.Add(q, 4))
		a2 += *(*float32)(unsafe.Add(p, 8)) * *(*float32)(unsafe.Add(q, 8))
		a3 += *(*float32)(unsafe.Add(p, 12)) * *(*float32)(unsafe.Add(q, 12))
	}
	return
}

// dwSum1 sums the taps of one channel.
func (p *dwStrip) dwSum1(base, ch int) float32 {
	var a float32
	for t, off := range p.tapOff {
		a += p.buf[base+off+ch] * p.w[t*p.c+ch]
	}
	return a
}

// pixel computes the tap sums of output pixel base into acc (c values).
func (p *dwStrip) pixel(base int, acc []float32) {
	c := p.c
	acc = acc[:c]
	buf := p.buf[base:]
	_ = buf[p.tapOff[len(p.tapOff)-1]+c-1]
	ch := 0
	for ; ch+4 <= c; ch += 4 {
		a := acc[ch : ch+4 : ch+4]
		a[0], a[1], a[2], a[3] = dwSum4(&buf[ch], &p.w[ch], p.tapOff, c)
	}
	for ; ch < c; ch++ {
		acc[ch] = p.dwSum1(base, ch)
	}
}
