package half

import "testing"

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		x    float32
		bits uint16
	}{{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {1e6, 0x7c00}, {6.1035156e-05, 0x0400}, {5.9604645e-08, 0x0001}, {0.33325195, 0x3555}} {
		if got := FromFloat32(tc.x); got != tc.bits {
			t.Errorf("FromFloat32(%v) = %#04x, want %#04x", tc.x, got, tc.bits)
		}
		if tc.bits != 0x7c00 {
			if got := ToFloat32(tc.bits); got != tc.x {
				t.Errorf("ToFloat32(%#04x) = %v, want %v", tc.bits, got, tc.x)
			}
		}
	}
	// Every finite half value survives a round trip.
	for h := uint16(0); h < 0x7c00; h++ {
		for _, s := range []uint16{0, 0x8000} {
			if got := FromFloat32(ToFloat32(h | s)); got != h|s && !(h == 0 && s != 0) {
				t.Fatalf("round trip of %#04x gives %#04x", h|s, got)
			}
		}
	}
}
