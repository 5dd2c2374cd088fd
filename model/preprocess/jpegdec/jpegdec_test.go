package jpegdec

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestIDCTMatchesDefinition checks the fast transform against the 2-D
// inverse DCT computed from its definition, on random coefficients.
func TestIDCTMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		var coef [64]float64
		for i := range coef {
			if rng.IntN(3) == 0 || i == 0 {
				coef[i] = float64(rng.IntN(400) - 200)
			}
		}
		var b [64]float32
		for u := range 8 {
			for v := range 8 {
				b[8*u+v] = float32(coef[8*u+v]) * idctScale[u] * idctScale[v] / 8
			}
		}
		out := make([]byte, 64)
		idct(&b, out, 8)
		for y := range 8 {
			for x := range 8 {
				var s float64
				for u := range 8 {
					for v := range 8 {
						cu, cv := 1.0, 1.0
						if u == 0 {
							cu = 1 / math.Sqrt2
						}
						if v == 0 {
							cv = 1 / math.Sqrt2
						}
						s += cu * cv * coef[8*u+v] * math.Cos(float64(2*y+1)*float64(u)*math.Pi/16) * math.Cos(float64(2*x+1)*float64(v)*math.Pi/16)
					}
				}
				want := min(max(math.Floor(s/4+128.5), 0), 255)
				if d := math.Abs(float64(out[8*y+x]) - want); d > 1 || d == 1 && math.Abs(s/4+128-math.Round(s/4+128)) < 0.49 {
					t.Fatalf("trial %d, (%d, %d): %d, want %v (exact %.4f)", trial, x, y, out[8*y+x], want, s/4+128)
				}
			}
		}
	}
}

// testImage is a picture like a camera's: gradients, edges and noise.
func testImage(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, uint64(w)))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(24))
			edge := uint8(0)
			if (x/13+y/17)%2 == 0 {
				edge = 60
			}
			img.SetRGBA(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*200/h) + n/2 + edge, uint8((x+y)%256)/2 + n, 255})
		}
	}
	return img
}

func encode(t testing.TB, img image.Image, quality int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// cjpegFiles writes the test image as JPEGs with libjpeg's cjpeg, in the
// chroma samplings, restart intervals, optimized Huffman tables and
// progressive mode that image/jpeg's encoder does not produce.
func cjpegFiles(t *testing.T) map[string][]byte {
	cjpeg, err := exec.LookPath("cjpeg")
	if err != nil {
		t.Fatalf("cjpeg: %v (apt-get install libjpeg-turbo-progs)", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "in.ppm")
	img := testImage(99, 61, 3)
	ppm := fmt.Appendf(nil, "P6\n%d %d\n255\n", img.Rect.Dx(), img.Rect.Dy())
	for i := 0; i < len(img.Pix); i += 4 {
		ppm = append(ppm, img.Pix[i:i+3]...)
	}
	if err := os.WriteFile(src, ppm, 0o644); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for name, args := range map[string][]string{
		"444":              {"-sample", "1x1"},
		"422":              {"-sample", "2x1"},
		"420":              {"-sample", "2x2"},
		"440":              {"-sample", "1x2"},
		"gray":             {"-grayscale"},
		"420 restart 1":    {"-sample", "2x2", "-restart", "1B"},
		"444 restart 7":    {"-sample", "1x1", "-restart", "7B"},
		"gray restart row": {"-grayscale", "-restart", "1"},
		"optimized":        {"-optimize", "-quality", "40"},
		"progressive":      {"-progressive"},
	} {
		path := filepath.Join(dir, name+".jpg")
		cmd := exec.Command(cjpeg, append(args, "-outfile", path, src)...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cjpeg %s: %v\n%s", name, err, msg)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	return out
}

// compare decodes data with both decoders and requires every sample to be
// within one step of image/jpeg's, and nearly all equal.
func compare(t *testing.T, name string, d *Decoder, data []byte) {
	t.Helper()
	want, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: image/jpeg: %v", name, err)
	}
	got, err := d.Decode(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if got.Bounds() != want.Bounds() {
		t.Fatalf("%s: bounds %v, want %v", name, got.Bounds(), want.Bounds())
	}
	var planesGot, planesWant [][]byte
	var strides [][2]int
	var sizes []image.Point
	switch w := want.(type) {
	case *image.YCbCr:
		g, ok := got.(*image.YCbCr)
		if !ok {
			t.Fatalf("%s: %T, want %T", name, got, want)
		}
		if g.SubsampleRatio != w.SubsampleRatio {
			t.Fatalf("%s: subsampling %v, want %v", name, g.SubsampleRatio, w.SubsampleRatio)
		}
		cw, ch := chromaSize(w)
		planesGot = [][]byte{g.Y, g.Cb, g.Cr}
		planesWant = [][]byte{w.Y, w.Cb, w.Cr}
		strides = [][2]int{{g.YStride, w.YStride}, {g.CStride, w.CStride}, {g.CStride, w.CStride}}
		b := w.Bounds()
		sizes = []image.Point{{b.Dx(), b.Dy()}, {cw, ch}, {cw, ch}}
	case *image.Gray:
		g, ok := got.(*image.Gray)
		if !ok {
			t.Fatalf("%s: %T, want %T", name, got, want)
		}
		planesGot, planesWant = [][]byte{g.Pix}, [][]byte{w.Pix}
		strides = [][2]int{{g.Stride, w.Stride}}
		sizes = []image.Point{{w.Rect.Dx(), w.Rect.Dy()}}
	default:
		t.Fatalf("%s: image/jpeg gave %T", name, want)
	}
	var n, differ int
	for p := range planesGot {
		for y := range sizes[p].Y {
			for x := range sizes[p].X {
				a, b := planesGot[p][y*strides[p][0]+x], planesWant[p][y*strides[p][1]+x]
				if d := int(a) - int(b); d > 1 || d < -1 {
					t.Fatalf("%s: plane %d (%d, %d) = %d, image/jpeg %d", name, p, x, y, a, b)
				} else if d != 0 {
					differ++
				}
				n++
			}
		}
	}
	if differ*20 > n {
		t.Errorf("%s: %d of %d samples differ by one from image/jpeg's", name, differ, n)
	}
}

func chromaSize(m *image.YCbCr) (int, int) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		return (w + 1) / 2, h
	case image.YCbCrSubsampleRatio420:
		return (w + 1) / 2, (h + 1) / 2
	case image.YCbCrSubsampleRatio440:
		return w, (h + 1) / 2
	}
	return w, h
}

func TestDecodeMatchesImageJPEG(t *testing.T) {
	var d Decoder // one decoder for all: its buffers are reused
	for _, size := range []image.Point{{1, 1}, {7, 9}, {16, 16}, {33, 17}, {640, 480}, {223, 225}} {
		for _, q := range []int{20, 75, 95, 100} {
			img := testImage(size.X, size.Y, uint64(q))
			compare(t, fmt.Sprintf("%v q%d", size, q), &d, encode(t, img, q))
			gray := image.NewGray(img.Rect)
			for i := range gray.Pix {
				gray.Pix[i] = img.Pix[4*i+1]
			}
			compare(t, fmt.Sprintf("%v q%d gray", size, q), &d, encode(t, gray, q))
		}
	}
	for name, data := range cjpegFiles(t) {
		if name == "progressive" {
			if _, err := d.Decode(data); !errors.Is(err, ErrUnsupported) {
				t.Errorf("progressive: %v, want ErrUnsupported", err)
			}
			continue
		}
		compare(t, "cjpeg "+name, &d, data)
	}
}

// TestDecodeReusesBuffers: a decoder's second image of the same size
// allocates nothing.
func TestDecodeReusesBuffers(t *testing.T) {
	data := encode(t, testImage(320, 240, 1), 85)
	var d Decoder
	if _, err := d.Decode(data); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(5, func() { d.Decode(data) }); n != 0 {
		t.Errorf("Decode allocates %.0f times per image", n)
	}
}

// TestDecodeErrors: broken files are errors, and what the package does not
// decode is ErrUnsupported, so that the caller can fall back.
func TestDecodeErrors(t *testing.T) {
	good := encode(t, testImage(64, 48, 1), 85)
	var progressive bytes.Buffer
	{
		// A progressive frame header (SOF2) in an otherwise baseline file.
		p := bytes.Clone(good)
		i := bytes.Index(p, []byte{0xFF, markerSOF0})
		p[i+1] = 0xC2
		progressive.Write(p)
	}
	// An Adobe segment saying the three components are RGB, after SOI.
	adobeRGB := append(append(bytes.Clone(good[:2]),
		0xFF, 0xEE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0), good[2:]...)
	dqt := bytes.Index(good, []byte{0xFF, markerDQT})
	sos := bytes.Index(good, []byte{0xFF, markerSOS})
	for _, c := range []struct {
		name        string
		data        []byte
		unsupported bool
	}{
		{"empty", nil, false},
		{"not a JPEG", []byte("\x89PNG\r\n\x1a\n"), false},
		{"only SOI", good[:2], false},
		{"cut in the headers", good[:dqt+10], false},
		{"cut in the scan", good[:sos+200], false},
		{"no EOI", good[:len(good)-2], false},
		{"progressive", progressive.Bytes(), true},
		{"Adobe RGB", adobeRGB, true},
		{"scan before the frame", append(bytes.Clone(good[:2]), good[sos:]...), false},
	} {
		var d Decoder
		_, err := d.Decode(c.data)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if got := errors.Is(err, ErrUnsupported); got != c.unsupported {
			t.Errorf("%s: %v (unsupported %v, want %v)", c.name, err, got, c.unsupported)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(f, testImage(24, 16, 1), 85))
	f.Add(encode(f, testImage(9, 7, 2), 30))
	gray := image.NewGray(image.Rect(0, 0, 17, 9))
	f.Add(encode(f, gray, 90))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width*cfg.Height > 1<<20 {
			return // the caller checks sizes before decoding
		}
		var d Decoder
		img, err := d.Decode(data)
		if err != nil {
			return
		}
		if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
			t.Fatalf("decoded %v, header says %d×%d", b, cfg.Width, cfg.Height)
		}
	})
}

// cameraJPEG is a 640×480 or 224×224 frame as the agent's camera benchmark
// makes them: gradients and noise, quality 85.
func cameraJPEG(b *testing.B, w, h int) []byte {
	rng := rand.New(rand.NewPCG(7, uint64(w)))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(24))
			img.SetRGBA(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, uint8((x+y)%256) / 2, 255})
		}
	}
	return encode(b, img, 85)
}

// BenchmarkDecode compares the decoder with image/jpeg on camera frames.
func BenchmarkDecode(b *testing.B) {
	for _, size := range []image.Point{{640, 480}, {224, 224}} {
		data := cameraJPEG(b, size.X, size.Y)
		b.Run(fmt.Sprintf("%dx%d/jpegdec", size.X, size.Y), func(b *testing.B) {
			var d Decoder
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%dx%d/image-jpeg", size.X, size.Y), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
