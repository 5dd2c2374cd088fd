package preprocess

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/tensor"
)

func newTensor(typ model.TensorType, shape []int, q *model.Quantization) *tensor.Tensor {
	t := &tensor.Tensor{Name: "in", Type: typ, Shape: shape, Quant: q}
	t.Data = tensor.AlignedBytes(t.Bytes())
	return t
}

func TestGrayIdentityInt8(t *testing.T) {
	in := newTensor(model.Int8, []int{1, 4, 4, 1}, &model.Quantization{Scale: []float32{1.0 / 255}, ZeroPoint: []int64{-128}})
	spec, err := SpecFor(&model.File{Metadata: &model.Metadata{Inputs: []model.TensorMetadata{{Mean: []float32{0}, Std: []float32{255}}}}}, in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pix := []uint8{0, 1, 2, 3, 50, 100, 150, 200, 250, 255, 7, 8, 9, 10, 11, 12}
	if err := New(spec).Gray(pix, 4, 4, in); err != nil {
		t.Fatal(err)
	}
	for i, p := range pix {
		if got, want := in.I8()[i], int8(int(p)-128); got != want {
			t.Errorf("pixel %d (%d): got %d, want %d", i, p, got, want)
		}
	}
}

func TestResizeConstantAndCrop(t *testing.T) {
	in := newTensor(model.Float32, []int{1, 8, 8, 3}, nil)
	spec, err := SpecFor(nil, in, Options{Crop: CropPad})
	if err != nil {
		t.Fatal(err)
	}
	// A 16×4 red image padded into 8×8: rows 3..4 red, the rest black.
	img := image.NewRGBA(image.Rect(0, 0, 16, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 16; x++ {
			img.Set(x, y, color.RGBA{255, 0, 0, 255})
		}
	}
	if err := New(spec).Image(img, in); err != nil {
		t.Fatal(err)
	}
	v := in.F32()
	for y := 0; y < 8; y++ {
		want := float32(0)
		if y >= 3 && y <= 4 {
			want = 1
		}
		if got := v[(y*8+3)*3]; got != want {
			t.Errorf("row %d red = %v, want %v", y, got, want)
		}
		if got := v[(y*8+3)*3+1]; got != 0 {
			t.Errorf("row %d green = %v, want 0", y, got)
		}
	}
	spec.Crop = CropCenter
	if err := New(spec).Image(img, in); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(v); i += 3 {
		if v[i] != 1 {
			t.Fatalf("center crop of a red image: element %d = %v, want 1", i, v[i])
		}
	}
}

func TestSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		in   *tensor.Tensor
		opts Options
	}{
		{"rank 2", newTensor(model.Float32, []int{1, 10}, nil), Options{}},
		{"4 channels", newTensor(model.Float32, []int{1, 2, 2, 4}, nil), Options{}},
		{"bad crop", newTensor(model.Float32, []int{1, 2, 2, 1}, nil), Options{Crop: "zoom"}},
		{"rgb on gray model", newTensor(model.Float32, []int{1, 2, 2, 1}, nil), Options{Color: "rgb"}},
		{"int8 without quantization", newTensor(model.Int8, []int{1, 2, 2, 1}, nil), Options{}},
		{"zero std", newTensor(model.Float32, []int{1, 2, 2, 1}, nil), Options{Std: []float32{0}}},
		{"mean per channel mismatch", newTensor(model.Float32, []int{1, 2, 2, 3}, nil), Options{Mean: []float32{1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := SpecFor(nil, tt.in, tt.opts); err == nil {
				t.Errorf("SpecFor(%s) = nil error, want one", tt.name)
			}
		})
	}
}

func pngBytes(w, h int) []byte {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)))
	return b.Bytes()
}

func jpegBytes(w, h int) []byte {
	var b bytes.Buffer
	jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h)), nil)
	return b.Bytes()
}

func TestDecodeLimits(t *testing.T) {
	good := pngBytes(10, 10)
	goodJPEG := jpegBytes(10, 10)
	tests := []struct {
		name string
		data []byte
		lim  Limits
		want error
	}{
		{"ok", good, Limits{MaxBytes: 1 << 20, MaxPixels: 100}, nil},
		{"empty", nil, Limits{}, ErrDecode},
		{"truncated", good[:len(good)/2], Limits{}, ErrDecode},
		{"garbage", []byte("not an image at all"), Limits{}, ErrDecode},
		{"too many bytes", good, Limits{MaxBytes: 10}, ErrTooLarge},
		{"too many pixels", good, Limits{MaxPixels: 99}, ErrTooLarge},
		{"jpeg ok", goodJPEG, Limits{MaxBytes: 1 << 20, MaxPixels: 100}, nil},
		{"jpeg truncated", goodJPEG[:len(goodJPEG)/2], Limits{}, ErrDecode},
		{"jpeg without its end", goodJPEG[:len(goodJPEG)-2], Limits{}, ErrDecode},
		{"jpeg too many pixels", goodJPEG, Limits{MaxPixels: 99}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.data, tt.lim)
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Errorf("Decode = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(pngBytes(3, 2))
	f.Add([]byte{0xff, 0xd8, 0xff})
	f.Add([]byte("BM"))
	f.Add([]byte("GIF89a"))
	if webp, err := os.ReadFile("testdata/sandal.webp"); err == nil {
		f.Add(webp)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data, Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 16})
		if err != nil {
			return
		}
		in := newTensor(model.Float32, []int{1, 4, 4, 3}, nil)
		spec, _ := SpecFor(nil, in, Options{})
		if err := New(spec).Image(img, in); err != nil {
			t.Fatalf("Image after successful Decode: %v", err)
		}
	})
}

func BenchmarkImage640x480To224(b *testing.B) {
	in := newTensor(model.Uint8, []int{1, 224, 224, 3}, &model.Quantization{Scale: []float32{1}, ZeroPoint: []int64{0}})
	spec, _ := SpecFor(nil, in, Options{})
	p := New(spec)
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Image(img, in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSamplersAgree checks that the direct Gray and RGBA paths and the
// generic colour-model path produce the same tensor for the same picture.
func TestSamplersAgree(t *testing.T) {
	in := newTensor(model.Float32, []int{1, 7, 9, 1}, nil)
	spec, err := SpecFor(nil, in, Options{Crop: CropStretch})
	if err != nil {
		t.Fatal(err)
	}
	gray := image.NewGray(image.Rect(0, 0, 23, 17))
	rgba := image.NewRGBA(gray.Rect)
	paletted := image.NewPaletted(gray.Rect, color.Palette{color.Black, color.White, color.Gray{Y: 128}})
	for y := 0; y < 17; y++ {
		for x := 0; x < 23; x++ {
			v := []uint8{0, 255, 128}[(x*7+y*3)%3]
			gray.SetGray(x, y, color.Gray{Y: v})
			rgba.Set(x, y, color.RGBA{v, v, v, 255})
			paletted.Set(x, y, color.Gray{Y: v})
		}
	}
	var results [][]float32
	for _, img := range []image.Image{gray, rgba, paletted} {
		if err := New(spec).Image(img, in); err != nil {
			t.Fatal(err)
		}
		results = append(results, append([]float32(nil), in.F32()...))
	}
	for k := 1; k < len(results); k++ {
		for i := range results[0] {
			if d := results[k][i] - results[0][i]; d > 1.0/255 || d < -1.0/255 {
				t.Fatalf("sampler %d differs at %d: %v vs %v", k, i, results[k][i], results[0][i])
			}
		}
	}
}

// atOnly hides an image's concrete type, so Image takes the generic path.
type atOnly struct{ image.Image }

// TestYCbCrSamplerExact: JPEG frames read through their planes give the
// very bytes the colour-model path gives, for every chroma subsampling, a
// sub-image, RGB and grayscale models, every crop, and outputs smaller
// than, larger than and as large as the frame or sub-image.
func TestYCbCrSamplerExact(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410}
	for _, size := range [][2]int{{11, 13}, {50, 60}, {29, 41}, {24, 33}} {
		for _, crop := range []Crop{CropCenter, CropStretch, CropPad} {
			for _, channels := range []int{3, 1} {
				in := newTensor(model.Float32, []int{1, size[0], size[1], channels}, nil)
				spec, err := SpecFor(nil, in, Options{Crop: crop})
				if err != nil {
					t.Fatal(err)
				}
				for _, ratio := range ratios {
					full := image.NewYCbCr(image.Rect(0, 0, 41, 29), ratio)
					for i := range full.Y {
						full.Y[i] = uint8(i * 37)
					}
					for i := range full.Cb {
						full.Cb[i], full.Cr[i] = uint8(i*11+3), uint8(255-i*13)
					}
					for _, img := range []*image.YCbCr{full, full.SubImage(image.Rect(5, 3, 38, 27)).(*image.YCbCr)} {
						p := New(spec)
						if err := p.Image(img, in); err != nil {
							t.Fatal(err)
						}
						direct := append([]float32(nil), in.F32()...)
						if err := p.Image(atOnly{img}, in); err != nil {
							t.Fatal(err)
						}
						for i, v := range in.F32() {
							if direct[i] != v {
								t.Fatalf("%v %s %v %d channels %v: value %d = %v through the planes, %v through At",
									size, crop, ratio, channels, img.Rect, i, direct[i], v)
							}
						}
					}
				}
			}
		}
	}
}

// TestYCbCrToRGBExact checks the planes' colour conversion against
// image/color's on every input.
func TestYCbCrToRGBExact(t *testing.T) {
	for y := range 256 {
		for cb := range 256 {
			for cr := range 256 {
				r, g, b, _ := color.YCbCr{Y: uint8(y), Cb: uint8(cb), Cr: uint8(cr)}.RGBA()
				want := [3]float32{float32(r >> 8), float32(g >> 8), float32(b >> 8)}
				if got := ycbcrToRGB(uint8(y), uint8(cb), uint8(cr)); got != want {
					t.Fatalf("Y %d Cb %d Cr %d: %v, want %v", y, cb, cr, got, want)
				}
			}
		}
	}
}

// BenchmarkImageJPEG resizes JPEG frames (YCbCr 4:2:0) to a 224×224 input:
// from a camera's 640×480 and at the input's own size.
func BenchmarkImageJPEG(b *testing.B) {
	in := newTensor(model.Uint8, []int{1, 224, 224, 3}, &model.Quantization{Scale: []float32{1}, ZeroPoint: []int64{0}})
	spec, _ := SpecFor(nil, in, Options{})
	for _, size := range []image.Point{{640, 480}, {224, 224}} {
		b.Run(fmt.Sprintf("%dx%d", size.X, size.Y), func(b *testing.B) {
			p := New(spec)
			img := image.NewYCbCr(image.Rectangle{Max: size}, image.YCbCrSubsampleRatio420)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Image(img, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestQuantizeRaw: the shortcut for raw pixel inputs writes what the full
// normalization writes.
func TestQuantizeRaw(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	scratch := make([]float32, 300)
	for i := range scratch {
		scratch[i] = float32(rng.IntN(511))/2 - 0.25 // halves, and values just outside 0–255
	}
	for _, zero := range []int32{0, 7} {
		n := normalize{ch: 3, std: [3]float32{1, 1, 1}, scale: 1, zero: zero}
		if !n.raw() {
			t.Fatal("unit normalization not taken as raw")
		}
		out := make([]uint8, len(scratch))
		quantize(n, out, scratch, model.Uint8)
		for i, v := range scratch {
			want := uint8(min(max(int32(math.Round(float64(n.value(v, i%3)/n.scale)))+zero, 0), 255))
			if out[i] != want {
				t.Fatalf("zero point %d: %v → %d, want %d", zero, v, out[i], want)
			}
		}
	}
}
