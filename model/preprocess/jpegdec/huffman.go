package jpegdec

import "encoding/binary"

// lutBits is how many leading bits the lookup table decodes at once: most
// codes of camera images are shorter.
const lutBits = 9

// huffTable is one Huffman table in the two forms the decoder reads: the
// lookup table for short codes, and the canonical code ranges per length
// for the rest.
type huffTable struct {
	defined bool
	// lut[b] for the next lutBits bits b: the code's length << 8 | its
	// symbol, or 0 when the code is longer.
	lut [1 << lutBits]uint16
	// maxCode[l] is the largest code of length l (−1 for none); the
	// symbol of code c of length l is vals[valOff[l]+c].
	maxCode [17]int32
	valOff  [17]int32
	vals    [256]byte
}

func (d *Decoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return errFormat("Huffman table header cut short")
		}
		tc, th := seg[0]>>4, int(seg[0]&15)
		if tc > 1 || th > 3 {
			return errFormat("Huffman table class %d id %d", tc, th)
		}
		var counts [17]int
		total := 0
		for l := 1; l <= 16; l++ {
			counts[l] = int(seg[l])
			total += counts[l]
		}
		if total == 0 || total > 256 || len(seg) < 17+total {
			return errFormat("Huffman table of %d symbols", total)
		}
		if err := d.huff[tc][th].build(counts, seg[17:17+total]); err != nil {
			return err
		}
		seg = seg[17+total:]
	}
	return nil
}

// build makes the canonical code of the symbols, counts[l] of each length
// l, in order.
func (h *huffTable) build(counts [17]int, symbols []byte) error {
	clear(h.lut[:])
	copy(h.vals[:], symbols)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		h.valOff[l] = k - code
		h.maxCode[l] = -1
		if counts[l] > 0 {
			code += int32(counts[l])
			k += int32(counts[l])
			if code > 1<<l {
				return errFormat("Huffman code lengths oversubscribed")
			}
			h.maxCode[l] = code - 1
			if l <= lutBits {
				for c := code - int32(counts[l]); c < code; c++ {
					entry := uint16(l)<<8 | uint16(symbols[h.valOff[l]+c])
					lo := c << (lutBits - l)
					for i := lo; i < lo+1<<(lutBits-l); i++ {
						h.lut[i] = entry
					}
				}
			}
		}
		code <<= 1
	}
	h.defined = true
	return nil
}

// fill tops the bit buffer up to at least 57 bits. After the segment's
// data — at a marker or at the end — it feeds zeros and counts them.
func (d *Decoder) fill() {
	// Fast path: the whole bytes that fit, read as one word, when none of
	// them is 0xFF (a stuffed byte or a marker).
	if n := (64 - d.nbits) / 8; d.pad == 0 && d.pos+8 <= len(d.data) && n > 0 {
		chunk := binary.BigEndian.Uint64(d.data[d.pos:]) >> (64 - 8*n)
		// A byte of chunk is 0xFF where ^chunk has a zero byte (the bytes
		// above the n read are zero in chunk, so not zero in ^chunk).
		x := ^chunk
		if (x-0x0101010101010101)&^x&0x8080808080808080 == 0 {
			d.bits |= chunk << (64 - 8*n - d.nbits)
			d.nbits += 8 * n
			d.pos += int(n)
			return
		}
	}
	for d.nbits <= 56 {
		var b byte
		if d.pad == 0 && d.pos < len(d.data) {
			b = d.data[d.pos]
			if b != 0xFF {
				d.pos++
			} else if d.pos+1 < len(d.data) && d.data[d.pos+1] == 0 {
				d.pos += 2 // a stuffed 0xFF data byte
			} else {
				b = 0 // a marker: it stays for the caller to read
				d.pad += 8
			}
		} else {
			d.pad += 8
		}
		d.bits |= uint64(b) << (56 - d.nbits)
		d.nbits += 8
	}
}

// truncated reports whether any of the zero bits fed after the segment's
// data has been consumed.
func (d *Decoder) truncated() bool { return d.pad > d.nbits }

// decode reads one Huffman-coded symbol.
func (d *Decoder) decode(h *huffTable) (byte, error) {
	if d.nbits < 16 {
		d.fill()
	}
	if e := h.lut[d.bits>>(64-lutBits)]; e != 0 {
		n := uint(e >> 8)
		d.bits <<= n
		d.nbits -= n
		return byte(e), nil
	}
	for l := uint(lutBits + 1); l <= 16; l++ {
		code := int32(d.bits >> (64 - l))
		if code <= h.maxCode[l] {
			d.bits <<= l
			d.nbits -= l
			return h.vals[h.valOff[l]+code], nil
		}
	}
	return 0, errFormat("bad Huffman code")
}

// receive reads an s-bit coefficient (s ≤ 16) and extends its sign.
func (d *Decoder) receive(s uint) int32 {
	if d.nbits < s {
		d.fill()
	}
	v := int32(d.bits >> (64 - s))
	d.bits <<= s
	d.nbits -= s
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}
