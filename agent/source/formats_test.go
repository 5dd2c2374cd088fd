package source

import (
	"bytes"
	"errors"
	"image"
	"image/color/palette"
	"image/gif"
	"path/filepath"
	"testing"
)

func encodeGIF(t testing.TB, frames int) []byte {
	t.Helper()
	g := &gif.GIF{}
	for i := range frames {
		p := image.NewPaletted(image.Rect(0, 0, 16, 16), palette.Plan9)
		for k := range p.Pix {
			p.Pix[k] = uint8(k*7 + i)
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bmp is a 2×1 24-bit BMP: 14-byte file header, 40-byte info header, one
// padded row.
func bmp() []byte {
	b := []byte{'B', 'M', 62, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0,
		40, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 24, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	return append(b, 0, 0, 255, 255, 0, 0, 0, 0)
}

// webp is a RIFF container of the WEBP form type (a VP8L chunk header;
// completeness is all that is checked here).
func webp() []byte {
	body := []byte("WEBPVP8L\x05\x00\x00\x00\x2f\x00\x00\x00\x00\x00")
	b := []byte("RIFF")
	b = append(b, byte(len(body)), 0, 0, 0)
	return append(b, body...)
}

func TestFileImageLen(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png", encodePNG(t, 8, 8, 1)},
		{"jpeg", encodeJPEG(t, 8, 8, 1)},
		{"gif", encodeGIF(t, 1)},
		{"animated gif", encodeGIF(t, 3)},
		{"bmp", bmp()},
		{"webp", webp()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := fileImageLen(tc.data)
			if err != nil || n != len(tc.data) {
				t.Fatalf("complete: fileImageLen = %d, %v; want %d", n, err, len(tc.data))
			}
			// Trailing bytes are not part of the image.
			if n, err := fileImageLen(append(bytes.Clone(tc.data), "junk"...)); err != nil || n != len(tc.data) {
				t.Errorf("with trailing bytes: fileImageLen = %d, %v; want %d", n, err, len(tc.data))
			}
			for _, cut := range []int{12, len(tc.data) / 2, len(tc.data) - 1} {
				if _, err := fileImageLen(tc.data[:cut]); !errors.Is(err, errTruncated) {
					t.Errorf("cut to %d of %d bytes: err = %v, want errTruncated", cut, len(tc.data), err)
				}
			}
		})
	}
	if _, err := fileImageLen([]byte("RIFF\x04\x00\x00\x00WAVE")); !errors.Is(err, errNotImage) {
		t.Errorf("RIFF WAVE: err = %v, want errNotImage", err)
	}
}

func FuzzFileImageLen(f *testing.F) {
	f.Add(bmp())
	f.Add(webp())
	f.Add(encodeGIF(f, 2))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := fileImageLen(data)
		if err == nil && (n <= 0 || n > len(data)) {
			t.Fatalf("fileImageLen = %d for %d bytes", n, len(data))
		}
	})
}

// TestDirReadsOtherFormats: BMP, GIF and WebP files are read like PNGs.
func TestDirReadsOtherFormats(t *testing.T) {
	root := t.TempDir()
	files := map[string][]byte{"a.gif": encodeGIF(t, 2), "b.BMP": bmp(), "c.webp": webp()}
	for name, data := range files {
		writeFile(t, filepath.Join(root, name), data)
	}
	d, err := NewDir(DirOptions{Path: root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := drain(t, d)
	if len(got) != len(files) {
		t.Fatalf("read %v, want %d files", origins(t, root, got), len(files))
	}
	for _, f := range got {
		if !bytes.Equal(f.Data, files[filepath.Base(f.Origin)]) {
			t.Errorf("%s: data differs", f.Origin)
		}
	}
}
