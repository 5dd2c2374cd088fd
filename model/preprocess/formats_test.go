package preprocess

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/ood-agent/ood-agent/model"
)

// TestDecodeFormats decodes the same frame stored as PNG, BMP, GIF and
// lossless WebP and checks that every format gives the same input tensor.
func TestDecodeFormats(t *testing.T) {
	pngData, err := os.ReadFile("testdata/sandal.png")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatal(err)
	}
	var bmpData, gifData bytes.Buffer
	if err := bmp.Encode(&bmpData, ref); err != nil {
		t.Fatal(err)
	}
	// A grey palette holds a grayscale frame exactly.
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.Gray{Y: uint8(i)}
	}
	if err := gif.Encode(&gifData, ref, &gif.Options{NumColors: 256, Quantizer: fixedPalette(pal)}); err != nil {
		t.Fatal(err)
	}
	webpData, err := os.ReadFile("testdata/sandal.webp") // cwebp -lossless sandal.png
	if err != nil {
		t.Fatal(err)
	}

	fill := func(data []byte) []float32 {
		t.Helper()
		img, err := Decode(data, Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		in := newTensor(model.Float32, []int{1, 28, 28, 1}, nil)
		spec, err := SpecFor(nil, in, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := New(spec).Image(img, in); err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), in.F32()...)
	}
	want := fill(pngData)
	for _, f := range []struct {
		name string
		data []byte
	}{{"bmp", bmpData.Bytes()}, {"gif", gifData.Bytes()}, {"webp", webpData}} {
		got := fill(f.data)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: input value %d = %v, PNG gives %v", f.name, i, got[i], want[i])
				break
			}
		}
	}
}

type fixedPalette color.Palette

func (p fixedPalette) Quantize(dst color.Palette, _ image.Image) color.Palette {
	return append(dst, p...)
}

func TestIsImageFile(t *testing.T) {
	for name, want := range map[string]bool{
		"a.png": true, "b.JPG": true, "c.jpeg": true, "d.bmp": true, "e.GIF": true, "f.webp": true,
		"g.tiff": false, "h": false, "png": false, "i.png.txt": false,
	} {
		if got := IsImageFile(name); got != want {
			t.Errorf("IsImageFile(%q) = %v, want %v", name, got, want)
		}
	}
}
