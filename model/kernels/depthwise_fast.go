package kernels

import "unsafe"

// The fast depthwise path, for multiplier one: the input is copied into a
// float32 buffer whose padding is materialized (filled once, at Prepare),
// so every output pixel reads its taps at fixed offsets from one base, with
// no bounds logic, and multiply-adds run on the floating-point units, which
// issue two multiplies per cycle where integer multiplies issue one.
//
// For 8-bit data the float32 sums are exact: each product of an activation
// (|x| ≤ 255) and an offset filter value (|w'| ≤ 255) is an integer below
// 2^16, and Prepare only takes this path when taps·max|x|·max|w'| < 2^24,
// so every partial sum is an integer float32 represents exactly, whatever
// the order. The result equals the integer sum bit for bit.

// dwPadded holds the padded float copy of the input and the float filter.
type dwPadded struct {
	// buf is the context's float scratch, taken at each Eval (attach):
	// the layers of one interpreter run one at a time, so one buffer the
	// size of the largest serves them all.
	buf    []float32
	size   int
	pad    float32
	hp, wp int // padded height and width
	c      int
	inH    int
	inW    int
	tapOff []int // offset of each tap from a pixel's first tap, in elements
	// tapBytes is tapOff in bytes, for the SIMD kernels.
	tapBytes []int
	w        []float32 // filter values (plus offset), [tap][c]
	padTop   int
	padLeft  int
}

func newDWPadded(ctx *Context, g *convGeometry, w []float32, pad float32) *dwPadded {
	p := &dwPadded{c: g.inC, w: w, pad: pad, padTop: g.padTop, padLeft: g.padLeft, inH: g.inH, inW: g.inW}
	p.hp = max(g.padTop+g.inH+g.padBottom, (g.outH-1)*g.strideH+(g.filterH-1)*g.dilationH+1)
	p.wp = max(g.padLeft+g.inW+g.padRight, (g.outW-1)*g.strideW+(g.filterW-1)*g.dilationW+1)
	p.size = g.batches * p.hp * p.wp * p.c
	ctx.reserveF32(p.size)
	for ky := 0; ky < g.filterH; ky++ {
		for kx := 0; kx < g.filterW; kx++ {
			p.tapOff = append(p.tapOff, (ky*g.dilationH*p.wp+kx*g.dilationW)*p.c)
			p.tapBytes = append(p.tapBytes, 4*p.tapOff[len(p.tapOff)-1])
		}
	}
	return p
}

// attach takes ctx's scratch as the buffer and writes the pad value
// around where the input rows go (fills write the interior).
func (p *dwPadded) attach(ctx *Context) {
	p.buf = ctx.f32Scratch[:p.size]
	row := p.wp * p.c
	fill := func(s []float32) {
		for i := range s {
			s[i] = p.pad
		}
	}
	for b := 0; b < len(p.buf)/(p.hp*row); b++ {
		img := p.buf[b*p.hp*row : (b+1)*p.hp*row]
		fill(img[:p.padTop*row])
		fill(img[(p.padTop+p.inH)*row:])
		for y := p.padTop; y < p.padTop+p.inH; y++ {
			r := img[y*row : (y+1)*row]
			fill(r[:p.padLeft*p.c])
			fill(r[(p.padLeft+p.inW)*p.c:])
		}
	}
}

// row returns the interior part of padded row y of batch b, where input
// row y goes.
func (p *dwPadded) row(b, y, inW int) []float32 {
	off := ((b*p.hp+y+p.padTop)*p.wp + p.padLeft) * p.c
	return p.buf[off : off+inW*p.c]
}

// base is the offset of output pixel (b, oy, ox)'s first tap.
func (p *dwPadded) base(g *convGeometry, b, oy, ox int) int {
	return ((b*p.hp+oy*g.strideH)*p.wp + ox*g.strideW) * p.c
}

// fillQ8 converts 8-bit input into the buffer's interior.
func dwFillQ8[T int8 | uint8](p *dwPadded, g *convGeometry, in []byte, lo, hi int) {
	rowLen := g.inW * g.inC
	for r := lo; r < hi; r++ {
		b, y := r/g.inH, r%g.inH
		src := in[r*rowLen:][:rowLen]
		dst := p.row(b, y, g.inW)[:rowLen]
		for i, x := range src {
			dst[i] = float32(T(x))
		}
	}
}

// fillF32 copies float input into the buffer's interior.
func (p *dwPadded) fillF32(g *convGeometry, in []float32, lo, hi int) {
	rowLen := g.inW * g.inC
	for r := lo; r < hi; r++ {
		b, y := r/g.inH, r%g.inH
		copy(p.row(b, y, g.inW), in[r*rowLen:][:rowLen])
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
func (p *dwPadded) dwSum1(base, ch int) float32 {
	var a float32
	for t, off := range p.tapOff {
		a += p.buf[base+off+ch] * p.w[t*p.c+ch]
	}
	return a
}

// pixel computes the tap sums of output pixel base into acc (c values).
func (p *dwPadded) pixel(base int, acc []float32) {
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
