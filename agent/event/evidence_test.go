package event

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"testing"
)

// noisy returns a w×h image of random pixels, which JPEG compresses
// badly, so that size limits bite.
func noisy(w, h int, gray bool) image.Image {
	r := rand.New(rand.NewPCG(1, 2))
	if gray {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = uint8(r.IntN(256))
		}
		return img
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return img
}

// ycbcr returns a smooth 4:2:0 image like a decoded camera JPEG, with a
// bounds rectangle that does not start at the origin.
func ycbcr(w, h int) image.Image {
	img := image.NewYCbCr(image.Rect(10, 20, 10+w, 20+h), image.YCbCrSubsampleRatio420)
	for y := range h {
		for x := range w {
			img.Y[img.YOffset(10+x, 20+y)] = uint8((x + y) % 256)
		}
	}
	return img
}

// paletted returns an image with a palette, a type JPEG cannot encode
// directly.
func paletted(w, h int) image.Image {
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White, color.RGBA{200, 30, 30, 255}})
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7 % 3)
	}
	return img
}

func TestEncodeEvidence(t *testing.T) {
	tests := []struct {
		name       string
		img        image.Image
		maxBytes   int
		quality    int
		wantScaled bool
	}{
		{"fits at once", ycbcr(64, 48), 1 << 20, 90, false},
		{"lower quality", noisy(64, 64, false), 5000, 95, false},
		{"downscaled RGBA", noisy(320, 240, false), 6000, 80, true},
		{"downscaled gray", noisy(320, 240, true), 4000, 80, true},
		{"downscaled YCbCr", ycbcr(640, 480), 3000, 80, true},
		{"downscaled paletted", paletted(256, 256), 2000, 80, true},
		// Only the image.Image methods: halve's generic path.
		{"downscaled plain image", struct{ image.Image }{paletted(256, 256)}, 2000, 80, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := EncodeEvidence(tt.img, tt.maxBytes, tt.quality)
			if err != nil {
				t.Fatalf("EncodeEvidence(%v, %d, %d) error: %v", tt.img.Bounds(), tt.maxBytes, tt.quality, err)
			}
			if len(data) > tt.maxBytes {
				t.Errorf("EncodeEvidence(%v, %d, %d) = %d bytes, want at most %d", tt.img.Bounds(), tt.maxBytes, tt.quality, len(data), tt.maxBytes)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("result is not a JPEG: %v", err)
			}
			if _, gray := tt.img.(*image.Gray); gray && cfg.ColorModel != color.GrayModel {
				t.Errorf("gray image encoded with color model %v, want gray", cfg.ColorModel)
			}
			got := image.Pt(cfg.Width, cfg.Height)
			orig := tt.img.Bounds().Size()
			if scaled := got != orig; scaled != tt.wantScaled {
				t.Fatalf("EncodeEvidence(%v, %d, %d) is %v, want scaled %v", tt.img.Bounds(), tt.maxBytes, tt.quality, got, tt.wantScaled)
			}
			if !tt.wantScaled {
				// The requested quality is used when it fits, and a
				// lower one when not.
				var buf bytes.Buffer
				if err := jpeg.Encode(&buf, tt.img, &jpeg.Options{Quality: tt.quality}); err != nil {
					t.Fatal(err)
				}
				if fits := buf.Len() <= tt.maxBytes; fits != (len(data) == buf.Len()) {
					t.Errorf("EncodeEvidence(%v, %d, %d) = %d bytes; at quality %d it is %d bytes", tt.img.Bounds(), tt.maxBytes, tt.quality, len(data), tt.quality, buf.Len())
				}
				return
			}
			// Scaled by halves, and no further than needed: one size up
			// does not fit even at the lowest quality.
			up := tt.img
			for up.Bounds().Dx() > 2*got.X {
				up = halve(up)
			}
			if up.Bounds().Size() != got.Mul(2) {
				t.Fatalf("EncodeEvidence(%v, ...) is %v, not the original halved some times", tt.img.Bounds(), got)
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, up, &jpeg.Options{Quality: 10}); err != nil {
				t.Fatal(err)
			}
			if buf.Len() <= tt.maxBytes {
				t.Errorf("EncodeEvidence(%v, %d, %d) scaled to %v, but %v fits in %d bytes at quality 10", tt.img.Bounds(), tt.maxBytes, tt.quality, got, up.Bounds().Size(), buf.Len())
			}
		})
	}
}

func TestEncodeEvidenceShrinksOnlyWhenNeeded(t *testing.T) {
	// The largest quality that fits is used: the result is bigger than at
	// the next lower quality tried.
	img := noisy(64, 64, false)
	var full bytes.Buffer
	if err := jpeg.Encode(&full, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	data, err := EncodeEvidence(img, full.Len(), 90)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != full.Len() {
		t.Errorf("EncodeEvidence with room for quality 90 = %d bytes, want the quality-90 encoding's %d", len(data), full.Len())
	}
}

func TestEncodeEvidenceErrors(t *testing.T) {
	tests := []struct {
		name     string
		img      image.Image
		maxBytes int
		quality  int
		tooLarge bool
	}{
		{"never fits", noisy(64, 64, false), 100, 80, true},
		{"quality 0", ycbcr(32, 32), 1000, 0, false},
		{"quality 101", ycbcr(32, 32), 1000, 101, false},
		{"no room", ycbcr(32, 32), 0, 80, false},
		{"empty image", image.NewRGBA(image.Rect(0, 0, 0, 10)), 1000, 80, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := EncodeEvidence(tt.img, tt.maxBytes, tt.quality)
			if err == nil || data != nil {
				t.Fatalf("EncodeEvidence(%v, %d, %d) = %d bytes, %v, want an error", tt.img.Bounds(), tt.maxBytes, tt.quality, len(data), err)
			}
			if got := errors.Is(err, ErrEvidenceTooLarge); got != tt.tooLarge {
				t.Errorf("EncodeEvidence error %v: errors.Is(ErrEvidenceTooLarge) = %v, want %v", err, got, tt.tooLarge)
			}
		})
	}
}

func TestHalveAverages(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 4, 2))
	src.SetRGBA(0, 0, color.RGBA{0, 0, 0, 255})
	src.SetRGBA(1, 0, color.RGBA{100, 200, 40, 255})
	src.SetRGBA(0, 1, color.RGBA{100, 200, 40, 255})
	src.SetRGBA(1, 1, color.RGBA{200, 0, 0, 255})
	got := halve(src).(*image.RGBA)
	if want := (color.RGBA{100, 100, 20, 255}); got.RGBAAt(0, 0) != want {
		t.Errorf("halve: pixel (0,0) = %v, want the mean %v", got.RGBAAt(0, 0), want)
	}
	if got.Bounds() != image.Rect(0, 0, 2, 1) {
		t.Errorf("halve: bounds %v, want (0,0)-(2,1)", got.Bounds())
	}
}

func BenchmarkEncodeEvidence(b *testing.B) {
	img := ycbcr(640, 480)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeEvidence(img, 16<<10, 80); err != nil {
			b.Fatal(err)
		}
	}
}
