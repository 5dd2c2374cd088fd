package preprocess

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // register decoders: Decode reads every format listed in imageExtensions
	_ "image/jpeg"
	_ "image/png"
	"math"
	"path/filepath"
	"slices"
	"strings"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/preprocess/jpegdec"
	"github.com/ood-agent/ood-agent/model/tensor"
)

// Errors callers branch on: a frame that fails with one of these is skipped
// and counted, the agent carries on.
var (
	ErrTooLarge = errors.New("image too large")
	ErrDecode   = errors.New("cannot decode image")
)

// Crop says how an image whose aspect ratio differs from the input's is fit.
type Crop string

// Crop policies.
const (
	CropCenter  Crop = "center"  // scale the short side, cut the long side
	CropStretch Crop = "stretch" // scale each side independently
	CropPad     Crop = "pad"     // scale the long side, pad with black
)

// Spec is everything needed to fill one image input tensor.
type Spec struct {
	Width, Height int
	Channels      int // 1 (grayscale) or 3 (RGB)
	Type          model.TensorType
	Scale         float32 // input quantization, when Type is integer
	ZeroPoint     int32
	// Mean and Std normalize 0–255 pixel values: (x − mean)/std, one value
	// or one per channel.
	Mean, Std []float32
	Crop      Crop
}

// Options override what the model's metadata says.
type Options struct {
	Crop      Crop
	Color     string // "auto", "gray", "rgb"
	Mean, Std []float32
}

// SpecFor derives the spec of input tensor in of a model: shape from the
// tensor (NHWC, batch 1), colour and normalization from the metadata, with
// opts overriding. Without metadata or overrides, float inputs are scaled to
// [0, 1] and quantized inputs take raw 0–255 values through their
// quantization.
func SpecFor(f *model.File, in *tensor.Tensor, opts Options) (Spec, error) {
	if len(in.Shape) != 4 || in.Shape[0] != 1 {
		return Spec{}, fmt.Errorf("input %q: want an NHWC image tensor with batch 1, got shape %v", in.Name, in.Shape)
	}
	s := Spec{Height: in.Shape[1], Width: in.Shape[2], Channels: in.Shape[3], Type: in.Type, Crop: opts.Crop}
	if s.Crop == "" {
		s.Crop = CropCenter
	}
	switch s.Crop {
	case CropCenter, CropStretch, CropPad:
	default:
		return Spec{}, fmt.Errorf("crop %q: want center, stretch or pad", s.Crop)
	}
	if s.Channels != 1 && s.Channels != 3 {
		return Spec{}, fmt.Errorf("input %q: %d channels, want 1 or 3", in.Name, s.Channels)
	}
	switch opts.Color {
	case "", "auto":
	case "gray":
		if s.Channels != 1 {
			return Spec{}, fmt.Errorf("color gray: model input has %d channels", s.Channels)
		}
	case "rgb":
		if s.Channels != 3 {
			return Spec{}, fmt.Errorf("color rgb: model input has %d channels", s.Channels)
		}
	default:
		return Spec{}, fmt.Errorf("color %q: want auto, gray or rgb", opts.Color)
	}
	switch in.Type {
	case model.Float32:
	case model.Uint8, model.Int8, model.Int16:
		if !in.Quantized() {
			return Spec{}, fmt.Errorf("input %q: %s without quantization parameters", in.Name, in.Type)
		}
		s.Scale, s.ZeroPoint = float32(in.Scale()), in.ZeroPoint()
	default:
		return Spec{}, fmt.Errorf("input %q: unsupported input type %s", in.Name, in.Type)
	}
	if f != nil && f.Metadata != nil && len(f.Metadata.Inputs) > 0 {
		md := f.Metadata.Inputs[0]
		s.Mean, s.Std = md.Mean, md.Std
	}
	if len(opts.Mean) > 0 {
		s.Mean = opts.Mean
	}
	if len(opts.Std) > 0 {
		s.Std = opts.Std
	}
	if len(s.Mean) == 0 && len(s.Std) == 0 {
		if in.Type == model.Float32 {
			s.Mean, s.Std = []float32{0}, []float32{255}
		} else {
			// A quantized input without normalization takes pixel values;
			// the quantization maps them (uint8 with scale 1 is identity).
			s.Mean, s.Std = []float32{0}, []float32{1}
		}
	}
	for _, v := range [][]float32{s.Mean, s.Std} {
		if len(v) != 1 && len(v) != s.Channels {
			return Spec{}, fmt.Errorf("normalization has %d values for %d channels", len(v), s.Channels)
		}
	}
	for _, sd := range s.Std {
		if sd == 0 || math.IsNaN(float64(sd)) {
			return Spec{}, errors.New("normalization std must be non-zero")
		}
	}
	return s, nil
}

// NewTensor returns a tensor of the input shape and type s describes, for
// filling with a Preprocessor away from the interpreter's own input (in a
// goroutine ahead of inference, say).
func (s Spec) NewTensor() *tensor.Tensor {
	shape := []int{1, s.Height, s.Width, s.Channels}
	return &tensor.Tensor{Type: s.Type, Shape: shape, Data: tensor.AlignedBytes(tensor.NumElements(shape) * s.Type.Size())}
}

// Record describes s as a calibration records it.
func (s Spec) Record() ood.Preprocessing {
	color := "rgb"
	if s.Channels == 1 {
		color = "gray"
	}
	return ood.Preprocessing{
		Width: s.Width, Height: s.Height, Color: color,
		Mean: toF64(s.Mean), Std: toF64(s.Std), Crop: string(s.Crop), Resize: "bilinear",
	}
}

// Request describes the overrides in o as a request to
// ood.Preprocessing.Resolve: what is unset stays unset.
func (o Options) Request() ood.Preprocessing {
	return ood.Preprocessing{Color: o.Color, Mean: toF64(o.Mean), Std: toF64(o.Std), Crop: string(o.Crop)}
}

// WithRecord returns the options that reproduce the recorded
// preprocessing p.
func WithRecord(p ood.Preprocessing) Options {
	return Options{Crop: Crop(p.Crop), Color: p.Color, Mean: ToF32(p.Mean), Std: ToF32(p.Std)}
}

// ToF32 converts normalization values from configuration (float64) to the
// spec's float32; nil stays nil.
func ToF32(v []float64) []float32 { return convert[float64, float32](v) }

func toF64(v []float32) []float64 { return convert[float32, float64](v) }

func convert[From, To float32 | float64](v []From) []To {
	if len(v) == 0 {
		return nil
	}
	out := make([]To, len(v))
	for i, x := range v {
		out[i] = To(x)
	}
	return out
}

// Limits bound what Decode accepts.
type Limits struct {
	MaxBytes  int // encoded size
	MaxPixels int // width × height
}

// imageExtensions are the file name extensions of the formats Decode reads.
var imageExtensions = []string{".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}

// IsImageFile reports whether a file name has the extension of a format
// Decode reads (PNG, JPEG, BMP, GIF or WebP), ignoring case.
func IsImageFile(name string) bool {
	return slices.Contains(imageExtensions, strings.ToLower(filepath.Ext(name)))
}

// Decode decodes a PNG, JPEG, BMP, GIF (its first frame) or WebP image,
// checking the declared dimensions against the limits before decoding
// pixels, so a hostile header cannot make it allocate. It is a new
// Decoder's Decode: the image is the caller's.
func Decode(data []byte, lim Limits) (image.Image, error) {
	var d Decoder
	return d.Decode(data, lim)
}

// Decoder decodes images as Decode does, keeping its buffers for the next
// image: baseline JPEG files — what cameras write — are decoded by
// jpegdec into them, 1.8× as fast as image/jpeg and without garbage (its
// samples are within one step of image/jpeg's); other JPEG files and the
// other formats by the standard decoders. An image it returns is valid
// until its next Decode. Not safe for concurrent use.
type Decoder struct {
	jpeg jpegdec.Decoder
}

// Decode decodes data (see Decode).
func (d *Decoder) Decode(data []byte, lim Limits) (image.Image, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrDecode)
	}
	if lim.MaxBytes > 0 && len(data) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrTooLarge, len(data), lim.MaxBytes)
	}
	if len(data) >= 2 && data[0] == 0xFF && data[1] == 0xD8 { // a JPEG's SOI marker
		// jpegdec checks the size itself, before allocating; what it
		// does not read, or finds broken, image/jpeg decodes or reports
		// in its own words below.
		d.jpeg.MaxPixels = lim.MaxPixels
		img, err := d.jpeg.Decode(data)
		if err == nil {
			return img, nil
		}
		if errors.Is(err, jpegdec.ErrTooLarge) {
			return nil, fmt.Errorf("%w: jpeg: %v", ErrTooLarge, err)
		}
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s of %d×%d pixels", ErrDecode, format, cfg.Width, cfg.Height)
	}
	if lim.MaxPixels > 0 && int64(cfg.Width)*int64(cfg.Height) > int64(lim.MaxPixels) { // int64: on 32-bit boards the product can overflow
		return nil, fmt.Errorf("%w: %s of %d×%d pixels exceeds %d", ErrTooLarge, format, cfg.Width, cfg.Height, lim.MaxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDecode, format, err)
	}
	return img, nil
}

// Preprocessor fills an input tensor from images. It keeps its scratch
// buffer, so steady-state use does not allocate. Not safe for concurrent use.
type Preprocessor struct {
	spec    Spec
	scratch []float32 // Height*Width*Channels resized pixel values, 0–255
	// corners holds the four source pixels of one bilinear sample; kept
	// here so that passing them to a sampler does not allocate.
	corners [4][3]float32
	// Per output column and row, reused across frames.
	cols, rows     []tap
	ycCols, ycRows []planeTap
}

// New returns a preprocessor for spec.
func New(spec Spec) *Preprocessor {
	return &Preprocessor{spec: spec, scratch: make([]float32, spec.Width*spec.Height*spec.Channels)}
}

// Spec returns the preprocessor's spec.
func (p *Preprocessor) Spec() Spec { return p.spec }

// Image resizes img into the input tensor t.
func (p *Preprocessor) Image(img image.Image, t *tensor.Tensor) error {
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return fmt.Errorf("%w: empty image", ErrDecode)
	}
	gray := p.spec.Channels == 1
	switch im := img.(type) {
	case *image.Gray:
		resize(p, graySampler{pix: im.Pix[im.PixOffset(b.Min.X, b.Min.Y):], w: im.Stride}, b.Dx(), b.Dy())
	case *image.RGBA:
		resize(p, rgbaSampler{pix: im.Pix[im.PixOffset(b.Min.X, b.Min.Y):], stride: im.Stride, gray: gray}, b.Dx(), b.Dy())
	case *image.NRGBA:
		// Frames are opaque; alpha is ignored like RGBA's.
		resize(p, rgbaSampler{pix: im.Pix[im.PixOffset(b.Min.X, b.Min.Y):], stride: im.Stride, gray: gray}, b.Dx(), b.Dy())
	case *image.YCbCr:
		p.resizeYCbCr(im)
	default:
		resize(p, imageSampler{img: img, gray: gray}, b.Dx(), b.Dy())
	}
	return p.write(t)
}

// Gray fills t from a width×height 8-bit grayscale image (idx datasets).
func (p *Preprocessor) Gray(pixels []uint8, width, height int, t *tensor.Tensor) error {
	if width*height != len(pixels) || width <= 0 {
		return fmt.Errorf("gray image: %d pixels for %d×%d", len(pixels), width, height)
	}
	resize(p, graySampler{pix: pixels, w: width}, width, height)
	return p.write(t)
}

type sampler interface {
	// at writes the channels of pixel (x, y) as 0–255 values.
	at(x, y int, out []float32)
}

type graySampler struct {
	pix []uint8
	w   int // row stride
}

func (g graySampler) at(x, y int, out []float32) {
	v := float32(g.pix[y*g.w+x])
	for c := range out {
		out[c] = v
	}
}

// rgbaSampler reads 8-bit RGBA/NRGBA pixels directly.
type rgbaSampler struct {
	pix    []uint8
	stride int
	gray   bool
}

func (s rgbaSampler) at(x, y int, out []float32) {
	o := y*s.stride + 4*x
	store(s.gray, float32(s.pix[o]), float32(s.pix[o+1]), float32(s.pix[o+2]), out)
}

// imageSampler reads any other image through its colour model (paletted
// and 16-bit PNGs, GIF, WebP).
type imageSampler struct {
	img  image.Image
	gray bool
}

func (s imageSampler) at(x, y int, out []float32) {
	b := s.img.Bounds()
	r, g, bl, _ := s.img.At(b.Min.X+x, b.Min.Y+y).RGBA()
	store(s.gray, float32(r>>8), float32(g>>8), float32(bl>>8), out)
}

// store writes RGB, or its luma (ITU-R 601 weights, as image/color's
// GrayModel) for grayscale inputs.
func store(gray bool, r, g, b float32, out []float32) {
	if gray {
		out[0] = luma([3]float32{r, g, b})
		return
	}
	out[0], out[1], out[2] = r, g, b
}

// taps places the output window for a sw×sh source after applying the crop
// policy and returns the bilinear taps (half-pixel centres) of its columns
// and rows, computed once per frame into reused tables rather than per
// pixel. ox, oy is the window's corner in the output (pad leaves a black
// border, which it clears).
func (p *Preprocessor) taps(sw, sh int) (ox, oy int, cols, rows []tap) {
	dw, dh := p.spec.Width, p.spec.Height
	// Source window and destination window.
	x0, y0, cw, chh := 0.0, 0.0, float64(sw), float64(sh)
	ow, oh := dw, dh
	switch p.spec.Crop {
	case CropCenter:
		scale := math.Max(float64(dw)/float64(sw), float64(dh)/float64(sh))
		cw, chh = float64(dw)/scale, float64(dh)/scale
		x0, y0 = (float64(sw)-cw)/2, (float64(sh)-chh)/2
	case CropPad:
		scale := math.Min(float64(dw)/float64(sw), float64(dh)/float64(sh))
		ow = max(1, int(math.Round(float64(sw)*scale)))
		oh = max(1, int(math.Round(float64(sh)*scale)))
		ox, oy = (dw-ow)/2, (dh-oh)/2
		clear(p.scratch)
	}
	p.cols = axisTaps(p.cols, ow, sw, x0, cw)
	p.rows = axisTaps(p.rows, oh, sh, y0, chh)
	return ox, oy, p.cols, p.rows
}

// axisTaps fills buf with the taps of n outputs over a source axis of
// size src whose window starts at start and spans span pixels.
func axisTaps(buf []tap, n, src int, start, span float64) []tap {
	if cap(buf) < n {
		buf = make([]tap, n)
	}
	buf = buf[:n]
	for i := range buf {
		f := start + (float64(i)+0.5)*span/float64(n) - 0.5
		f = math.Max(0, math.Min(float64(src-1), f))
		k := int(f)
		buf[i] = tap{i0: k, i1: min(k+1, src-1), w: float32(f - float64(k))}
	}
	return buf
}

// resize samples the source into scratch with bilinear interpolation. It
// is generic so that each sampler's at is called without boxing.
func resize[S sampler](p *Preprocessor, src S, sw, sh int) {
	ox, oy, cols, rows := p.taps(sw, sh)
	dw, ch := p.spec.Width, p.spec.Channels
	if onPixels(cols, rows) {
		for y, r := range rows {
			row := p.scratch[((oy+y)*dw+ox)*ch:]
			for x, col := range cols {
				src.at(col.i0, r.i0, row[x*ch:(x+1)*ch])
			}
		}
		return
	}
	a, b, c, d := p.corners[0][:ch], p.corners[1][:ch], p.corners[2][:ch], p.corners[3][:ch]
	for y, r := range rows {
		row := p.scratch[((oy+y)*dw+ox)*ch:]
		for x, col := range cols {
			src.at(col.i0, r.i0, a)
			src.at(col.i1, r.i0, b)
			src.at(col.i0, r.i1, c)
			src.at(col.i1, r.i1, d)
			o := x * ch
			for k := 0; k < ch; k++ {
				row[o+k] = lerp(lerp(a[k], b[k], col.w), lerp(c[k], d[k], col.w), r.w)
			}
		}
	}
}

// resizeYCbCr is resize for JPEG frames, reading their planes directly: a
// fifth of a camera frame's time went to sampling them through a generic
// sampler. It writes the same values as the colour-model path.
func (p *Preprocessor) resizeYCbCr(im *image.YCbCr) {
	origin := im.Rect.Min
	ox, oy, cols, rows := p.taps(im.Rect.Dx(), im.Rect.Dy())
	// A sample's offset in each plane is a row part plus a column part
	// (for every subsampling), so both are tabulated once per frame.
	base := im.COffset(origin.X, origin.Y)
	p.ycCols = planeTaps(p.ycCols, cols, 1, func(x int) int { return im.COffset(origin.X+x, origin.Y) })
	p.ycRows = planeTaps(p.ycRows, rows, im.YStride, func(y int) int { return im.COffset(origin.X, origin.Y+y) - base })
	dw, ch := p.spec.Width, p.spec.Channels
	gray := ch == 1
	ycCols, ycRows, scratch := p.ycCols, p.ycRows, p.scratch
	Y, Cb, Cr := im.Y, im.Cb, im.Cr
	at := func(yi, ci int) [3]float32 { return ycbcrToRGB(Y[yi], Cb[ci], Cr[ci]) }
	if onPixels(cols, rows) {
		for y := range rows {
			row := scratch[((oy+y)*dw+ox)*ch:]
			ry := ycRows[y]
			for x := range cols {
				cx := ycCols[x]
				if gray {
					row[x] = luma(at(ry.y0+cx.y0, ry.c0+cx.c0))
					continue
				}
				o := row[3*x : 3*x+3 : 3*x+3]
				o[0], o[1], o[2] = rgb(Y[ry.y0+cx.y0], Cb[ry.c0+cx.c0], Cr[ry.c0+cx.c0])
			}
		}
		return
	}
	for y, r := range rows {
		row := scratch[((oy+y)*dw+ox)*ch:]
		ry := ycRows[y]
		if !gray {
			bilinearYCbCr(row[:len(cols)*3], cols, ycCols, ry, r.w, Y, Cb, Cr)
			continue
		}
		for x, col := range cols {
			cx := ycCols[x]
			a, b := at(ry.y0+cx.y0, ry.c0+cx.c0), at(ry.y0+cx.y1, ry.c0+cx.c1)
			c, d := at(ry.y1+cx.y0, ry.c1+cx.c0), at(ry.y1+cx.y1, ry.c1+cx.c1)
			row[x] = lerp(lerp(luma(a), luma(b), col.w), lerp(luma(c), luma(d), col.w), r.w)
		}
	}
}

// bilinearYCbCr writes one output row of RGB values from the planes, the
// corners in scalars: a call returning an array per corner (the compiler
// inlined neither the conversion nor the closure around it) was half of a
// camera frame's resize.
func bilinearYCbCr(out []float32, cols []tap, ycCols []planeTap, ry planeTap, wy float32, Y, Cb, Cr []uint8) {
	for x, col := range cols {
		cx := ycCols[x]
		ar, ag, ab := rgb(Y[ry.y0+cx.y0], Cb[ry.c0+cx.c0], Cr[ry.c0+cx.c0])
		br, bg, bb := rgb(Y[ry.y0+cx.y1], Cb[ry.c0+cx.c1], Cr[ry.c0+cx.c1])
		cr, cg, cb := rgb(Y[ry.y1+cx.y0], Cb[ry.c1+cx.c0], Cr[ry.c1+cx.c0])
		dr, dg, db := rgb(Y[ry.y1+cx.y1], Cb[ry.c1+cx.c1], Cr[ry.c1+cx.c1])
		o := out[3*x : 3*x+3 : 3*x+3]
		o[0] = lerp(lerp(ar, br, col.w), lerp(cr, dr, col.w), wy)
		o[1] = lerp(lerp(ag, bg, col.w), lerp(cg, dg, col.w), wy)
		o[2] = lerp(lerp(ab, bb, col.w), lerp(cb, db, col.w), wy)
	}
}

// rgb is ycbcrToRGB's conversion, small enough for the compiler to inline:
// color.YCbCr's 16.8 fixed-point value, saturated to 16 bits and then
// reduced to 8, is the value clamped to [0, 2²⁴−1] shifted right by 16.
func rgb(y, cb, cr uint8) (r, g, b float32) {
	y1 := int32(y) * 0x10101
	cb1, cr1 := int32(cb)-128, int32(cr)-128
	return float32(min(max(y1+91881*cr1, 0), 0xffffff) >> 16),
		float32(min(max(y1-22554*cb1-46802*cr1, 0), 0xffffff) >> 16),
		float32(min(max(y1+116130*cb1, 0), 0xffffff) >> 16)
}

// onPixels reports whether every tap falls on a source pixel (weight
// zero), as at the frame's own size: the bilinear blend then gives each
// pixel's value exactly (the values are finite), so the other three
// samples need not be read.
func onPixels(cols, rows []tap) bool {
	for _, taps := range [][]tap{cols, rows} {
		for _, t := range taps {
			if t.w != 0 {
				return false
			}
		}
	}
	return true
}

// planeTap is a tap's two samples as offsets into the Y and the chroma
// planes (row or column parts).
type planeTap struct{ y0, y1, c0, c1 int }

func planeTaps(buf []planeTap, taps []tap, yStride int, chroma func(int) int) []planeTap {
	if cap(buf) < len(taps) {
		buf = make([]planeTap, len(taps))
	}
	buf = buf[:len(taps)]
	for i, t := range taps {
		buf[i] = planeTap{y0: t.i0 * yStride, y1: t.i1 * yStride, c0: chroma(t.i0), c1: chroma(t.i1)}
	}
	return buf
}

// ycbcrToRGB converts one JPEG sample to 0–255 RGB as color.YCbCr's RGBA
// does (TestYCbCrToRGBExact checks every input), written out to take the
// three bytes directly rather than a color.Color per sample.
func ycbcrToRGB(y, cb, cr uint8) [3]float32 {
	r, g, b := rgb(y, cb, cr)
	return [3]float32{r, g, b}
}

// luma is store's grayscale conversion of an RGB sample.
//
// Every product is rounded on its own (the float32 conversions), so that
// no architecture fuses it into a multiply-add (Go may on arm64, ppc64 and
// s390x): the JPEG planes path and the colour-model path, compiled
// differently, must still give the same bits.
func luma(c [3]float32) float32 {
	return (float32(19595*c[0]) + float32(38470*c[1]) + float32(7471*c[2])) / 65536
}

// lerp is a + (b−a)·w with the product rounded on its own, as in luma.
func lerp(a, b, w float32) float32 { return a + float32((b-a)*w) }

// tap is one output column's (or row's) bilinear sample: two source
// columns (rows) and the weight of the second.
type tap struct {
	i0, i1 int
	w      float32
}

// write normalizes scratch and stores it into t in t's type.
func (p *Preprocessor) write(t *tensor.Tensor) error {
	s := p.spec
	if t.NumElements() != len(p.scratch) || t.Type != s.Type {
		return fmt.Errorf("input tensor %s does not match the preprocessing spec %dx%dx%d %s", t, s.Height, s.Width, s.Channels, s.Type)
	}
	// Per channel (one value serves all channels), hoisted out of the
	// loops: an index modulo per value was a third of the write.
	var mean, std [3]float32
	for c := range s.Channels {
		mean[c], std[c] = s.Mean[min(c, len(s.Mean)-1)], s.Std[min(c, len(s.Std)-1)]
	}
	n := normalize{ch: s.Channels, mean: mean, std: std, scale: s.Scale, zero: s.ZeroPoint}
	switch s.Type {
	case model.Float32:
		out := t.F32()
		for i := 0; i < len(p.scratch); i += n.ch {
			for c := range n.ch {
				out[i+c] = n.value(p.scratch[i+c], c)
			}
		}
	case model.Uint8:
		quantize(n, t.U8(), p.scratch, s.Type)
	case model.Int8:
		quantize(n, t.I8(), p.scratch, s.Type)
	case model.Int16:
		quantize(n, t.I16(), p.scratch, s.Type)
	}
	return nil
}

// normalize maps 0–255 pixel values to an input's values.
type normalize struct {
	ch        int
	mean, std [3]float32
	scale     float32
	zero      int32
}

func (n normalize) value(v float32, c int) float32 { return (v - n.mean[c]) / n.std[c] }

// raw reports whether normalizing and scaling leave values as they are.
func (n normalize) raw() bool {
	for c := range n.ch {
		if n.mean[c] != 0 || n.std[c] != 1 {
			return false
		}
	}
	return n.scale == 1
}

// quantize writes scratch's normalized values into out through the
// input's quantization.
func quantize[T uint8 | int8 | int16](n normalize, out []T, scratch []float32, typ model.TensorType) {
	lo, hi := tensor.QuantRange(typ)
	if n.raw() { // raw pixel values (uint8 models): no division changes them
		for i, v := range scratch {
			// Adding a half in float64 (exact for any float32) and
			// truncating is math.Round for v ≥ 0, at half the cost.
			q := int32(float64(v) + 0.5)
			if v < 0 {
				q = int32(math.Round(float64(v)))
			}
			out[i] = T(min(max(q+n.zero, lo), hi))
		}
		return
	}
	for i := 0; i < len(scratch); i += n.ch {
		for c := range n.ch {
			q := int32(math.Round(float64(n.value(scratch[i+c], c)/n.scale))) + n.zero
			out[i+c] = T(min(max(q, lo), hi))
		}
	}
}
