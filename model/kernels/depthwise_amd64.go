package kernels

// Assembly in depthwise_amd64.s.

//go:noescape
func dwRowQ8AVX2(a *dwRowArgs)

//go:noescape
func dwFillU8AVX2(dst *float32, src *byte, n int)

//go:noescape
func dwFillI8AVX2(dst *float32, src *byte, n int)

//go:noescape
func dwRowF32AVX2(a *dwRowArgs)

func dwRowQ8(a *dwRowArgs) { dwRowQ8AVX2(a) }

func dwRowF32(a *dwRowArgs) { dwRowF32AVX2(a) }

// dwFillWide converts the first len(src)&^7 bytes of src to float32 in dst
// and returns how many it converted.
func dwFillWide(dst []float32, src []byte, signed bool) int {
	n := min(len(src), len(dst)) &^ 7
	if n == 0 {
		return 0
	}
	if signed {
		dwFillI8AVX2(&dst[0], &src[0], n)
	} else {
		dwFillU8AVX2(&dst[0], &src[0], n)
	}
	return n
}

// dwBig and dwVec are the channel blocks of the row kernel: 32 at a time,
// then eight.
const (
	dwBig = 32
	dwVec = 8
)

//go:noescape
func dwMultAVX2(xs *int32, ntaps, inC, mult int, w *int32, c int, acc *int32)

// dwMultSums runs dwMultAVX2 and reports true, or false where there is no
// such kernel.
func dwMultSums(xs []int32, ntaps, inC, mult int, w []int32, acc []int32) bool {
	c := inC * mult
	_, _, _ = xs[ntaps*inC-1], w[ntaps*c-1], acc[c-1]
	dwMultAVX2(&xs[0], ntaps, inC, mult, &w[0], c, &acc[0])
	return true
}
