package source

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// splitAll returns every image of the stream, copied.
func splitAll(r io.Reader, max int) ([][]byte, SplitStats, error) {
	s := NewSplitter(r, max)
	var out [][]byte
	for {
		img, err := s.Next()
		if err == io.EOF {
			return out, s.Stats(), nil
		}
		if err != nil {
			return out, s.Stats(), err
		}
		out = append(out, bytes.Clone(img))
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// syntheticJPEG builds a structurally valid JPEG (not a decodable one)
// with two scans separated by a table segment, stuffed bytes, restart
// markers and fill bytes: the parts of the format the splitter must
// follow that image/jpeg's encoder does not produce.
func syntheticJPEG() []byte {
	return []byte{
		0xFF, 0xD8, // SOI
		0xFF, 0xDB, 0x00, 0x04, 0xFF, 0xD9, // DQT whose payload holds an EOI look-alike
		0xFF, 0xDA, 0x00, 0x03, 0x01, // SOS
		0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, // entropy data: stuffed byte, RST3
		0xFF, 0xFF, 0xC4, 0x00, 0x02, // fill byte, empty DHT
		0xFF, 0xDA, 0x00, 0x02, // second SOS
		0x78, 0xFF, 0x00, // entropy data
		0xFF, 0xD9, // EOI
	}
}

func TestSplitter(t *testing.T) {
	png1 := encodePNG(t, 16, 12, 1)
	png2 := encodePNG(t, 9, 5, 2)
	jpg1 := encodeJPEG(t, 32, 24, 3)
	jpg2 := encodeJPEG(t, 20, 20, 4)
	thumb := encodeJPEG(t, 8, 6, 5)
	exif := withEXIFThumbnail(t, encodeJPEG(t, 40, 30, 6), thumb)
	synth := syntheticJPEG()
	garbage := []byte("garbage \xff\xd8 \x89PNG not quite\xff")

	tests := []struct {
		name   string
		stream []byte
		max    int
		want   [][]byte
		stats  SplitStats
	}{
		{
			name:   "empty",
			stream: nil,
		},
		{
			name:   "png jpeg exif",
			stream: cat(png1, jpg1, exif, png2, jpg2),
			want:   [][]byte{png1, jpg1, exif, png2, jpg2},
			stats:  SplitStats{Images: 5},
		},
		{
			name:   "multi-scan jpeg",
			stream: cat(synth, png1, synth),
			want:   [][]byte{synth, png1, synth},
			stats:  SplitStats{Images: 3},
		},
		{
			name:   "garbage around and between",
			stream: cat(garbage, jpg1, garbage, png1, garbage, garbage, exif, garbage),
			want:   [][]byte{jpg1, png1, exif},
			stats:  SplitStats{Images: 3, Garbage: 4, GarbageBytes: uint64(5 * len(garbage))},
		},
		{
			name:   "truncated tail",
			stream: cat(png1, jpg1, exif[:len(exif)-10]),
			want:   [][]byte{png1, jpg1},
			stats:  SplitStats{Images: 2, Truncated: 1},
		},
		{
			name: "truncated exif tail does not yield its thumbnail",
			// Cut inside the thumbnail's APP1 segment, after the thumbnail.
			stream: cat(jpg1, exif[:bytes.Index(exif, thumb)+len(thumb)+2]),
			want:   [][]byte{jpg1},
			stats:  SplitStats{Images: 1, Truncated: 1},
		},
		{
			name:   "truncated png tail",
			stream: cat(jpg1, png1[:len(png1)-5]),
			want:   [][]byte{jpg1},
			stats:  SplitStats{Images: 1, Truncated: 1},
		},
		{
			name: "truncated jpeg followed by another",
			// The cut lands in the entropy-coded data, which ends at the next
			// SOI: the search resumes there.
			stream: cat(jpg1[:len(jpg1)-40], jpg2, png1),
			want:   [][]byte{jpg2, png1},
			stats:  SplitStats{Images: 2, Invalid: 1},
		},
		{
			name:   "broken png followed by jpeg",
			stream: cat(png1[:20], []byte("\x00\x00\x00\x01!!!!"), jpg1),
			want:   [][]byte{jpg1},
			stats:  SplitStats{Images: 1, Invalid: 1, GarbageBytes: 27},
		},
		{
			name:   "png without IHDR first",
			stream: cat([]byte(pngSignature), png1[33:], jpg2),
			want:   [][]byte{jpg2},
			stats:  SplitStats{Images: 1, Invalid: 1, GarbageBytes: uint64(8 + len(png1) - 33 - 1)},
		},
		{
			name:   "jpeg ending before any scan",
			stream: cat([]byte{0xFF, 0xD8, 0xFF, 0xD9}, png2),
			want:   [][]byte{png2},
			stats:  SplitStats{Images: 1, Invalid: 1, GarbageBytes: 3},
		},
		{
			name:   "oversize skipped whole, thumbnail included",
			stream: cat(png1, exif, jpg2),
			max:    len(exif) - 1,
			want:   [][]byte{png1, jpg2},
			stats:  SplitStats{Images: 2, Oversize: 1},
		},
		{
			name:   "exactly at the limit",
			stream: cat(exif, jpg1),
			max:    max(len(exif), len(jpg1)),
			want:   [][]byte{exif, jpg1},
			stats:  SplitStats{Images: 2},
		},
		{
			name:   "only garbage",
			stream: bytes.Repeat(garbage, 3),
			stats:  SplitStats{Garbage: 1, GarbageBytes: uint64(3 * len(garbage))},
		},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				got, stats, err := splitAll(rd.wrap(bytes.NewReader(tt.stream)), tt.max)
				if err != nil {
					t.Fatalf("Next() error %v", err)
				}
				if diff := cmp.Diff(lengths(tt.want), lengths(got)); diff != "" {
					t.Errorf("image lengths (-want +got):\n%s", diff)
				}
				for i := range min(len(got), len(tt.want)) {
					if !bytes.Equal(got[i], tt.want[i]) {
						t.Errorf("image %d differs from the one in the stream", i)
					}
				}
				if stats != tt.stats {
					t.Errorf("Stats() = %+v, want %+v", stats, tt.stats)
				}
			})
		}
	}
}

func lengths(imgs [][]byte) []int {
	var n []int
	for _, b := range imgs {
		n = append(n, len(b))
	}
	return n
}

func TestSplitterImagesDecode(t *testing.T) {
	thumb := encodeJPEG(t, 8, 6, 5)
	stream := cat(encodePNG(t, 16, 12, 1), withEXIFThumbnail(t, encodeJPEG(t, 40, 30, 6), thumb), encodeJPEG(t, 33, 17, 2))
	imgs, _, err := splitAll(iotest.OneByteReader(bytes.NewReader(stream)), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []image.Point{{16, 12}, {40, 30}, {33, 17}}
	if len(imgs) != len(want) {
		t.Fatalf("got %d images, want %d", len(imgs), len(want))
	}
	for i, b := range imgs {
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("image %d: Decode() error %v", i, err)
		}
		if got := img.Bounds().Size(); got != want[i] {
			t.Errorf("image %d size = %v, want %v", i, got, want[i])
		}
	}
}

func TestSplitterReadError(t *testing.T) {
	boom := errors.New("boom")
	jpg := encodeJPEG(t, 16, 16, 1)
	r := io.MultiReader(bytes.NewReader(jpg), bytes.NewReader(jpg[:50]), iotest.ErrReader(boom))
	s := NewSplitter(r, 0)
	if _, err := s.Next(); err != nil {
		t.Fatalf("first Next() error %v", err)
	}
	for i := range 2 {
		if _, err := s.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next() #%d error = %v, want %v", i+2, err, boom)
		}
	}
}

func TestSplitterBufferBounded(t *testing.T) {
	// A stream of oversized images never makes the buffer grow beyond
	// the limit plus read slack.
	const limit = 1 << 16
	noise := image.NewGray(image.Rect(0, 0, 300, 300))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(rng.Uint32())
	}
	var b bytes.Buffer
	if err := png.Encode(&b, noise); err != nil {
		t.Fatal(err)
	}
	big := b.Bytes()
	if len(big) <= limit {
		t.Fatalf("test image of %d bytes is not over the limit", len(big))
	}
	small := encodeJPEG(t, 8, 8, 1)
	s := NewSplitter(bytes.NewReader(cat(big, big, small, big)), limit)
	img, err := s.Next()
	if err != nil || !bytes.Equal(img, small) {
		t.Fatalf("Next() = %d bytes, %v; want the %d-byte JPEG", len(img), err, len(small))
	}
	if _, err := s.Next(); err != io.EOF {
		t.Fatalf("Next() error = %v, want io.EOF", err)
	}
	if got, want := s.Stats().Oversize, uint64(3); got != want {
		t.Errorf("Stats().Oversize = %d, want %d", got, want)
	}
	if len(s.buf) > limit+2*readChunk {
		t.Errorf("buffer grew to %d bytes, limit %d", len(s.buf), limit+2*readChunk)
	}
}

func TestImageLen(t *testing.T) {
	png1 := encodePNG(t, 4, 4, 1)
	jpg := encodeJPEG(t, 8, 8, 1)
	tests := []struct {
		in      []byte
		want    int
		wantErr error
	}{
		{png1, len(png1), nil},
		{cat(png1, []byte("trailing")), len(png1), nil},
		{jpg, len(jpg), nil},
		{jpg[:len(jpg)-1], 0, errTruncated},
		{png1[:len(png1)-1], 0, errTruncated},
		{[]byte("<html>"), 0, errNotImage},
		{nil, 0, errNotImage},
		{[]byte{0xFF, 0xD8, 0xFF, 0x00}, 0, errInvalid},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			in := bytes.Clone(tt.in)
			got, err := imageLen(in)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("imageLen() = %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
			if !bytes.Equal(in, tt.in) {
				t.Error("imageLen modified its input")
			}
		})
	}
}

func FuzzSplit(f *testing.F) {
	png1 := encodePNG(f, 6, 4, 1)
	jpg := encodeJPEG(f, 8, 8, 2)
	exif := withEXIFThumbnail(f, encodeJPEG(f, 12, 10, 3), encodeJPEG(f, 4, 4, 4))
	f.Add(cat(png1, jpg), uint16(0))
	f.Add(cat([]byte("xx\xff"), exif, []byte("\x89PNG"), png1[:30]), uint16(0))
	f.Add(cat(jpg, exif), uint16(len(exif)-1))
	f.Add(syntheticJPEG(), uint16(20))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xFF, 0xD9}, uint16(0))
	f.Fuzz(checkSplit)
}

// checkSplit checks the invariants of splitting data with the given limit
// (0 meaning 1 MiB).
func checkSplit(t *testing.T, data []byte, limit uint16) {
	max := int(limit)
	if max == 0 {
		max = 1 << 20
	}
	imgs, stats, err := splitAll(bytes.NewReader(data), max)
	if err != nil {
		t.Fatalf("Next() error %v", err)
	}
	if stats.Images != uint64(len(imgs)) {
		t.Fatalf("Stats().Images = %d, returned %d", stats.Images, len(imgs))
	}
	// Images are complete, within the limit, and appear in the stream
	// in order without overlapping.
	off := 0
	for i, img := range imgs {
		if len(img) > max {
			t.Fatalf("image %d has %d bytes, over the limit %d", i, len(img), max)
		}
		if n, err := imageLen(img); err != nil || n != len(img) {
			t.Fatalf("image %d: imageLen() = %d, %v; want %d, nil", i, n, err, len(img))
		}
		j := bytes.Index(data[off:], img)
		if j < 0 {
			t.Fatalf("image %d not found in the stream after offset %d", i, off)
		}
		off += j + len(img)
	}
	// Reading byte by byte changes nothing.
	slow, slowStats, err := splitAll(iotest.OneByteReader(bytes.NewReader(data)), max)
	if err != nil {
		t.Fatalf("Next() byte by byte error %v", err)
	}
	if diff := cmp.Diff(imgs, slow); diff != "" || slowStats != stats {
		t.Fatalf("byte-by-byte split differs: stats %+v vs %+v\n%s", slowStats, stats, diff)
	}
	// The images alone split into themselves.
	again, againStats, err := splitAll(bytes.NewReader(bytes.Join(imgs, nil)), max)
	if err != nil {
		t.Fatalf("Next() on the images error %v", err)
	}
	if diff := cmp.Diff(imgs, again); diff != "" || againStats.Skipped() != 0 {
		t.Fatalf("resplitting the images: skipped %d, diff:\n%s", againStats.Skipped(), diff)
	}
}

func BenchmarkSplitter(b *testing.B) {
	var stream []byte
	for i := range 8 {
		stream = append(stream, encodeJPEG(b, 224, 224, i)...)
		stream = append(stream, encodePNG(b, 64, 64, i)...)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	r := bytes.NewReader(stream)
	s := NewSplitter(r, 0)
	for b.Loop() {
		r.Reset(stream)
		s.rerr = nil
		for {
			if _, err := s.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
