package source

import (
	"bytes"
	"encoding/binary"
)

// fileImageLen returns the length of the complete image at the start of a
// file's data: PNG and JPEG as the Splitter reads them, and the formats
// that only files bring (BMP, GIF, WebP) by their own structure. It returns
// errTruncated while the image is not complete yet and errNotImage for
// other data.
func fileImageLen(data []byte) (int, error) {
	switch {
	case bytes.HasPrefix(data, []byte("BM")):
		// BITMAPFILEHEADER: the file size at offset 2.
		return sizedLen(data, 2, 0, 14)
	case bytes.HasPrefix(data, []byte("RIFF")):
		// RIFF: the size of what follows the first 8 bytes, at offset 4.
		if len(data) >= 12 && string(data[8:12]) != "WEBP" {
			return 0, errNotImage
		}
		return sizedLen(data, 4, 8, 12)
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return gifLen(data)
	}
	return imageLen(data)
}

// sizedLen reads a little-endian uint32 size at off, adds extra, and
// checks that the data holds that many bytes (and at least minLen).
func sizedLen(data []byte, off, extra, minLen int) (int, error) {
	if len(data) < off+4 {
		return 0, errTruncated
	}
	n := int64(binary.LittleEndian.Uint32(data[off:])) + int64(extra)
	if n < int64(minLen) {
		return 0, errInvalid
	}
	if int64(len(data)) < n {
		return 0, errTruncated
	}
	return int(n), nil
}

// gifLen follows a GIF's blocks to its trailer.
func gifLen(data []byte) (int, error) {
	const header = 13 // signature, logical screen descriptor
	if len(data) < header {
		return 0, errTruncated
	}
	pos := header
	if flags := data[10]; flags&0x80 != 0 {
		pos += 3 << (flags&7 + 1) // global colour table
	}
	for {
		if pos >= len(data) {
			return 0, errTruncated
		}
		switch data[pos] {
		case 0x3B: // trailer
			return pos + 1, nil
		case 0x21: // extension: label, then sub-blocks
			pos += 2
		case 0x2C: // image descriptor, local colour table, LZW code size
			if pos+10 > len(data) {
				return 0, errTruncated
			}
			flags := data[pos+9]
			pos += 10
			if flags&0x80 != 0 {
				pos += 3 << (flags&7 + 1)
			}
			pos++ // LZW minimum code size
		default:
			return 0, errInvalid
		}
		// Sub-blocks, each a length byte and data, up to a zero length.
		for {
			if pos >= len(data) {
				return 0, errTruncated
			}
			n := int(data[pos])
			pos++
			if n == 0 {
				break
			}
			pos += n
		}
	}
}
