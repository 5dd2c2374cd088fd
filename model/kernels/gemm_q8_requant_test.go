package kernels

import (
	"math"
	"runtime"
	"testing"
)

// TestRequantRowMatchesRound checks the vector requantization of the
// runtime rounding (arm64 and 32-bit ARM; amd64 fuses it into its product,
// which TestLevelsMatchGeneric covers) against the scalar roundRuntime
// where a vector rounding could part from it: halves (ties go to even),
// both clamps, sums near the int32 limits, subnormal and huge products.
func TestRequantRowMatchesRound(t *testing.T) {
	if BestLevel() == LevelGeneric {
		t.Log("no vector level on this machine: q8RequantRow is never called")
		return
	}
	sums := []int32{0, 1, -1, 2, 3, -3, 5, -5, 7, 127, -128, 255, -255, 1000, -1001,
		1 << 20, -(1 << 20), 1<<22 + 1, -(1<<22 + 1), 1<<24 + 3, math.MaxInt32 - 300, math.MinInt32 + 300}
	scales := []float32{0.5, 0.25, 1, 1.5, 0.0078125, 1e-3, 3.7e-5, 1e-30, 1e-40, 123.5, 1e6, 3e38}
	ranges := []struct{ zp, lo, hi int32 }{
		{0, 0, 255}, {128, 0, 255}, {-128, -128, 127}, {3, -128, 127}, {-5, -5, 90}, {120, 125, 130},
	}
	var checked int
	for _, rg := range ranges {
		for _, rt := range []int32{0, 7, -200} {
			// Every sum against every scale, padded to whole vectors.
			var s, cc []int32
			var sc []float32
			for i, v := range sums {
				for j, f := range scales {
					c := int32(i*31-j*17) % 50
					s, cc, sc = append(s, v-c-rt), append(cc, c), append(sc, f)
				}
			}
			for len(s)%8 != 0 {
				s, cc, sc = append(s, 1), append(cc, 0), append(sc, 0.5)
			}
			out := make([]byte, len(s))
			rq := q8Requant{zp: rg.zp, lo: rg.lo, hi: rg.hi}
			n := q8RequantRow(s, cc, sc, &rq, rt, out)
			if n == 0 {
				if runtime.GOARCH == "arm" || runtime.GOARCH == "arm64" {
					t.Fatalf("q8RequantRow did nothing on %s", runtime.GOARCH)
				}
				t.Logf("%s requantizes inside its product", runtime.GOARCH)
				return
			}
			q := convQuant{rounding: convRoundRuntime, outZP: rg.zp, lo: rg.lo, hi: rg.hi}
			for i := range n {
				acc := s[i] + rt + cc[i]
				if want := byte(q.roundRuntime(acc, sc[i])); out[i] != want {
					t.Errorf("zp %d [%d, %d]: sum %d × scale %g → %d, roundRuntime %d", rg.zp, rg.lo, rg.hi, acc, sc[i], out[i], want)
				}
			}
			checked += n
		}
	}
	t.Logf("%d values checked", checked)
}
