package jpegdec

import "fmt"

// scan decodes the scan whose header starts at d.pos, and every MCU of it.
func (d *Decoder) scan() error {
	if !d.sof {
		return errFormat("scan before the frame header")
	}
	seg, err := d.segment()
	if err != nil {
		return err
	}
	if len(seg) < 1 {
		return errFormat("empty scan header")
	}
	if d.adobeRGB && len(d.comps) == 3 {
		return fmt.Errorf("%w: RGB components (Adobe transform 0)", ErrUnsupported)
	}
	if int(seg[0]) != len(d.comps) {
		// A scan of fewer components than the frame: the picture comes
		// in several scans.
		return fmt.Errorf("%w: scan of %d of %d components", ErrUnsupported, seg[0], len(d.comps))
	}
	if len(seg) != 4+2*len(d.comps) {
		return errFormat("scan header of %d bytes for %d components", len(seg), len(d.comps))
	}
	for i := range d.comps {
		c := &d.comps[i]
		p := seg[1+2*i:]
		if p[0] != c.id {
			return errFormat("scan component %d is %d, not %d", i, p[0], c.id)
		}
		c.dc, c.ac = int(p[1]>>4), int(p[1]&15)
		if c.dc > 3 || c.ac > 3 || !d.huff[0][c.dc].defined || !d.huff[1][c.ac].defined {
			return errFormat("component %d uses undefined Huffman tables %d/%d", i, c.dc, c.ac)
		}
		if !d.hasQuant[c.tq] {
			return errFormat("component %d uses undefined quantization table %d", i, c.tq)
		}
		c.pred = 0
	}
	tail := seg[1+2*len(d.comps):]
	if tail[0] != 0 || tail[1] != 63 || tail[2] != 0 {
		return fmt.Errorf("%w: spectral selection %d–%d, approximation %d", ErrUnsupported, tail[0], tail[1], tail[2])
	}
	mcuW, mcuH := 8*d.hmax, 8*d.vmax
	mcusX, mcusY := (d.width+mcuW-1)/mcuW, (d.height+mcuH-1)/mcuH
	// Every block takes at least two bits (a DC code and an end of
	// block): a header that claims more blocks than the file can hold is
	// refused before its planes are allocated.
	blocks := 0
	for _, c := range d.comps {
		blocks += mcusX * mcusY * c.h * c.v
	}
	if blocks > 4*len(d.data) {
		return errFormat("%d×%d pixels in a file of %d bytes", d.width, d.height, len(d.data))
	}
	for i := range d.comps {
		c := &d.comps[i]
		c.stride = mcusX * 8 * c.h
		c.plane = grow(c.plane, c.stride*mcusY*8*c.v)
	}
	d.bits, d.nbits, d.pad = 0, 0, 0
	mcu := 0
	for my := range mcusY {
		for mx := range mcusX {
			if d.restart > 0 && mcu > 0 && mcu%d.restart == 0 {
				if err := d.restartInterval(); err != nil {
					return err
				}
			}
			mcu++
			for i := range d.comps {
				c := &d.comps[i]
				for v := range c.v {
					for h := range c.h {
						if err := d.block(c); err != nil {
							return err
						}
						x, y := (mx*c.h+h)*8, (my*c.v+v)*8
						idct(&d.blk, c.plane[y*c.stride+x:], c.stride)
					}
				}
			}
		}
		if d.truncated() {
			return errFormat("entropy-coded data cut short")
		}
	}
	return d.endSegment()
}

// restartInterval checks and consumes the restart marker between two
// intervals and resets the decoder's state for the next.
func (d *Decoder) restartInterval() error {
	if d.truncated() {
		return errFormat("entropy-coded data cut short")
	}
	if err := d.endSegment(); err != nil {
		return err
	}
	m, err := d.nextMarker()
	if err != nil {
		return err
	}
	if m < markerRST0 || m > markerRST7 {
		return errFormat("expected a restart marker, found 0x%02X", m)
	}
	d.bits, d.nbits, d.pad = 0, 0, 0
	for i := range d.comps {
		d.comps[i].pred = 0
	}
	return nil
}

// endSegment leaves d.pos at the marker that ends the entropy-coded
// segment: the bit reader stops before markers, but may not have reached
// one when the last bytes held only padding bits.
func (d *Decoder) endSegment() error {
	for d.pos < len(d.data) {
		if d.data[d.pos] == 0xFF {
			if d.pos+1 < len(d.data) && d.data[d.pos+1] == 0 {
				d.pos += 2
				continue
			}
			return nil
		}
		d.pos++
	}
	return errFormat("entropy-coded data without an end")
}

// block decodes one 8×8 block of component c into d.blk: dequantized and
// scaled for idct, in natural order. The AC loop keeps the bit buffer in
// locals and tops it up once per coefficient: a code and its value take at
// most 32 bits.
func (d *Decoder) block(c *component) error {
	clear(d.blk[:])
	q := &d.quant[c.tq]
	s, err := d.decode(&d.huff[0][c.dc])
	if err != nil {
		return err
	}
	if s > 11 {
		return errFormat("DC difference of %d bits", s)
	}
	if s > 0 {
		c.pred += d.receive(uint(s))
	}
	d.blk[0] = float32(c.pred) * q[0]
	ac := &d.huff[1][c.ac]
	bits, nbits := d.bits, d.nbits
	for k := 1; k < 64; k++ {
		if nbits < 32 {
			d.bits, d.nbits = bits, nbits
			d.fill()
			bits, nbits = d.bits, d.nbits
		}
		var rs byte
		if e := ac.lut[bits>>(64-lutBits)]; e != 0 {
			n := uint(e >> 8)
			bits <<= n
			nbits -= n
			rs = byte(e)
		} else {
			d.bits, d.nbits = bits, nbits
			if rs, err = d.decode(ac); err != nil {
				return err
			}
			bits, nbits = d.bits, d.nbits
		}
		r, s := int(rs>>4), uint(rs&15)
		if s == 0 {
			if r != 15 {
				break // end of block
			}
			if k += 15; k > 63 {
				return errFormat("zero run past the block")
			}
			continue
		}
		k += r
		if k > 63 {
			return errFormat("AC coefficients past the block")
		}
		v := int32(bits >> (64 - s))
		bits <<= s
		nbits -= s
		if v < 1<<(s-1) {
			v += -1<<s + 1
		}
		d.blk[zigzag[k]] = float32(v) * q[k]
	}
	d.bits, d.nbits = bits, nbits
	return nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
