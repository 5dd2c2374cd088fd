package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestQ8SumBytes checks the row sums of the dot-product paths against a
// plain loop, for lengths around the vector width and both masks.
func TestQ8SumBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 48, 63, 1024, 1037} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		for _, mask := range []uint8{0, 0x80, 0xff} {
			var want int32
			for _, x := range b {
				want += int32(x ^ mask)
			}
			if got := q8SumBytes(b, mask); got != want {
				t.Errorf("q8SumBytes(%d bytes, %#x) = %d, want %d", n, mask, got, want)
			}
		}
	}
}

// TestQ8PanelRowSumsSigned checks that the sums of flipped and of raw
// int8 rows both come out as the sums of the int8 values.
func TestQ8PanelRowSumsSigned(t *testing.T) {
	const kp = 48
	rng := rand.New(rand.NewPCG(7, 8))
	raw := make([]byte, q8MR*kp)
	for i := range raw {
		raw[i] = byte(rng.IntN(256))
	}
	var want [q8MR]int32
	for r := range want {
		for _, x := range raw[r*kp : r*kp+kp] {
			want[r] += int32(int8(x))
		}
	}
	var got [q8MR]int32
	q8PanelRowSums[int8](raw, kp, false, &got)
	if got != want {
		t.Errorf("raw rows: sums %v, want %v", got, want)
	}
	flipped := append([]byte(nil), raw...)
	flipSigns(flipped)
	q8PanelRowSums[int8](flipped, kp, true, &got)
	if got != want {
		t.Errorf("flipped rows: sums %v, want %v", got, want)
	}
}
