package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// TestQ8GemmExtremes drives the packed 8-bit product with the values that
// fill its 21-bit lanes fastest (every product at its extreme), at depths
// around the lane-splitting chunk, and checks it against the reference sum.
func TestQ8GemmExtremes(t *testing.T) {
	type pattern struct {
		name   string
		typ    model.TensorType
		x, w   byte  // raw bytes of every activation and weight
		wZP    int64 // weight zero point (uint8 only)
		inZP   int64
		random bool // mix both extremes at random
	}
	patterns := []pattern{
		{"uint8 max times min", model.Uint8, 255, 0, 255, 0, false},
		{"uint8 max times max", model.Uint8, 255, 255, 0, 0, false},
		{"uint8 mixed", model.Uint8, 255, 0, 128, 3, true},
		{"int8 min times min", model.Int8, 0x80, 0x80, 0, 0, false},
		{"int8 max times min", model.Int8, 0x7f, 0x80, 0, -5, false},
		{"int8 mixed", model.Int8, 0x80, 0x7f, 0, 7, true},
	}
	rng := rand.New(rand.NewPCG(31, 32))
	for _, p := range patterns {
		for _, k := range []int{1, 31, 32, 33, 64, 65, 300} {
			for _, n := range []int{1, 5, 7, 13} {
				for _, rows := range []int{1, 3, 6} {
					for _, rounding := range []convRounding{convRoundRuntime, convRoundReference} {
						name := fmt.Sprintf("%s/k%d/n%d/rows%d/r%d", p.name, k, n, rows, rounding)
						t.Run(name, func(t *testing.T) {
							s := fcShape{inShape: []int{rows, k}, n: n, act: model.ActNone}
							node := fcBuild(rng, s, p.typ)
							in, w, bias, out := node.Inputs[0], node.Inputs[1], node.Input(2), node.Outputs[0]
							in.Quant.ZeroPoint[0] = p.inZP
							if p.typ == model.Uint8 {
								w.Quant.ZeroPoint[0] = p.wZP
							} else {
								w.Quant.ZeroPoint[0] = 0
							}
							// Keep the scaled results inside the output range so
							// that clamping cannot hide a wrong sum.
							out.Quant.Scale[0] = float32(float64(in.Quant.Scale[0]) * float64(w.Quant.Scale[0]) * float64(k) * 600)
							for i := range w.Data {
								w.Data[i] = p.w
								if p.random && rng.IntN(2) == 0 {
									w.Data[i] = p.x
								}
							}
							f := &fullyConnected{rounding: rounding}
							err := convRunKernel(f, node, 1, func() {
								for i := range in.Data {
									in.Data[i] = p.x
									if p.random && rng.IntN(2) == 0 {
										in.Data[i] = p.w
									}
								}
							})
							if err != nil {
								t.Fatal(err)
							}
							quant, err := newConvQuant(in, w, out, n, 0, convScaleLegacy, rounding, model.ActNone)
							if err != nil {
								t.Fatal(err)
							}
							want := refFullyConnectedQuant(rows, n, k, convRefQuant(in, w, bias, out, quant, -int64(w.ZeroPoint())))
							if err := convCompareInts(out, want); err != nil {
								t.Errorf("fullyConnected: %v", err)
							}
						})
					}
				}
			}
		}
	}
}

// TestQ8SplitLanes checks the lane split on sums at the edges of the lane
// range.
func TestQ8SplitLanes(t *testing.T) {
	const lim = 1 << (q8LaneBits - 1)
	vals := []int64{0, 1, -1, lim - 1, -lim, 12345, -54321}
	for _, a := range vals {
		for _, b := range vals {
			for _, c := range vals {
				acc := a + b<<q8LaneBits + c<<(2*q8LaneBits)
				s := [3]int32{10, 20, 30}
				q8Split(acc, &s)
				want := [3]int32{10 + int32(a), 20 + int32(b), 30 + int32(c)}
				if s != want {
					t.Errorf("q8Split(%d, %d, %d) = %v, want %v", a, b, c, s, want)
				}
			}
		}
	}
}

// TestConvQuantRoundModes checks the two roundings where they differ, with
// a scale of 1/4 (multiplier 2^30, shift -1): the runtime rounds the real
// product half to even once; the reference rounds the doubling high
// multiply and then the right shift, half away from zero.
func TestConvQuantRoundModes(t *testing.T) {
	in := &Tensor{Type: model.Int8, Quant: convTestQuant([]float32{1}, []int64{0}, 0)}
	f := &Tensor{Type: model.Int8, Quant: convTestQuant([]float32{0.25}, []int64{0}, 0)}
	out := &Tensor{Type: model.Int8, Quant: convTestQuant([]float32{1}, []int64{3}, 0)}
	tests := []struct {
		acc                int32
		runtime, reference int32
	}{
		{10, 3 + 2, 3 + 3},  // 2.5
		{-10, 3 - 2, 3 - 3}, // -2.5
		{14, 3 + 4, 3 + 4},  // 3.5
		{5, 3 + 1, 3 + 2},   // 1.25: 2.5 after the high multiply, then 1.5
		{8, 3 + 2, 3 + 2},   // 2
		{1000, 127, 127},    // clamped
		{-1000, -128, -128}, // clamped
	}
	for _, tt := range tests {
		for _, mode := range []convRounding{convRoundRuntime, convRoundReference} {
			q, err := newConvQuant(in, f, out, 1, 0, convScalePerChannel, mode, model.ActNone)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.runtime
			if mode == convRoundReference {
				want = tt.reference
			}
			if got := q.round(tt.acc, 0); got != want {
				t.Errorf("round(%d) with rounding %d = %d, want %d", tt.acc, mode, got, want)
			}
		}
	}
}

// TestConvRoundRuntimeWide checks the runtime rounding against
// math.RoundToEven of the float32 product, over sums and scales whose
// products reach far past the magic constant's exact range, where only the
// clamping has to come out right.
func TestConvRoundRuntimeWide(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	accs := []int32{0, 1, -1, 2, -2, 1 << 22, -1 << 22, 3 << 22, -3 << 22, 1<<31 - 1, -1 << 31}
	for range 20000 {
		accs = append(accs, int32(rng.Uint32()), rng.Int32N(1<<12)-1<<11)
	}
	scales := []float32{1, 0.5, 0.25, 1.0 / 3, 1e-9, 3e-3, 1 << 19, 1.5 * (1 << 23) / (1 << 22)}
	ranges := []struct{ zp, lo, hi int32 }{{0, -128, 127}, {-128, -128, 127}, {127, -128, 127}, {0, 0, 255}, {200, 0, 255}, {0, -32768, 32767}}
	for _, sc := range scales {
		for _, r := range ranges {
			q := convQuant{rounding: convRoundRuntime, scale: []float32{sc}, outZP: r.zp, lo: r.lo, hi: r.hi}
			for _, acc := range accs {
				real := math.RoundToEven(float64(float32(float32(acc) * sc)))
				want := int32(min(max(real+float64(r.zp), float64(r.lo)), float64(r.hi)))
				if got := q.round(acc, 0); got != want {
					t.Fatalf("round(%d) with scale %v, zero point %d, range [%d, %d] = %d, want %d",
						acc, sc, r.zp, r.lo, r.hi, got, want)
				}
			}
		}
	}
}
