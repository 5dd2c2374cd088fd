package event

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
)

// ErrEvidenceTooLarge is wrapped by EncodeEvidence when even the smallest
// encoding it tries exceeds the size limit.
var ErrEvidenceTooLarge = errors.New("event: evidence does not fit the size limit")

// minEvidenceSide is the smallest width or height EncodeEvidence scales
// an image down to; below it a thumbnail shows nothing useful.
const minEvidenceSide = 16

// evidenceQualities are the JPEG qualities tried below the requested one.
var evidenceQualities = [...]int{75, 60, 45, 30, 20, 10}

// EncodeEvidence encodes img as a JPEG of at most maxBytes bytes. It uses
// the highest of quality and the lower qualities 75, 60, 45, 30, 20 and 10
// whose encoding fits; if not even quality 10 fits, it halves the image's
// width and height and tries again, until the image would be smaller than
// 16 pixels on a side. It returns an error wrapping ErrEvidenceTooLarge if
// nothing fits, and an error for a quality outside 1 to 100 or a maxBytes
// below 1.
//
// Encoding is the expensive part on small devices, so the qualities are
// searched by bisection, taking the size to fall as the quality does, and
// a scale whose lowest quality does not fit costs two encodings.
func EncodeEvidence(img image.Image, maxBytes, quality int) ([]byte, error) {
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("evidence: quality must be between 1 and 100, got %d", quality)
	}
	if maxBytes < 1 {
		return nil, fmt.Errorf("evidence: max bytes must be positive, got %d", maxBytes)
	}
	if b := img.Bounds(); b.Empty() {
		return nil, fmt.Errorf("evidence: empty image %v", b)
	}
	qs := qualitiesFrom(quality)
	var buf bytes.Buffer
	// encode reports whether img fits at quality q, leaving it in buf.
	encode := func(q int) (bool, error) {
		buf.Reset()
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
			return false, fmt.Errorf("evidence: %w", err)
		}
		return buf.Len() <= maxBytes, nil
	}
	for {
		fits, err := encode(qs[0])
		if err != nil {
			return nil, err
		}
		if fits {
			return bytes.Clone(buf.Bytes()), nil
		}
		if len(qs) > 1 {
			fits, err = encode(qs[len(qs)-1])
			if err != nil {
				return nil, err
			}
		}
		if fits {
			// qs[lo] does not fit and qs[hi] does; best holds qs[hi]'s.
			best := bytes.Clone(buf.Bytes())
			lo, hi := 0, len(qs)-1
			for hi-lo > 1 {
				mid := (lo + hi) / 2
				fits, err := encode(qs[mid])
				if err != nil {
					return nil, err
				}
				if fits {
					hi, best = mid, bytes.Clone(buf.Bytes())
				} else {
					lo = mid
				}
			}
			return best, nil
		}
		b := img.Bounds()
		if b.Dx()/2 < minEvidenceSide || b.Dy()/2 < minEvidenceSide {
			return nil, fmt.Errorf("%w: %d bytes at %dx%d and quality %d, limit %d",
				ErrEvidenceTooLarge, buf.Len(), b.Dx(), b.Dy(), qs[len(qs)-1], maxBytes)
		}
		img = halve(img)
	}
}

// qualitiesFrom returns quality followed by the lower standard qualities.
func qualitiesFrom(quality int) []int {
	qs := []int{quality}
	for _, q := range evidenceQualities {
		if q < quality {
			qs = append(qs, q)
		}
	}
	return qs
}

// halve scales img to half its width and height, averaging 2×2 blocks. A
// gray image stays gray, so that its JPEG stays single-channel.
func halve(img image.Image) image.Image {
	b := img.Bounds()
	r := image.Rect(0, 0, b.Dx()/2, b.Dy()/2)
	switch src := img.(type) {
	case *image.Gray:
		dst := image.NewGray(r)
		for y := range r.Dy() {
			s0 := src.Pix[(2*y)*src.Stride:]
			s1 := src.Pix[(2*y+1)*src.Stride:]
			row := dst.Pix[y*dst.Stride:]
			for x := range r.Dx() {
				sum := int(s0[2*x]) + int(s0[2*x+1]) + int(s1[2*x]) + int(s1[2*x+1])
				row[x] = uint8((sum + 2) / 4)
			}
		}
		return dst
	case image.RGBA64Image:
		dst := image.NewRGBA(r)
		for y := range r.Dy() {
			for x := range r.Dx() {
				sx, sy := b.Min.X+2*x, b.Min.Y+2*y
				c := [4]color.RGBA64{
					src.RGBA64At(sx, sy), src.RGBA64At(sx+1, sy),
					src.RGBA64At(sx, sy+1), src.RGBA64At(sx+1, sy+1),
				}
				dst.SetRGBA(x, y, average(c))
			}
		}
		return dst
	default:
		dst := image.NewRGBA(r)
		for y := range r.Dy() {
			for x := range r.Dx() {
				sx, sy := b.Min.X+2*x, b.Min.Y+2*y
				var c [4]color.RGBA64
				for i, p := range [4]image.Point{{sx, sy}, {sx + 1, sy}, {sx, sy + 1}, {sx + 1, sy + 1}} {
					c[i] = color.RGBA64Model.Convert(img.At(p.X, p.Y)).(color.RGBA64)
				}
				dst.SetRGBA(x, y, average(c))
			}
		}
		return dst
	}
}

// average returns the mean of four premultiplied colors as 8-bit RGBA.
func average(c [4]color.RGBA64) color.RGBA {
	var r, g, b, a uint32
	for _, p := range c {
		r += uint32(p.R)
		g += uint32(p.G)
		b += uint32(p.B)
		a += uint32(p.A)
	}
	// Sum of four 16-bit values, divided by 4 and by 257 to get 8 bits.
	const d = 4 * 257
	return color.RGBA{
		R: uint8((r + d/2) / d), G: uint8((g + d/2) / d),
		B: uint8((b + d/2) / d), A: uint8((a + d/2) / d),
	}
}
