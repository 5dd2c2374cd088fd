package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// readChunk is the smallest free space the Splitter reads into.
const readChunk = 32 << 10

var (
	// errNotImage reports data that does not start with a PNG or JPEG
	// signature.
	errNotImage = errors.New("not a PNG or JPEG image")
	// errInvalid reports an image whose structure is broken.
	errInvalid = errors.New("invalid image structure")
	// errTruncated reports an image cut short by the end of its data.
	errTruncated = errors.New("truncated image")
)

type imageKind int

const (
	notImage imageKind = iota
	kindPNG
	kindJPEG
)

// SplitStats are the counts of a Splitter.
type SplitStats struct {
	Images       uint64 // images returned
	Invalid      uint64 // images with a broken structure, skipped
	Truncated    uint64 // images cut short by the end of the stream
	Oversize     uint64 // images larger than the limit, skipped
	Garbage      uint64 // runs of bytes outside any image, skipped
	GarbageBytes uint64 // bytes in those runs
}

// Skipped returns the number of skip events: invalid, truncated and
// oversized images and garbage runs.
func (s SplitStats) Skipped() uint64 {
	return s.Invalid + s.Truncated + s.Oversize + s.Garbage
}

// A Splitter cuts a byte stream of concatenated PNG and JPEG images into
// single encoded images without decoding them.
//
// A PNG ends with its IEND chunk, found by following the chunk lengths. A
// JPEG is followed segment by segment through the lengths of its marker
// segments (so an EXIF thumbnail inside APP1, with its own end marker, is
// skipped as a whole) to a start of scan; the entropy-coded data after it
// ends at the first marker other than a stuffed 0xFF00 or a restart
// marker, and parsing continues there (progressive JPEGs have several
// scans) until the end-of-image marker.
//
// Bytes before a recognizable image start are skipped. An image whose
// structure is broken is skipped and the search for the next image resumes
// right after its first byte, or at the point where it broke if an image
// starts there (the common case of a truncated JPEG followed by the next
// one), so that images following it are not lost. An image that the end of
// the stream cuts short is dropped with everything after its start: the
// rest is part of it. Images larger than the limit are skipped without
// being buffered.
//
// A Splitter buffers at most one image. It is not safe for concurrent use.
type Splitter struct {
	r   io.Reader
	max int

	buf   []byte
	end   int   // buf[:end] holds data read
	pos   int   // parse cursor
	start int   // start of the image being kept; -1 when discarding
	rerr  error // first error from r, returned once buf is used up

	oversize  bool // the current image outgrew max and is being discarded
	resyncing bool // the garbage ahead belongs to an image just skipped
	stats     SplitStats
}

// NewSplitter returns a Splitter reading from r that skips images larger
// than maxBytes. A maxBytes of 0 or less means 32 MiB.
func NewSplitter(r io.Reader, maxBytes int) *Splitter {
	if maxBytes <= 0 {
		maxBytes = 32 << 20
	}
	return &Splitter{
		r:     r,
		max:   maxBytes,
		buf:   make([]byte, min(64<<10, maxBytes+readChunk)),
		start: -1,
	}
}

// Stats returns the counts so far.
func (s *Splitter) Stats() SplitStats { return s.stats }

// Next returns the next complete image in the stream, or io.EOF at the end
// of the stream. The returned slice aliases the Splitter's buffer and is
// valid only until the next call. Errors from the underlying reader other
// than io.EOF are returned as they are.
func (s *Splitter) Next() ([]byte, error) {
	for {
		kind, err := s.sync()
		if err != nil {
			return nil, err
		}
		s.start = s.pos
		s.oversize = false
		err = s.parse(kind)
		switch {
		case err == nil && s.oversize:
			s.stats.Oversize++
		case err == nil:
			s.stats.Images++
			img := s.buf[s.start:s.pos]
			s.start = -1
			return img, nil
		case errors.Is(err, errInvalid):
			s.stats.Invalid++
			s.resyncing = true
			if s.start >= 0 {
				// Errors show up again on the next read.
				_ = s.need(len(pngSignature))
				if !s.isStart(s.pos) {
					s.pos = s.start + 1
				}
			}
		case err == io.EOF:
			// The stream ended inside the image: whatever follows its start
			// belongs to it.
			s.stats.Truncated++
			s.pos = s.end
		default:
			s.start = -1
			return nil, err
		}
		s.start = -1
	}
}

// sync moves pos to the start of the next image, skipping anything else.
func (s *Splitter) sync() (imageKind, error) {
	skipped := 0
	defer func() {
		if skipped > 0 {
			s.stats.GarbageBytes += uint64(skipped)
			if !s.resyncing {
				s.stats.Garbage++
			}
		}
		s.resyncing = false
	}()
	for {
		i := s.pos
		for i < s.end && s.buf[i] != 0xFF && s.buf[i] != 0x89 {
			i++
		}
		skipped += i - s.pos
		s.pos = i
		if i == s.end {
			if err := s.fill(); err != nil {
				return notImage, err
			}
			continue
		}
		if err := s.need(len(pngSignature)); err != nil && s.end-s.pos < 3 {
			// Too few bytes left for any signature.
			skipped += s.end - s.pos
			s.pos = s.end
			return notImage, err
		}
		if k := kindAt(s.buf[s.pos:s.end]); k != notImage {
			return k, nil
		}
		s.pos++
		skipped++
	}
}

// isStart reports whether an image signature starts at i in the data
// buffered so far.
func (s *Splitter) isStart(i int) bool {
	return i < s.end && kindAt(s.buf[i:s.end]) != notImage
}

func kindAt(b []byte) imageKind {
	switch {
	case bytes.HasPrefix(b, []byte(pngSignature)):
		return kindPNG
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return kindJPEG
	}
	return notImage
}

func (s *Splitter) parse(kind imageKind) error {
	if kind == kindPNG {
		return s.parsePNG()
	}
	return s.parseJPEG()
}

func (s *Splitter) parsePNG() error {
	if err := s.advance(len(pngSignature)); err != nil {
		return err
	}
	for first := true; ; first = false {
		if err := s.need(8); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(s.buf[s.pos:])
		var typ [4]byte
		copy(typ[:], s.buf[s.pos+4:])
		if n > math.MaxInt32 || !isChunkType(typ) || first != (string(typ[:]) == "IHDR") {
			return errInvalid
		}
		// Length, type, data and CRC.
		if err := s.advance(8 + int(n) + 4); err != nil {
			return err
		}
		if string(typ[:]) == "IEND" {
			return nil
		}
	}
}

func isChunkType(t [4]byte) bool {
	for _, c := range t {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func (s *Splitter) parseJPEG() error {
	if err := s.advance(2); err != nil { // SOI
		return err
	}
	scanned := false
	for {
		if err := s.need(2); err != nil {
			return err
		}
		if s.buf[s.pos] != 0xFF {
			return errInvalid
		}
		// Any number of 0xFF fill bytes may precede a marker.
		for s.buf[s.pos+1] == 0xFF {
			if err := s.advance(1); err != nil {
				return err
			}
			if err := s.need(2); err != nil {
				return err
			}
		}
		m := s.buf[s.pos+1]
		switch {
		case m == 0xD9: // EOI
			if !scanned {
				return errInvalid
			}
			return s.advance(2)
		case m == 0xD8 || m == 0x00:
			return errInvalid
		case m == 0x01 || 0xD0 <= m && m <= 0xD7: // TEM, RSTn: no length
			if err := s.advance(2); err != nil {
				return err
			}
			continue
		}
		if err := s.need(4); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(s.buf[s.pos+2:]))
		if n < 2 {
			return errInvalid
		}
		if err := s.advance(2 + n); err != nil {
			return err
		}
		if m == 0xDA { // SOS
			scanned = true
			if err := s.skipEntropyCoded(); err != nil {
				return err
			}
		}
	}
}

// skipEntropyCoded moves pos to the marker that ends a scan's
// entropy-coded data.
func (s *Splitter) skipEntropyCoded() error {
	for {
		if err := s.need(1); err != nil {
			return err
		}
		i := bytes.IndexByte(s.buf[s.pos:s.end], 0xFF)
		if i < 0 {
			if err := s.advance(s.end - s.pos); err != nil {
				return err
			}
			continue
		}
		if err := s.advance(i); err != nil {
			return err
		}
		if err := s.need(2); err != nil {
			return err
		}
		switch m := s.buf[s.pos+1]; {
		case m == 0x00 || 0xD0 <= m && m <= 0xD7: // stuffed byte, RSTn
			if err := s.advance(2); err != nil {
				return err
			}
		case m == 0xFF: // fill byte before a marker
			if err := s.advance(1); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// need makes n bytes from pos available in buf.
func (s *Splitter) need(n int) error {
	for s.end-s.pos < n {
		if err := s.fill(); err != nil {
			return err
		}
	}
	return nil
}

// advance moves pos forward by n bytes, reading them as needed. When the
// image being kept would outgrow the limit, it is discarded from then on
// so that the buffer stays bounded.
func (s *Splitter) advance(n int) error {
	if s.start >= 0 && s.pos+n-s.start > s.max {
		s.start = -1
		s.oversize = true
	}
	for n > 0 {
		if s.pos == s.end {
			if err := s.fill(); err != nil {
				return err
			}
		}
		k := min(n, s.end-s.pos)
		s.pos += k
		n -= k
	}
	return nil
}

// fill reads more data into buf, first dropping what is no longer needed:
// everything before the kept image, or before pos when nothing is kept.
func (s *Splitter) fill() error {
	if s.rerr != nil {
		return s.rerr
	}
	if len(s.buf)-s.end < readChunk {
		lo := s.pos
		if s.start >= 0 {
			lo = s.start
		}
		if lo > 0 {
			copy(s.buf, s.buf[lo:s.end])
			s.end -= lo
			s.pos -= lo
			if s.start >= 0 {
				s.start -= lo
			}
		}
		if len(s.buf)-s.end < readChunk {
			// When fill is called, pos is within a few bytes of end and the
			// kept image is at most max long, so this stays below
			// max+2·readChunk.
			size := max(2*len(s.buf), s.end+readChunk)
			if s.max < math.MaxInt-2*readChunk {
				size = max(min(size, s.max+2*readChunk), s.end+readChunk)
			}
			nb := make([]byte, size)
			copy(nb, s.buf[:s.end])
			s.buf = nb
		}
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.rerr = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	s.rerr = io.ErrNoProgress
	return s.rerr
}

// imageLen returns the length of the PNG or JPEG image that data starts
// with: errNotImage if it does not start with one, errTruncated if data ends
// inside it, errInvalid if its structure is broken. Bytes after the image
// are ignored.
func imageLen(data []byte) (int, error) {
	kind := kindAt(data)
	if kind == notImage {
		return 0, errNotImage
	}
	// With the read error set from the start, fill never moves or reads
	// into data.
	s := Splitter{buf: data, end: len(data), max: math.MaxInt, rerr: io.EOF}
	s.start = 0
	switch err := s.parse(kind); {
	case err == io.EOF:
		return 0, errTruncated
	case err != nil:
		return 0, err
	}
	return s.pos, nil
}
