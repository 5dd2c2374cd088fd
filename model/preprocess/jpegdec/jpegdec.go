// Package jpegdec decodes baseline JPEG images — what cameras write —
// faster than image/jpeg, into buffers it keeps from one image to the next.
//
// It reads sequential, Huffman-coded, 8-bit JPEG files with one (gray) or
// three (YCbCr) components, luma sampled 1×1, 2×1, 2×2 or 1×2 against the
// chroma, and restart intervals. Everything else — progressive or
// arithmetic coding, 12-bit samples, CMYK, RGB (Adobe) files, other
// sampling — is ErrUnsupported, and the caller decodes it with image/jpeg.
// Its samples are within one step of image/jpeg's (the inverse DCTs round
// differently).
//
// The speed comes from the entropy decoder: a 64-bit bit buffer filled a
// byte at a time, and one table lookup that gives a Huffman code's length
// and symbol for all codes of up to nine bits.
package jpegdec

import (
	"errors"
	"fmt"
	"image"
)

// Errors callers branch on: a valid JPEG this package does not decode (the
// caller decodes it otherwise), and one larger than MaxPixels.
var (
	ErrUnsupported = errors.New("jpegdec: unsupported JPEG")
	ErrTooLarge    = errors.New("jpegdec: image too large")
)

// errFormat reports a malformed JPEG.
func errFormat(format string, args ...any) error {
	return fmt.Errorf("jpegdec: invalid JPEG: "+format, args...)
}

// Markers (the byte after 0xFF).
const (
	markerSOF0 = 0xC0 // baseline
	markerSOF1 = 0xC1 // extended sequential, Huffman
	markerDHT  = 0xC4
	markerRST0 = 0xD0
	markerRST7 = 0xD7
	markerSOI  = 0xD8
	markerEOI  = 0xD9
	markerSOS  = 0xDA
	markerDQT  = 0xDB
	markerDRI  = 0xDD
	markerAP14 = 0xEE
)

// component is one colour component of the frame.
type component struct {
	id     byte
	h, v   int // sampling factors
	tq     int // quantization table
	dc, ac int // Huffman tables, from the scan header
	pred   int32
	plane  []byte
	stride int
}

// Decoder decodes JPEG images. The image Decode returns is valid until the
// next call. A Decoder is not safe for concurrent use.
type Decoder struct {
	// MaxPixels, when positive, bounds width × height: a larger frame
	// header is ErrTooLarge, before any pixel buffer is allocated.
	MaxPixels int

	data []byte
	pos  int

	// Entropy-coded data: bits holds nbits valid bits, left-aligned.
	bits  uint64
	nbits uint
	// pad counts the zero bits fed after the data or a marker ended the
	// segment: consuming one means the data was cut short.
	pad uint

	quant    [4][64]float32 // dequantization × IDCT scale, zigzag order
	hasQuant [4]bool
	huff     [2][4]huffTable // [DC, AC][id]

	width, height int
	comps         []component
	compBuf       [3]component
	restart       int
	hmax, vmax    int
	sof           bool
	// adobeRGB is set by an Adobe APP14 segment with colour transform 0:
	// three components that are R, G and B, not Y, Cb and Cr.
	adobeRGB bool

	ycc  image.YCbCr
	gray image.Gray
	blk  [64]float32
}

// Decode decodes data. The image (*image.YCbCr or *image.Gray) shares
// the Decoder's buffers: it is valid until the next call.
func (d *Decoder) Decode(data []byte) (image.Image, error) {
	d.reset(data)
	if len(data) < 2 || data[0] != 0xFF || data[1] != markerSOI {
		return nil, errFormat("missing SOI marker")
	}
	d.pos = 2
	scanned := false
	for {
		marker, err := d.nextMarker()
		if err != nil {
			return nil, err
		}
		switch {
		case marker == markerEOI:
			if !scanned {
				return nil, errFormat("no image data")
			}
			return d.image(), nil
		case marker == markerSOS:
			if scanned {
				return nil, fmt.Errorf("%w: more than one scan", ErrUnsupported)
			}
			if err := d.scan(); err != nil {
				return nil, err
			}
			scanned = true
			continue
		case marker >= markerRST0 && marker <= markerRST7:
			return nil, errFormat("restart marker outside a scan")
		}
		seg, err := d.segment()
		if err != nil {
			return nil, err
		}
		switch {
		case marker == markerSOF0 || marker == markerSOF1:
			err = d.parseSOF(seg)
		case marker >= 0xC2 && marker <= 0xCF && marker != markerDHT && marker != 0xC8 && marker != 0xCC:
			err = fmt.Errorf("%w: frame type 0x%02X (progressive, lossless or arithmetic)", ErrUnsupported, marker)
		case marker == 0xCC:
			err = fmt.Errorf("%w: arithmetic coding", ErrUnsupported)
		case marker == markerDHT:
			err = d.parseDHT(seg)
		case marker == markerDQT:
			err = d.parseDQT(seg)
		case marker == markerDRI:
			if len(seg) != 2 {
				err = errFormat("DRI of %d bytes", len(seg))
			} else {
				d.restart = int(seg[0])<<8 | int(seg[1])
			}
		case marker == markerAP14:
			// "Adobe", version, two flag words, then the transform.
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.adobeRGB = seg[11] == 0
			}
		}
		if err != nil {
			return nil, err
		}
	}
}

func (d *Decoder) reset(data []byte) {
	d.data, d.pos = data, 0
	d.bits, d.nbits, d.pad = 0, 0, 0
	d.hasQuant = [4]bool{}
	for c := range d.huff {
		for i := range d.huff[c] {
			d.huff[c][i].defined = false
		}
	}
	d.width, d.height, d.restart = 0, 0, 0
	d.comps = nil
	d.sof, d.adobeRGB = false, false
}

// nextMarker skips to the next marker (fill bytes 0xFF allowed) and
// returns it.
func (d *Decoder) nextMarker() (byte, error) {
	if d.pos >= len(d.data) || d.data[d.pos] != 0xFF {
		return 0, errFormat("expected a marker at byte %d", d.pos)
	}
	for d.pos < len(d.data) && d.data[d.pos] == 0xFF {
		d.pos++
	}
	if d.pos >= len(d.data) {
		return 0, errFormat("data ends in a marker")
	}
	m := d.data[d.pos]
	d.pos++
	if m == 0 {
		return 0, errFormat("stuffed byte outside entropy-coded data")
	}
	return m, nil
}

// segment returns the payload of the marker segment at d.pos.
func (d *Decoder) segment() ([]byte, error) {
	if d.pos+2 > len(d.data) {
		return nil, errFormat("segment length cut short")
	}
	n := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
	if n < 2 || d.pos+n > len(d.data) {
		return nil, errFormat("segment of %d bytes at byte %d", n, d.pos)
	}
	seg := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return seg, nil
}

func (d *Decoder) parseSOF(seg []byte) error {
	if d.sof {
		return errFormat("two frame headers")
	}
	if len(seg) < 6 {
		return errFormat("frame header of %d bytes", len(seg))
	}
	if seg[0] != 8 {
		return fmt.Errorf("%w: %d-bit samples", ErrUnsupported, seg[0])
	}
	d.height = int(seg[1])<<8 | int(seg[2])
	d.width = int(seg[3])<<8 | int(seg[4])
	if d.width == 0 || d.height == 0 {
		return fmt.Errorf("%w: image size in a DNL marker", ErrUnsupported)
	}
	if d.MaxPixels > 0 && int64(d.width)*int64(d.height) > int64(d.MaxPixels) { // int64: 65535² overflows 32-bit int
		return fmt.Errorf("%w: %d×%d pixels exceeds %d", ErrTooLarge, d.width, d.height, d.MaxPixels)
	}
	n := int(seg[5])
	if n != 1 && n != 3 {
		return fmt.Errorf("%w: %d components", ErrUnsupported, n)
	}
	if len(seg) != 6+3*n {
		return errFormat("frame header of %d bytes for %d components", len(seg), n)
	}
	d.comps = d.compBuf[:n]
	for i := range d.comps {
		c := &d.comps[i]
		p := seg[6+3*i:]
		// The plane's buffer stays for the next image.
		*c = component{id: p[0], h: int(p[1] >> 4), v: int(p[1] & 15), tq: int(p[2]), plane: c.plane}
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return errFormat("component %d: sampling %d×%d, table %d", i, c.h, c.v, c.tq)
		}
		for _, o := range d.comps[:i] {
			if o.id == c.id {
				return errFormat("two components with id %d", c.id)
			}
		}
	}
	if n == 1 {
		// One component is one block per MCU, whatever its factors.
		d.comps[0].h, d.comps[0].v = 1, 1
	} else {
		y, cb, cr := d.comps[0], d.comps[1], d.comps[2]
		if cb.h != 1 || cb.v != 1 || cr.h != 1 || cr.v != 1 || y.h > 2 || y.v > 2 {
			return fmt.Errorf("%w: sampling %d×%d, %d×%d, %d×%d", ErrUnsupported, y.h, y.v, cb.h, cb.v, cr.h, cr.v)
		}
		if y.id == 'R' && cb.id == 'G' && cr.id == 'B' {
			return fmt.Errorf("%w: RGB components", ErrUnsupported)
		}
	}
	d.hmax, d.vmax = d.comps[0].h, d.comps[0].v
	d.sof = true
	return nil
}

// zigzag maps the coded order of coefficients to their natural (row-major)
// positions.
var zigzag = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

func (d *Decoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if pq > 1 || tq > 3 {
			return errFormat("quantization table %d of precision %d", tq, pq)
		}
		size := 64 << pq
		if len(seg) < 1+size {
			return errFormat("quantization table %d cut short", tq)
		}
		for k := range 64 {
			q := int(seg[1+k])
			if pq == 1 {
				q = int(seg[1+2*k])<<8 | int(seg[2+2*k])
			}
			z := zigzag[k]
			d.quant[tq][k] = float32(q) * idctScale[z>>3] * idctScale[z&7] / 8
		}
		d.hasQuant[tq] = true
		seg = seg[1+size:]
	}
	return nil
}

// image returns the decoded picture, cropped to the frame's size.
func (d *Decoder) image() image.Image {
	r := image.Rect(0, 0, d.width, d.height)
	if len(d.comps) == 1 {
		c := &d.comps[0]
		d.gray = image.Gray{Pix: c.plane, Stride: c.stride, Rect: r}
		return &d.gray
	}
	ratio := image.YCbCrSubsampleRatio444
	switch {
	case d.hmax == 2 && d.vmax == 1:
		ratio = image.YCbCrSubsampleRatio422
	case d.hmax == 2 && d.vmax == 2:
		ratio = image.YCbCrSubsampleRatio420
	case d.hmax == 1 && d.vmax == 2:
		ratio = image.YCbCrSubsampleRatio440
	}
	d.ycc = image.YCbCr{
		Y: d.comps[0].plane, Cb: d.comps[1].plane, Cr: d.comps[2].plane,
		YStride: d.comps[0].stride, CStride: d.comps[1].stride,
		SubsampleRatio: ratio, Rect: r,
	}
	return &d.ycc
}
