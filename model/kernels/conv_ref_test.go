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

// refConvQuant is reference_integer_ops::ConvPerChannel (and the legacy
// uint8 reference/conv.h, which differs only by the filter offset).
func refConvQuant(g *convGeometry, q *refQuant) []int64 {
	out := make([]int64, g.batches*g.outH*g.outW*g.outC)
	i := 0
	for b := 0; b < g.batches; b++ {
		for oy := 0; oy < g.outH; oy++ {
			for ox := 0; ox < g.outW; ox++ {
				for oc := 0; oc < g.outC; oc++ {
					var acc int64
					for ky := 0; ky < g.filterH; ky++ {
						iy := oy*g.strideH - g.padTop + ky*g.dilationH
						for kx := 0; kx < g.filterW; kx++ {
							ix := ox*g.strideW - g.padLeft + kx*g.dilationW
							if iy < 0 || iy >= g.inH || ix < 0 || ix >= g.inW {
								continue
							}
							for ic := 0; ic < g.inC; ic++ {
								x := q.in[((b*g.inH+iy)*g.inW+ix)*g.inC+ic]
								w := q.filter[((oc*g.filterH+ky)*g.filterW+kx)*g.inC+ic]
								acc = q.accumulate(acc, x, w)
							}
						}
					}
					out[i] = q.finish(acc, oc)
					i++
				}
			}
		}
	}
	return out
}

// refDepthwiseQuant is reference_integer_ops::DepthwiseConvPerChannel (and
// the legacy uint8 reference).
func refDepthwiseQuant(g *convGeometry, mult int, q *refQuant) []int64 {
	out := make([]int64, g.batches*g.outH*g.outW*g.outC)
	for b := 0; b < g.batches; b++ {
		for oy := 0; oy < g.outH; oy++ {
			for ox := 0; ox < g.outW; ox++ {
				for ic := 0; ic < g.inC; ic++ {
					for m := 0; m < mult; m++ {
						oc := ic*mult + m
						var acc int64
						for ky := 0; ky < g.filterH; ky++ {
							iy := oy*g.strideH - g.padTop + ky*g.dilationH
							for kx := 0; kx < g.filterW; kx++ {
								ix := ox*g.strideW - g.padLeft + kx*g.dilationW
								if iy < 0 || iy >= g.inH || ix < 0 || ix >= g.inW {
									continue
								}
								x := q.in[((b*g.inH+iy)*g.inW+ix)*g.inC+ic]
								w := q.filter[(ky*g.filterW+kx)*g.outC+oc]
								acc = q.accumulate(acc, x, w)
							}
						}
						out[((b*g.outH+oy)*g.outW+ox)*g.outC+oc] = q.finish(acc, oc)
					}
				}
			}
		}
	}
	return out
}

// refFullyConnectedQuant is reference_integer_ops::FullyConnected.
func refFullyConnectedQuant(m, n, k int, q *refQuant) []int64 {
	out := make([]int64, m*n)
	for b := 0; b < m; b++ {
		for c := 0; c < n; c++ {
			var acc int64
			for d := 0; d < k; d++ {
				acc = q.accumulate(acc, q.in[b*k+d], q.filter[c*k+d])
			}
			out[b*n+c] = q.finish(acc, c)
		}
	}
	return out
}

// refConvF32 is reference_ops::Conv for float.
func refConvF32(g *convGeometry, in, filter, bias []float32, act model.Activation) []float32 {
	lo, hi := ActivationRangeFloat(act)
	out := make([]float32, g.batches*g.outH*g.outW*g.outC)
	i := 0
	for b := 0; b < g.batches; b++ {
		for oy := 0; oy < g.outH; oy++ {
			for ox := 0; ox < g.outW; ox++ {
				for oc := 0; oc < g.outC; oc++ {
					var acc float32
					for ky := 0; ky < g.filterH; ky++ {
						iy := oy*g.strideH - g.padTop + ky*g.dilationH
						for kx := 0; kx < g.filterW; kx++ {
							ix := ox*g.strideW - g.padLeft + kx*g.dilationW
							if iy < 0 || iy >= g.inH || ix < 0 || ix >= g.inW {
								continue
							}
							for ic := 0; ic < g.inC; ic++ {
								acc += in[((b*g.inH+iy)*g.inW+ix)*g.inC+ic] *
									filter[((oc*g.filterH+ky)*g.filterW+kx)*g.inC+ic]
							}
						}
					}
					if bias != nil {
						acc += bias[oc]
					}
					out[i] = min(max(acc, lo), hi)
					i++
				}
			}
		}
	}
	return out
}

// refDepthwiseF32 is reference_ops::DepthwiseConv for float.
func refDepthwiseF32(g *convGeometry, mult int, in, filter, bias []float32, act model.Activation) []float32 {
	lo, hi := ActivationRangeFloat(act)
	out := make([]float32, g.batches*g.outH*g.outW*g.outC)
	for b := 0; b < g.batches; b++ {
		for oy := 0; oy < g.outH; oy++ {
			for ox := 0; ox < g.outW; ox++ {
				for ic := 0; ic < g.inC; ic++ {
					for m := 0; m < mult; m++ {
						oc := ic*mult + m
						var acc float32
						for ky := 0; ky < g.filterH; ky++ {
							iy := oy*g.strideH - g.padTop + ky*g.dilationH
							for kx := 0; kx < g.filterW; kx++ {
								ix := ox*g.strideW - g.padLeft + kx*g.dilationW
								if iy < 0 || iy >= g.inH || ix < 0 || ix >= g.inW {
									continue
								}
								acc += in[((b*g.inH+iy)*g.inW+ix)*g.inC+ic] * filter[(ky*g.filterW+kx)*g.outC+oc]
							}
						}
						if bias != nil {
							acc += bias[oc]
						}
						out[((b*g.outH+oy)*g.outW+ox)*g.outC+oc] = min(max(acc, lo), hi)
					}
				}
			}
		}
	}
	return out
}

// refFullyConnectedF32 is reference_ops::FullyConnected for float.
func refFullyConnectedF32(m, n, k int, in, w, bias []float32, act model.Activation) []float32 {
	lo, hi := ActivationRangeFloat(act)
	out := make([]float32, m*n)
	for b := 0; b < m; b++ {
		for c := 0; c < n; c++ {
			var acc float32
			for d := 0; d < k; d++ {
				acc += in[b*k+d] * w[c*k+d]
			}
			if bias != nil {
				acc += bias[c]
			}
			out[b*n+c] = min(max(acc, lo), hi)
		}
	}
	return out
}
