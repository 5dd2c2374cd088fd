package kernels

import (
	"testing"
	"time"
	"unsafe"
)

func q8K42uIdx(a *uint8, w *int64, kc int) (c00, c01, c10, c11, c20, c21, c30, c31 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for i := 0; i < kc; i++ {
		b0 := *(*int64)(unsafe.Add(pw, 16*i))
		b1 := *(*int64)(unsafe.Add(pw, 16*i+8))
		a0 := int64(*(*uint8)(unsafe.Add(pa, 4*i)))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(*(*uint8)(unsafe.Add(pa, 4*i+1)))
		c10 += a1 * b0
		c11 += a1 * b1
		a2 := int64(*(*uint8)(unsafe.Add(pa, 4*i+2)))
		c20 += a2 * b0
		c21 += a2 * b1
		a3 := int64(*(*uint8)(unsafe.Add(pa, 4*i+3)))
		c30 += a3 * b0
		c31 += a3 * b1
	}
	return
}

func q8K42uPtr(a *uint8, w *int64, kc int) (c00, c01, c10, c11, c20, c21, c30, c31 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for ; kc > 0; kc-- {
		b0 := *(*int64)(pw)
		b1 := *(*int64)(unsafe.Add(pw, 8))
		a0 := int64(*(*uint8)(pa))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(*(*uint8)(unsafe.Add(pa, 1)))
		c10 += a1 * b0
		c11 += a1 * b1
		a2 := int64(*(*uint8)(unsafe.Add(pa, 2)))
		c20 += a2 * b0
		c21 += a2 * b1
		a3 := int64(*(*uint8)(unsafe.Add(pa, 3)))
		c30 += a3 * b0
		c31 += a3 * b1
		pa = unsafe.Add(pa, 4)
		pw = unsafe.Add(pw, 16)
	}
	return
}

func q8K42uWord(a *uint8, w *int64, kc int) (c00, c01, c10, c11, c20, c21, c30, c31 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for i := 0; i < kc; i++ {
		b0 := *(*int64)(unsafe.Add(pw, 16*i))
		b1 := *(*int64)(unsafe.Add(pw, 16*i+8))
		x := *(*uint32)(unsafe.Add(pa, 4*i))
		a0 := int64(x & 0xff)
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(x >> 8 & 0xff)
		c10 += a1 * b0
		c11 += a1 * b1
		a2 := int64(x >> 16 & 0xff)
		c20 += a2 * b0
		c21 += a2 * b1
		a3 := int64(x >> 24)
		c30 += a3 * b0
		c31 += a3 * b1
	}
	return
}

var zzSink int64

func benchK(b *testing.B, f func(a *uint8, w *int64, kc int) (c00, c01, c10, c11, c20, c21, c30, c31 int64)) {
	a := make([]uint8, 4*32+64)
	w := make([]int64, 2*32+8)
	for i := range a {
		a[i] = uint8(i * 7)
	}
	for i := range w {
		w[i] = int64(i * 12345)
	}
	b.ResetTimer()
	var s int64
	for i := 0; i < b.N; i++ {
		c00, c01, _, _, _, _, _, c31 := f(&a[0], &w[0], 32)
		s += c00 + c01 + c31
	}
	zzSink = s
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(32*8), "ns/mul")
}

func BenchmarkZZK42Generic(b *testing.B) { benchK(b, q8Kernel4x2[uint8]) }
func BenchmarkZZK42Idx(b *testing.B)     { benchK(b, q8K42uIdx) }
func BenchmarkZZK42Ptr(b *testing.B)     { benchK(b, q8K42uPtr) }
func BenchmarkZZK42Word(b *testing.B)    { benchK(b, q8K42uWord) }

func q8K42GenPtr[T int8 | uint8](a *T, w *int64, kc int) (c00, c01, c10, c11, c20, c21, c30, c31 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for ; kc > 0; kc-- {
		b0 := *(*int64)(pw)
		b1 := *(*int64)(unsafe.Add(pw, 8))
		a0 := int64(*(*T)(pa))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(*(*T)(unsafe.Add(pa, 1)))
		c10 += a1 * b0
		c11 += a1 * b1
		a2 := int64(*(*T)(unsafe.Add(pa, 2)))
		c20 += a2 * b0
		c21 += a2 * b1
		a3 := int64(*(*T)(unsafe.Add(pa, 3)))
		c30 += a3 * b0
		c31 += a3 * b1
		pa = unsafe.Add(pa, 4)
		pw = unsafe.Add(pw, 16)
	}
	return
}

func BenchmarkZZK42GenPtr(b *testing.B) { benchK(b, q8K42GenPtr[uint8]) }

func q8K32Ptr(a *uint8, w *int64, kc int) (c00, c01, c10, c11, c20, c21 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for ; kc > 0; kc-- {
		b0 := *(*int64)(pw)
		b1 := *(*int64)(unsafe.Add(pw, 8))
		a0 := int64(*(*uint8)(pa))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(*(*uint8)(unsafe.Add(pa, 1)))
		c10 += a1 * b0
		c11 += a1 * b1
		a2 := int64(*(*uint8)(unsafe.Add(pa, 2)))
		c20 += a2 * b0
		c21 += a2 * b1
		pa = unsafe.Add(pa, 4)
		pw = unsafe.Add(pw, 16)
	}
	return
}

func q8K42Neg(a *uint8, w *int64, kc int) (c00, c01, c10, c11, c20, c21, c30, c31 int64) {
	pa := unsafe.Add(unsafe.Pointer(a), 4*kc)
	pw := unsafe.Add(unsafe.Pointer(w), 16*kc)
	for i := -kc; i < 0; i++ {
		b0 := *(*int64)(unsafe.Add(pw, 16*i))
		b1 := *(*int64)(unsafe.Add(pw, 16*i+8))
		a0 := int64(*(*uint8)(unsafe.Add(pa, 4*i)))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(*(*uint8)(unsafe.Add(pa, 4*i+1)))
		c10 += a1 * b0
		c11 += a1 * b1
		a2 := int64(*(*uint8)(unsafe.Add(pa, 4*i+2)))
		c20 += a2 * b0
		c21 += a2 * b1
		a3 := int64(*(*uint8)(unsafe.Add(pa, 4*i+3)))
		c30 += a3 * b0
		c31 += a3 * b1
	}
	return
}

func TestZZKernelRace(t *testing.T) {
	a := make([]uint8, 4*32+64)
	w := make([]int64, 2*32+8)
	for i := range a {
		a[i] = uint8(i * 7)
	}
	for i := range w {
		w[i] = int64(i * 12345)
	}
	type kf = func(a *uint8, w *int64, kc int) (c00, c01, c10, c11, c20, c21, c30, c31 int64)
	k32 := func(a *uint8, w *int64, kc int) (c00, c01, c10, c11, c20, c21, c30, c31 int64) {
		c00, c01, c10, c11, c20, c21 = q8K32Ptr(a, w, kc)
		return
	}
	fs := []struct {
		name string
		f    kf
		muls float64
	}{{"generic", q8Kernel4x2[uint8], 8}, {"idx", q8K42uIdx, 8}, {"ptr", q8K42uPtr, 8}, {"genptr", q8K42GenPtr[uint8], 8}, {"neg", q8K42Neg, 8}, {"3x2", k32, 6}}
	best := make([]float64, len(fs))
	for i := range best {
		best[i] = 1e9
	}
	for rep := 0; rep < 400; rep++ {
		for i, f := range fs {
			start := nanotime()
			var s int64
			for j := 0; j < 2000; j++ {
				c00, _, _, _, _, _, _, c31 := f.f(&a[0], &w[0], 32)
				s += c00 + c31
			}
			zzSink += s
			d := float64(nanotime()-start) / (2000 * 32 * f.muls)
			best[i] = min(best[i], d)
		}
	}
	for i, f := range fs {
		t.Logf("%-8s %.4f ns/mul", f.name, best[i])
	}
}

func nanotime() int64 { return time.Now().UnixNano() }

func q8K23Ptr(a *uint8, w *int64, kc int) (c00, c01, c02, c10, c11, c12 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for ; kc > 0; kc-- {
		b0 := *(*int64)(pw)
		b1 := *(*int64)(unsafe.Add(pw, 8))
		b2 := *(*int64)(unsafe.Add(pw, 16))
		a0 := int64(*(*uint8)(pa))
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		a1 := int64(*(*uint8)(unsafe.Add(pa, 1)))
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		pa = unsafe.Add(pa, 4)
		pw = unsafe.Add(pw, 24)
	}
	return
}

func q8K32Gen[T int8 | uint8](a *T, w *int64, kc int) (c00, c01, c10, c11, c20, c21 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for ; kc > 0; kc-- {
		b0 := *(*int64)(pw)
		b1 := *(*int64)(unsafe.Add(pw, 8))
		a0 := int64(*(*T)(pa))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(*(*T)(unsafe.Add(pa, 1)))
		c10 += a1 * b0
		c11 += a1 * b1
		a2 := int64(*(*T)(unsafe.Add(pa, 2)))
		c20 += a2 * b0
		c21 += a2 * b1
		pa = unsafe.Add(pa, 3)
		pw = unsafe.Add(pw, 16)
	}
	return
}

func q8K22Ptr(a *uint8, w *int64, kc int) (c00, c01, c10, c11 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for ; kc > 0; kc-- {
		b0 := *(*int64)(pw)
		b1 := *(*int64)(unsafe.Add(pw, 8))
		a0 := int64(*(*uint8)(pa))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(*(*uint8)(unsafe.Add(pa, 1)))
		c10 += a1 * b0
		c11 += a1 * b1
		pa = unsafe.Add(pa, 4)
		pw = unsafe.Add(pw, 16)
	}
	return
}

func TestZZKernelRace2(t *testing.T) {
	a := make([]uint8, 4*32+64)
	w := make([]int64, 3*32+8)
	type kf = func() int64
	fs := []struct {
		name string
		f    kf
		muls float64
	}{
		{"3x2", func() int64 { c, _, _, _, _, d := q8K32Ptr(&a[0], &w[0], 32); return c + d }, 6},
		{"3x2gen", func() int64 { c, _, _, _, _, d := q8K32Gen[uint8](&a[0], &w[0], 32); return c + d }, 6},
		{"2x3", func() int64 { c, _, _, _, _, d := q8K23Ptr(&a[0], &w[0], 32); return c + d }, 6},
		{"2x2", func() int64 { c, _, _, d := q8K22Ptr(&a[0], &w[0], 32); return c + d }, 4},
		{"4x2ptr", func() int64 { c, _, _, _, _, _, _, d := q8K42uPtr(&a[0], &w[0], 32); return c + d }, 8},
	}
	best := make([]float64, len(fs))
	for i := range best {
		best[i] = 1e9
	}
	for rep := 0; rep < 400; rep++ {
		for i, f := range fs {
			start := nanotime()
			var s int64
			for j := 0; j < 2000; j++ {
				s += f.f()
			}
			zzSink += s
			best[i] = min(best[i], float64(nanotime()-start)/(2000*32*f.muls))
		}
	}
	for i, f := range fs {
		t.Logf("%-8s %.4f ns/mul", f.name, best[i])
	}
}

func q8K12Ptr(a *uint8, w *int64, kc int) (c00, c01 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for ; kc > 0; kc-- {
		a0 := int64(*(*uint8)(pa))
		c00 += a0 * *(*int64)(pw)
		c01 += a0 * *(*int64)(unsafe.Add(pw, 8))
		pa = unsafe.Add(pa, 4)
		pw = unsafe.Add(pw, 16)
	}
	return
}

func q8K14Ptr(a *uint8, w *int64, kc int) (c00, c01, c02, c03 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for ; kc > 0; kc-- {
		a0 := int64(*(*uint8)(pa))
		c00 += a0 * *(*int64)(pw)
		c01 += a0 * *(*int64)(unsafe.Add(pw, 8))
		c02 += a0 * *(*int64)(unsafe.Add(pw, 16))
		c03 += a0 * *(*int64)(unsafe.Add(pw, 24))
		pa = unsafe.Add(pa, 4)
		pw = unsafe.Add(pw, 32)
	}
	return
}

func q8K41Ptr(a *uint8, w *int64, kc int) (c0, c1, c2, c3 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for ; kc > 0; kc-- {
		b := *(*int64)(pw)
		c0 += int64(*(*uint8)(pa)) * b
		c1 += int64(*(*uint8)(unsafe.Add(pa, 1))) * b
		c2 += int64(*(*uint8)(unsafe.Add(pa, 2))) * b
		c3 += int64(*(*uint8)(unsafe.Add(pa, 3))) * b
		pa = unsafe.Add(pa, 4)
		pw = unsafe.Add(pw, 8)
	}
	return
}

func q8K22Idx(a *uint8, w *int64, kc int) (c00, c01, c10, c11 int64) {
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for i := 0; i < kc; i++ {
		b0 := *(*int64)(unsafe.Add(pw, 16*i))
		b1 := *(*int64)(unsafe.Add(pw, 16*i+8))
		a0 := int64(*(*uint8)(unsafe.Add(pa, 4*i)))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(*(*uint8)(unsafe.Add(pa, 4*i+1)))
		c10 += a1 * b0
		c11 += a1 * b1
	}
	return
}

func q8K22x2Ptr(a *uint8, w *int64, kc int) (c00, c01, c10, c11 int64) {
	// two steps per iteration
	pa, pw := unsafe.Pointer(a), unsafe.Pointer(w)
	for ; kc > 1; kc -= 2 {
		b0 := *(*int64)(pw)
		b1 := *(*int64)(unsafe.Add(pw, 8))
		a0 := int64(*(*uint8)(pa))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := int64(*(*uint8)(unsafe.Add(pa, 1)))
		c10 += a1 * b0
		c11 += a1 * b1
		b0 = *(*int64)(unsafe.Add(pw, 16))
		b1 = *(*int64)(unsafe.Add(pw, 24))
		a0 = int64(*(*uint8)(unsafe.Add(pa, 4)))
		c00 += a0 * b0
		c01 += a0 * b1
		a1 = int64(*(*uint8)(unsafe.Add(pa, 5)))
		c10 += a1 * b0
		c11 += a1 * b1
		pa = unsafe.Add(pa, 8)
		pw = unsafe.Add(pw, 32)
	}
	return
}

func TestZZKernelRace3(t *testing.T) {
	a := make([]uint8, 4*32+64)
	w := make([]int64, 4*32+8)
	type kf = func() int64
	fs := []struct {
		name string
		f    kf
		muls float64
	}{
		{"2x2", func() int64 { c, _, _, d := q8K22Ptr(&a[0], &w[0], 32); return c + d }, 4},
		{"2x2idx", func() int64 { c, _, _, d := q8K22Idx(&a[0], &w[0], 32); return c + d }, 4},
		{"2x2x2", func() int64 { c, _, _, d := q8K22x2Ptr(&a[0], &w[0], 32); return c + d }, 4},
		{"1x2", func() int64 { c, d := q8K12Ptr(&a[0], &w[0], 32); return c + d }, 2},
		{"1x4", func() int64 { c, _, _, d := q8K14Ptr(&a[0], &w[0], 32); return c + d }, 4},
		{"4x1", func() int64 { c, _, _, d := q8K41Ptr(&a[0], &w[0], 32); return c + d }, 4},
		{"3x2", func() int64 { c, _, _, _, _, d := q8K32Ptr(&a[0], &w[0], 32); return c + d }, 6},
	}
	best := make([]float64, len(fs))
	for i := range best {
		best[i] = 1e9
	}
	for rep := 0; rep < 400; rep++ {
		for i, f := range fs {
			start := nanotime()
			var s int64
			for j := 0; j < 2000; j++ {
				s += f.f()
			}
			zzSink += s
			best[i] = min(best[i], float64(nanotime()-start)/(2000*32*f.muls))
		}
	}
	for i, f := range fs {
		t.Logf("%-8s %.4f ns/mul", f.name, best[i])
	}
}
