package quantize

import (
	"math"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

func TestAsymmetric(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		scale  float64
		zero   int64
	}{
		{"unit interval", 0, 1, 1.0 / 255, -128},
		{"symmetric", -1, 1, 2.0 / 255, -1},
		{"positive range widened to zero", 2, 3, 3.0 / 255, -128},
		{"negative range widened to zero", -3, -2, 3.0 / 255, 127},
		{"constant zero gets the minimum span", 0, 0, minSpan / 255, -128},
		{"small negative constant", -1e-5, -1e-5, minSpan / 255, 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := asymmetric(valueRange{lo: tt.lo, hi: tt.hi, seen: true})
			if math.Abs(float64(q.Scale[0])-tt.scale) > 1e-7*tt.scale || q.ZeroPoint[0] != tt.zero {
				t.Errorf("asymmetric([%g, %g]) = scale %g zero %d, want %g and %d", tt.lo, tt.hi, q.Scale[0], q.ZeroPoint[0], tt.scale, tt.zero)
			}
			// Zero must be exactly representable.
			if lo, hi, _ := representable(q); lo > 0 || hi < 0 {
				t.Errorf("asymmetric([%g, %g]) covers [%g, %g], which misses 0", tt.lo, tt.hi, lo, hi)
			}
		})
	}
}

func TestWeightScales(t *testing.T) {
	perRow := func(i int) int { return i / 2 }
	tests := []struct {
		name     string
		w        []float32
		channels int
		bias     []float32
		inScale  float32
		want     []float32
	}{
		{"per channel", []float32{1, -2, 0.5, 0.25}, 2, nil, 1, []float32{2.0 / 127, 0.5 / 127}},
		{"zero channel", []float32{0, 0, 0.5, 0.25}, 2, nil, 1, []float32{1e-7, 0.5 / 127}},
		{"bias too large for tiny weights", []float32{1e-9, 0, 1, 0}, 2, []float32{10, 0}, 1, []float32{10.0 / (1 << 30), 1.0 / 127}},
		{"per tensor", []float32{1, -2, 0.5, 0.25}, 1, nil, 1, []float32{2.0 / 127}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			of := perRow
			if tt.channels == 1 {
				of = func(int) int { return 0 }
			}
			got := weightScales(tt.w, tt.channels, of, tt.bias, tt.inScale)
			for c := range tt.want {
				if math.Abs(float64(got[c]-tt.want[c])) > 1e-6*float64(tt.want[c]) {
					t.Errorf("weightScales() = %v, want %v", got, tt.want)
					break
				}
			}
		})
	}
}

func TestQuantizeWeightsAndBias(t *testing.T) {
	scales := []float32{2.0 / 127, 0.5 / 127}
	w := quantizeWeights([]float32{1, -2, 0.5, -0.25}, scales, func(i int) int { return i / 2 })
	want := []int8{64, -127, 127, -64}
	for i := range want {
		if int8(w[i]) != want[i] {
			t.Errorf("quantizeWeights() = %v, want %v", w, want)
			break
		}
	}
	data, q := quantizeBias([]float32{0.5, -1}, 0.25, scales)
	if len(q.Scale) != 2 || q.Scale[1] != 0.25*scales[1] || q.ZeroPoint[0] != 0 {
		t.Errorf("quantizeBias() parameters = %+v, want per-channel in·w scales", q)
	}
	// 0.5 / (0.25·2/127) = 127; −1 / (0.25·0.5/127) = −1016.
	if got := []int32{int32(le32(data[0:])), int32(le32(data[4:]))}; got[0] != 127 || got[1] != -1016 {
		t.Errorf("quantizeBias() = %v, want [127 -1016]", got)
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestUnionRespectsFixedQuantization(t *testing.T) {
	logistic := fixedQuant(1.0/256, -128)
	tanh := fixedQuant(1.0/128, 0)
	tests := []struct {
		name   string
		fixedA *model.Quantization
		fixedB *model.Quantization
		spanB  valueRange
		want   bool
	}{
		{"free tensors merge", nil, nil, valueRange{-5, 5, true}, true},
		{"fixed with a range inside it", logistic, nil, valueRange{0, 0.9, true}, true},
		{"fixed with a wider range", logistic, nil, valueRange{-1, 1, true}, false},
		{"two equal fixed", logistic, logistic, valueRange{0, 1, true}, true},
		{"two different fixed", logistic, tanh, valueRange{0, 1, true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &quantizer{
				parent: []int{0, 1},
				span:   []valueRange{{0, 0.5, true}, tt.spanB},
				fixed:  []*model.Quantization{tt.fixedA, tt.fixedB},
			}
			if got := q.union(0, 1); got != tt.want {
				t.Errorf("union() = %v, want %v", got, tt.want)
			}
			if merged := q.find(0) == q.find(1); merged != tt.want {
				t.Errorf("after union, same group = %v, want %v", merged, tt.want)
			}
		})
	}
}
