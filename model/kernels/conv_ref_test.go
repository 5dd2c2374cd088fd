package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// Reference kernels: straight transcriptions of TFLite's reference loops,
// one output value at a time, used as oracles for the optimized kernels.

// refQuant describes integer data for the reference kernels: raw values
// widened to int64 plus the offsets TFLite adds.
type refQuant struct {
	in, filter []int64
	inOff      int64
	filterOff  int64
	bias       []int64 // nil when omitted
	quant      convQuant
	wide       bool // 16x8: int64 accumulator and 64-bit rescale
}

func (q *refQuant) finish(acc int64, c int) int64 {
	if q.bias != nil {
		acc += q.bias[c]
	}
	r := q.quant.fixed[c]
	var v int32
	switch {
	case q.wide:
		v = MultiplyByQuantizedMultiplier64(acc, r.mult, int(r.shift))
	case q.quant.rounding == convRoundRuntime:
		// XNNPACK: float32 product, rounded half to even.
		v = int32(math.RoundToEven(float64(float32(int32(acc)) * q.quant.scale[c])))
	default:
		v = MultiplyByQuantizedMultiplier(int32(acc), r.mult, int(r.shift))
	}
	v += q.quant.outZP
	return int64(min(max(v, q.quant.lo), q.quant.hi))
}

// accumulate adds x·w the way the reference does: wrapping int32 for 8-bit
// data, int64 for 16x8.
func (q *refQuant) accumulate(acc, x, w int64) int64 {
	p := (x + q.inOff) * (w + q.filterOff)
	if q.wide {
		return acc + p
	}
	return int64(int32(acc) + int32(p))
}

// refConvLoop runs reference_ops::Conv's loops: for each output value in
// NHWC order it folds tap over the input and filter indices of the taps
// inside the input, in filter order, and stores finish of the sum.
func refConvLoop[A int64 | float32](g *convGeometry, tap func(acc A, x, w int) A, finish func(acc A, oc int) A) []A {
	out := make([]A, g.batches*g.outH*g.outW*g.outC)
	i := 0
	for b := 0; b < g.batches; b++ {
		for oy := 0; oy < g.outH; oy++ {
			for ox := 0; ox < g.outW; ox++ {
				for oc := 0; oc < g.outC; oc++ {
					var acc A
					for ky := 0; ky < g.filterH; ky++ {
						iy := oy*g.strideH - g.padTop + ky*g.dilationH
						for kx := 0; kx < g.filterW; kx++ {
							ix := ox*g.strideW - g.padLeft + kx*g.dilationW
							if iy < 0 || iy >= g.inH || ix < 0 || ix >= g.inW {
								continue
							}
							for ic := 0; ic < g.inC; ic++ {
								acc = tap(acc, ((b*g.inH+iy)*g.inW+ix)*g.inC+ic, ((oc*g.filterH+ky)*g.filterW+kx)*g.inC+ic)
							}
						}
					}
					out[i] = finish(acc, oc)
					i++
				}
			}
		}
	}
	return out
}

// refDepthwiseLoop is refConvLoop for reference_ops::DepthwiseConv with
// depth multiplier mult.
func refDepthwiseLoop[A int64 | float32](g *convGeometry, mult int, tap func(acc A, x, w int) A, finish func(acc A, oc int) A) []A {
	out := make([]A, g.batches*g.outH*g.outW*g.outC)
	for b := 0; b < g.batches; b++ {
		for oy := 0; oy < g.outH; oy++ {
			for ox := 0; ox < g.outW; ox++ {
				for ic := 0; ic < g.inC; ic++ {
					for m := 0; m < mult; m++ {
						oc := ic*mult + m
						var acc A
						for ky := 0; ky < g.filterH; ky++ {
							iy := oy*g.strideH - g.padTop + ky*g.dilationH
							for kx := 0; kx < g.filterW; kx++ {
								ix := ox*g.strideW - g.padLeft + kx*g.dilationW
								if iy < 0 || iy >= g.inH || ix < 0 || ix >= g.inW {
									continue
								}
								acc = tap(acc, ((b*g.inH+iy)*g.inW+ix)*g.inC+ic, (ky*g.filterW+kx)*g.outC+oc)
							}
						}
						out[((b*g.outH+oy)*g.outW+ox)*g.outC+oc] = finish(acc, oc)
					}
				}
			}
		}
	}
	return out
}

// refFullyConnectedLoop is refConvLoop for reference_ops::FullyConnected:
// m rows of k values times n weight rows.
func refFullyConnectedLoop[A int64 | float32](m, n, k int, tap func(acc A, x, w int) A, finish func(acc A, c int) A) []A {
	out := make([]A, m*n)
	for b := 0; b < m; b++ {
		for c := 0; c < n; c++ {
			var acc A
			for d := 0; d < k; d++ {
				acc = tap(acc, b*k+d, c*k+d)
			}
			out[b*n+c] = finish(acc, c)
		}
	}
	return out
}

// tap is the integer tap of the reference loops.
func (q *refQuant) tap(acc int64, x, w int) int64 { return q.accumulate(acc, q.in[x], q.filter[w]) }

// refConvQuant is reference_integer_ops::ConvPerChannel (and the legacy
// uint8 reference/conv.h, which differs only by the filter offset).
func refConvQuant(g *convGeometry, q *refQuant) []int64 {
	return refConvLoop(g, q.tap, q.finish)
}

// refDepthwiseQuant is reference_integer_ops::DepthwiseConvPerChannel (and
// the legacy uint8 reference).
func refDepthwiseQuant(g *convGeometry, mult int, q *refQuant) []int64 {
	return refDepthwiseLoop(g, mult, q.tap, q.finish)
}

// refFullyConnectedQuant is reference_integer_ops::FullyConnected.
func refFullyConnectedQuant(m, n, k int, q *refQuant) []int64 {
	return refFullyConnectedLoop(m, n, k, q.tap, q.finish)
}

// refF32 holds the operands of the float reference kernels.
type refF32 struct {
	in, filter, bias []float32 // bias nil when omitted
	lo, hi           float32
}

func newRefF32(in, filter, bias []float32, act model.Activation) *refF32 {
	r := &refF32{in: in, filter: filter, bias: bias}
	r.lo, r.hi = ActivationRangeFloat(act)
	return r
}

func (r *refF32) tap(acc float32, x, w int) float32 { return acc + r.in[x]*r.filter[w] }

func (r *refF32) finish(acc float32, c int) float32 {
	if r.bias != nil {
		acc += r.bias[c]
	}
	return min(max(acc, r.lo), r.hi)
}

// refConvF32 is reference_ops::Conv for float.
func refConvF32(g *convGeometry, in, filter, bias []float32, act model.Activation) []float32 {
	r := newRefF32(in, filter, bias, act)
	return refConvLoop(g, r.tap, r.finish)
}

// refDepthwiseF32 is reference_ops::DepthwiseConv for float.
func refDepthwiseF32(g *convGeometry, mult int, in, filter, bias []float32, act model.Activation) []float32 {
	r := newRefF32(in, filter, bias, act)
	return refDepthwiseLoop(g, mult, r.tap, r.finish)
}

// refFullyConnectedF32 is reference_ops::FullyConnected for float.
func refFullyConnectedF32(m, n, k int, in, w, bias []float32, act model.Activation) []float32 {
	r := newRefF32(in, w, bias, act)
	return refFullyConnectedLoop(m, n, k, r.tap, r.finish)
}
