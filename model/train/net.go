package train

import (
	"iter"
	"math"
	"math/rand/v2"
)

// Architecture of the demo CNN (NHWC, SAME padding, stride 1 convolutions):
//
//	28×28×1 → conv3×3 C1 + ReLU → maxpool 2 → 14×14×C1
//	        → conv3×3 C2 + ReLU → maxpool 2 → 7×7×C2
//	        → dense H + ReLU → dense Classes (logits)
const (
	Side    = 28
	C1      = 16
	C2      = 32
	Hidden  = 128
	Classes = 10
	side2   = Side / 2
	side4   = Side / 4
	flat    = side4 * side4 * C2
)

// Params holds all weights. Convolution weights are [out][ky][kx][in] and
// dense weights [out][in], the layouts TFLite uses, so export copies them.
type Params struct {
	Conv1W, Conv1B []float32
	Conv2W, Conv2B []float32
	FC1W, FC1B     []float32
	FC2W, FC2B     []float32
}

func newParams() *Params {
	return &Params{
		Conv1W: make([]float32, C1*9), Conv1B: make([]float32, C1),
		Conv2W: make([]float32, C2*9*C1), Conv2B: make([]float32, C2),
		FC1W: make([]float32, Hidden*flat), FC1B: make([]float32, Hidden),
		FC2W: make([]float32, Classes*Hidden), FC2B: make([]float32, Classes),
	}
}

// slices lists the parameter tensors in a fixed order for optimizers.
func (p *Params) slices() [][]float32 {
	return [][]float32{p.Conv1W, p.Conv1B, p.Conv2W, p.Conv2B, p.FC1W, p.FC1B, p.FC2W, p.FC2B}
}

// NewParams initializes weights with He-normal draws from a fixed seed.
func NewParams(seed uint64) *Params {
	p := newParams()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	he := func(w []float32, fanIn int) {
		std := math.Sqrt(2 / float64(fanIn))
		for i := range w {
			w[i] = float32(rng.NormFloat64() * std)
		}
	}
	he(p.Conv1W, 9)
	he(p.Conv2W, 9*C1)
	he(p.FC1W, flat)
	he(p.FC2W, Hidden)
	return p
}

// activations caches one sample's forward pass for the backward pass.
type activations struct {
	input  []float32 // Side*Side
	conv1  []float32 // Side*Side*C1, after ReLU
	pool1  []float32 // side2*side2*C1
	arg1   []int32   // argmax index into conv1 for each pool1 element
	conv2  []float32 // side2*side2*C2, after ReLU
	pool2  []float32 // flat
	arg2   []int32
	fc1    []float32 // Hidden, after ReLU
	logits []float32 // Classes
	// gradient scratch
	dConv1, dPool1, dConv2, dPool2, dFC1 []float32
}

func newActivations() *activations {
	return &activations{
		input: make([]float32, Side*Side),
		conv1: make([]float32, Side*Side*C1), pool1: make([]float32, side2*side2*C1), arg1: make([]int32, side2*side2*C1),
		conv2: make([]float32, side2*side2*C2), pool2: make([]float32, flat), arg2: make([]int32, flat),
		fc1: make([]float32, Hidden), logits: make([]float32, Classes),
		dConv1: make([]float32, Side*Side*C1), dPool1: make([]float32, side2*side2*C1),
		dConv2: make([]float32, side2*side2*C2), dPool2: make([]float32, flat), dFC1: make([]float32, Hidden),
	}
}

// conv3x3 computes a SAME, stride-1 3×3 convolution with ReLU.
func conv3x3(in []float32, h, w, cin int, wt, bias []float32, cout int, out []float32) {
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := out[(y*w+x)*cout : (y*w+x+1)*cout]
			copy(o, bias)
			for tap, p := range taps3x3(y, x, h, w) {
				px := in[p*cin : (p+1)*cin]
				for co := 0; co < cout; co++ {
					k := wt[(co*9+tap)*cin : (co*9+tap+1)*cin]
					var s float32
					for ci, v := range px {
						s += v * k[ci]
					}
					o[co] += s
				}
			}
			for co := range o {
				if o[co] < 0 {
					o[co] = 0
				}
			}
		}
	}
}

// conv3x3Backward accumulates weight and bias gradients and, when dIn is not
// nil, the input gradient. dOut must already be masked by the ReLU.
func conv3x3Backward(in []float32, h, w, cin int, wt []float32, cout int, dOut, dW, dB, dIn []float32) {
	if dIn != nil {
		clear(dIn)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g := dOut[(y*w+x)*cout : (y*w+x+1)*cout]
			for co, gv := range g {
				dB[co] += gv
			}
			for tap, p := range taps3x3(y, x, h, w) {
				px := in[p*cin : (p+1)*cin]
				var dpx []float32
				if dIn != nil {
					dpx = dIn[p*cin : (p+1)*cin]
				}
				for co, gv := range g {
					if gv == 0 {
						continue
					}
					base := (co*9 + tap) * cin
					dk := dW[base : base+cin]
					for ci, v := range px {
						dk[ci] += gv * v
					}
					if dpx != nil {
						k := wt[base : base+cin]
						for ci := range dpx {
							dpx[ci] += gv * k[ci]
						}
					}
				}
			}
		}
	}
}

// taps3x3 yields the taps of the SAME 3×3 window centred on pixel (y, x)
// of an h×w image that fall inside it, in row-major kernel order: the tap's
// kernel position ky*3+kx and its input pixel iy*w+ix.
func taps3x3(y, x, h, w int) iter.Seq2[int, int] {
	return func(yield func(tap, pixel int) bool) {
		for ky := 0; ky < 3; ky++ {
			iy := y + ky - 1
			if iy < 0 || iy >= h {
				continue
			}
			for kx := 0; kx < 3; kx++ {
				ix := x + kx - 1
				if ix < 0 || ix >= w {
					continue
				}
				if !yield(ky*3+kx, iy*w+ix) {
					return
				}
			}
		}
	}
}

// maxPool2 pools 2×2 windows with stride 2 and records the argmax.
func maxPool2(in []float32, h, w, c int, out []float32, arg []int32) {
	oh, ow := h/2, w/2
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			for ch := 0; ch < c; ch++ {
				best := int32((2*y*w+2*x)*c + ch)
				for _, d := range [3][2]int{{0, 1}, {1, 0}, {1, 1}} {
					i := int32(((2*y+d[0])*w+2*x+d[1])*c + ch)
					if in[i] > in[best] {
						best = i
					}
				}
				o := (y*ow+x)*c + ch
				out[o], arg[o] = in[best], best
			}
		}
	}
}

// dense computes out = W·in + b, with ReLU when relu is set.
func dense(in, wt, bias []float32, out []float32, relu bool) {
	n := len(in)
	for o := range out {
		row := wt[o*n : (o+1)*n]
		s := bias[o]
		for i, v := range in {
			s += v * row[i]
		}
		if relu && s < 0 {
			s = 0
		}
		out[o] = s
	}
}

// forward runs the network on a (normalized) image, filling a.
func (p *Params) forward(a *activations) {
	conv3x3(a.input, Side, Side, 1, p.Conv1W, p.Conv1B, C1, a.conv1)
	maxPool2(a.conv1, Side, Side, C1, a.pool1, a.arg1)
	conv3x3(a.pool1, side2, side2, C1, p.Conv2W, p.Conv2B, C2, a.conv2)
	maxPool2(a.conv2, side2, side2, C2, a.pool2, a.arg2)
	dense(a.pool2, p.FC1W, p.FC1B, a.fc1, true)
	dense(a.fc1, p.FC2W, p.FC2B, a.logits, false)
}

// denseBackward accumulates the weight and bias gradients of
// out = W·in + b into dW and dB and sets dIn to the input gradient, given
// the output gradient dOut. Rows whose gradient is zero add nothing and are
// skipped.
func denseBackward(in, wt, dOut, dW, dB, dIn []float32) {
	n := len(in)
	clear(dIn)
	for o, gv := range dOut {
		if gv == 0 {
			continue
		}
		dB[o] += gv
		row := wt[o*n : (o+1)*n]
		drow := dW[o*n : (o+1)*n]
		for i, v := range in {
			drow[i] += gv * v
			dIn[i] += gv * row[i]
		}
	}
}

// backward accumulates into g the gradient of the loss whose gradient with
// respect to the logits is dLogits.
func (p *Params) backward(a *activations, dLogits []float32, g *Params) {
	// dense 2
	denseBackward(a.fc1, p.FC2W, dLogits, g.FC2W, g.FC2B, a.dFC1)
	// ReLU of dense 1
	for i, v := range a.fc1 {
		if v <= 0 {
			a.dFC1[i] = 0
		}
	}
	denseBackward(a.pool2, p.FC1W, a.dFC1, g.FC1W, g.FC1B, a.dPool2)
	clear(a.dConv2)
	for i, gv := range a.dPool2 {
		if a.conv2[a.arg2[i]] > 0 {
			a.dConv2[a.arg2[i]] += gv
		}
	}
	conv3x3Backward(a.pool1, side2, side2, C1, p.Conv2W, C2, a.dConv2, g.Conv2W, g.Conv2B, a.dPool1)
	clear(a.dConv1)
	for i, gv := range a.dPool1 {
		if a.conv1[a.arg1[i]] > 0 {
			a.dConv1[a.arg1[i]] += gv
		}
	}
	conv3x3Backward(a.input, Side, Side, 1, p.Conv1W, C1, a.dConv1, g.Conv1W, g.Conv1B, nil)
}

// Logits runs the network on one image of Side×Side pixels in [0, 255].
func (p *Params) Logits(pixels []uint8) []float32 {
	a := newActivations()
	normalize(pixels, a.input)
	p.forward(a)
	return append([]float32(nil), a.logits...)
}

// normalize maps 8-bit pixels to [0, 1], the input scaling recorded in the
// exported models' metadata (mean 0, std 255).
func normalize(pixels []uint8, out []float32) {
	for i, v := range pixels {
		out[i] = float32(v) / 255
	}
}
