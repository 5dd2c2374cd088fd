//go:build !amd64 && !arm64 && !arm

package kernels

// No level above generic exists here (level_other.go), so the wide
// depthwise path is never built and these are never called.

func dwRowQ8(a *dwRowArgs) { panic("kernels: no SIMD depthwise kernel on this architecture") }

func dwRowF32(a *dwRowArgs) { panic("kernels: no SIMD depthwise kernel on this architecture") }

func dwFillWide(dst []float32, src []byte, signed bool) int { return 0 }

const (
	dwBig = 1
	dwVec = 1
)

// dwMultSums: no kernel for depthwise multipliers here.
func dwMultSums(xs []int32, ntaps, inC, mult int, w []int32, acc []int32) bool { return false }
