package source

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/agent/internal/logtest"
)

// testImage returns a w×h image with a gradient that depends on seed, so
// that images differ.
func testImage(w, h, seed int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x*7 + seed), uint8(y*5 + 3*seed), uint8(x*y + seed), 0xFF})
		}
	}
	return img
}

func encodePNG(t testing.TB, w, h, seed int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, testImage(w, h, seed)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, w, h, seed int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(w, h, seed), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withEXIFThumbnail returns jpg with an APP1 EXIF segment, holding thumb
// (a complete JPEG with its own SOI and EOI), inserted after the SOI.
func withEXIFThumbnail(t testing.TB, jpg, thumb []byte) []byte {
	t.Helper()
	var payload bytes.Buffer
	payload.WriteString("Exif\x00\x00")
	// A big-endian TIFF header pointing at an empty IFD0, then the
	// thumbnail bytes; decoders skip APP1 contents they do not parse.
	payload.Write([]byte{'M', 'M', 0, 42, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0})
	payload.Write(thumb)
	if payload.Len()+2 > 0xFFFF {
		t.Fatalf("thumbnail of %d bytes does not fit in an APP1 segment", len(thumb))
	}
	var b bytes.Buffer
	b.Write(jpg[:2])
	b.Write([]byte{0xFF, 0xE1})
	binary.Write(&b, binary.BigEndian, uint16(payload.Len()+2))
	b.Write(payload.Bytes())
	b.Write(jpg[2:])
	return b.Bytes()
}

// needFFmpeg returns the path of ffmpeg. Without it the test fails on CI
// (CI=true) and is skipped elsewhere.
func needFFmpeg(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ffmpeg is required on CI: %v", err)
		}
		t.Skipf("ffmpeg not installed: %v", err)
	}
	return path
}

// logRecords collects JSON log records.
type logRecords struct{ logtest.Buffer }

func (l *logRecords) records(t *testing.T, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}
