package quantize

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// minSpan is the narrowest real range an activation is given. A tensor that
// was constant during calibration (a ReLU that never fired) carries no
// information about its scale; a tiny span would turn the next layer's
// multipliers and biases degenerate.
const minSpan = 1e-3

// valueRange is an observed real-valued range.
type valueRange struct {
	lo, hi float64
	seen   bool
}

func (r *valueRange) add(lo, hi float64) {
	if !r.seen {
		r.lo, r.hi, r.seen = lo, hi, true
		return
	}
	r.lo = math.Min(r.lo, lo)
	r.hi = math.Max(r.hi, hi)
}

func (r *valueRange) addAll(v []float32) {
	if len(v) == 0 {
		return
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		f := float64(x)
		if f < lo {
			lo = f
		}
		if f > hi {
			hi = f
		}
	}
	r.add(lo, hi)
}

// asymmetric returns int8 parameters covering r, widened to hold 0 exactly
// (zero padding and ReLU need an exact zero).
func asymmetric(r valueRange) *model.Quantization {
	lo, hi := math.Min(r.lo, 0), math.Max(r.hi, 0)
	if hi-lo < minSpan {
		// Grow away from zero on the side the data lives on.
		if lo < 0 && hi == 0 {
			lo = hi - minSpan
		} else {
			hi = lo + minSpan
		}
	}
	scale := float64(float32((hi - lo) / 255))
	zp := math.Round(-128 - lo/scale)
	zp = math.Max(-128, math.Min(127, zp))
	return &model.Quantization{Scale: []float32{float32(scale)}, ZeroPoint: []int64{int64(zp)}}
}

// fixedQuant is the output quantization TFLite's int8 kernels demand of some
// operators.
func fixedQuant(scale float32, zp int64) *model.Quantization {
	return &model.Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}}
}

// representable is the real range that int8 parameters q cover.
func representable(q *model.Quantization) (lo, hi, step float64) {
	s := float64(q.Scale[0])
	zp := float64(q.ZeroPoint[0])
	return (-128 - zp) * s, (127 - zp) * s, s
}

func sameQuant(a, b *model.Quantization) bool {
	return a.Scale[0] == b.Scale[0] && a.ZeroPoint[0] == b.ZeroPoint[0]
}

// quantizeValues maps float values to int8 with per-tensor parameters q.
func quantizeValues(v []float32, q *model.Quantization) []byte {
	s, zp := float64(q.Scale[0]), float64(q.ZeroPoint[0])
	out := make([]byte, len(v))
	for i, x := range v {
		out[i] = byte(int8(math.Max(-128, math.Min(127, math.Round(float64(x)/s)+zp))))
	}
	return out
}

// weightScales chooses one symmetric scale per channel of w, where channel c
// of element i is channelOf(i). The scale maps the largest magnitude to 127,
// and is raised where needed so that the channel's bias still fits in int32
// once divided by inScale·scale (tiny weights next to a large bias).
func weightScales(w []float32, channels int, channelOf func(int) int, bias []float32, inScale float32) []float32 {
	maxAbs := make([]float64, channels)
	for i, x := range w {
		c := channelOf(i)
		maxAbs[c] = math.Max(maxAbs[c], math.Abs(float64(x)))
	}
	scales := make([]float32, channels)
	for c := range scales {
		s := maxAbs[c] / 127
		if s == 0 {
			// An all-zero channel: any scale represents it; a small one keeps
			// the requantization multiplier below one.
			s = 1e-7
		}
		for _, b := range biasFor(bias, c, channels) {
			// Keep |bias| / (inScale·s) within 2^30, half the int32 range, so
			// accumulation has headroom.
			s = math.Max(s, math.Abs(float64(b))/(float64(inScale)*(1<<30)))
		}
		scales[c] = float32(s)
	}
	return scales
}

// biasFor returns the bias values that share weight channel c: the one
// matching bias entry per channel, or every entry for a per-tensor scale.
func biasFor(bias []float32, c, channels int) []float32 {
	if len(bias) == 0 {
		return nil
	}
	if channels == 1 {
		return bias
	}
	return bias[c : c+1]
}

// quantizeWeights quantizes w symmetrically to [-127, 127] with the given
// per-channel scales.
func quantizeWeights(w []float32, scales []float32, channelOf func(int) int) []byte {
	out := make([]byte, len(w))
	for i, x := range w {
		v := math.Round(float64(x) / float64(scales[channelOf(i)]))
		out[i] = byte(int8(math.Max(-127, math.Min(127, v))))
	}
	return out
}

// biasScale is the scale TFLite expects of a bias: the product of the input
// and weight scales, computed in float32 as the runtime checks it.
func biasScale(inScale, wScale float32) float32 { return inScale * wScale }

// quantizeBias converts a float bias to int32 with scale inScale·wScales[c].
func quantizeBias(b []float32, inScale float32, wScales []float32) ([]byte, *model.Quantization) {
	q := &model.Quantization{}
	vals := make([]int32, len(b))
	for c, x := range b {
		s := biasScale(inScale, wScales[min(c, len(wScales)-1)])
		v := math.Round(float64(x) / float64(s))
		vals[c] = int32(math.Max(math.MinInt32, math.Min(math.MaxInt32, v)))
		if len(wScales) > 1 || c == 0 {
			q.Scale = append(q.Scale, s)
			q.ZeroPoint = append(q.ZeroPoint, 0)
		}
	}
	return model.Int32Bytes(vals), q
}

// SymmetricWeights quantizes weights laid out [outs][...] to symmetric int8
// (zero point 0) with one scale per output channel (perChannel) or one for
// the whole tensor. An all-zero group gets a tiny non-zero scale so the
// quantization stays valid. It serves the small models built and rewritten
// outside the converter (model/train, model/adapt).
func SymmetricWeights(w []float32, outs int, perChannel bool) ([]byte, *model.Quantization) {
	groups, per := outs, len(w)/outs
	if !perChannel {
		groups, per = 1, len(w)
	}
	q := &model.Quantization{}
	data := make([]byte, len(w))
	for g := 0; g < groups; g++ {
		var m float64
		for _, x := range w[g*per : (g+1)*per] {
			m = math.Max(m, math.Abs(float64(x)))
		}
		scale := m / 127
		if scale == 0 {
			scale = 1e-8
		}
		for i, x := range w[g*per : (g+1)*per] {
			v := math.Max(-127, math.Min(127, math.Round(float64(x)/scale)))
			data[g*per+i] = byte(int8(v))
		}
		q.Scale = append(q.Scale, float32(scale))
		q.ZeroPoint = append(q.ZeroPoint, 0)
	}
	return data, q
}
