//go:build arm || arm64

package kernels

// The NEON depthwise rows on arm64 (depthwise_arm64.s) and 32-bit ARM
// (depthwise_arm.s, the 8-bit rows only).

// dwBig and dwVec are the channel blocks of the row kernel: sixteen at a
// time, then four.
const (
	dwBig = 16
	dwVec = 4
)

//go:noescape
func dwRowQ8NEON(a *dwRowArgs)

func dwRowQ8(a *dwRowArgs) { dwRowQ8NEON(a) }

//go:noescape
func dwFillNEON(dst *float32, src *byte, n int, signed bool)

// dwFillWide converts the first len(src)&^15 bytes of src to float32 in
// dst and returns how many it converted.
func dwFillWide(dst []float32, src []byte, signed bool) int {
	n := min(len(src), len(dst)) &^ 15
	if n == 0 {
		return 0
	}
	dwFillNEON(&dst[0], &src[0], n, signed)
	return n
}

// dwMultSums: no kernel for depthwise multipliers here.
func dwMultSums(xs []int32, ntaps, inC, mult int, w []int32, acc []int32) bool { return false }
