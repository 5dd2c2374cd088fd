#include "textflag.h"
#include "kernels_amd64.h"

// Depthwise rows on the exact float path (depthwise_fast.go) for AVX2:
// every product and partial sum is an integer below 2^24, so FMA sums are
// exact in any order and equal the generic kernel's. The sums are then
// converted back to int32 and requantized exactly as gemm_q8_amd64.s does.

DATA dwperm<>+0(SB)/8, $0x0000000400000000
DATA dwperm<>+8(SB)/8, $0x0000000500000001
DATA dwperm<>+16(SB)/8, $0x0000000600000002
DATA dwperm<>+24(SB)/8, $0x0000000700000003
GLOBL dwperm<>(SB), RODATA|NOPTR, $32

DATA dwshuf<>+0(SB)/8, $0x808080800c080400
DATA dwshuf<>+8(SB)/8, $0x8080808080808080
DATA dwshuf<>+16(SB)/8, $0x808080800c080400
DATA dwshuf<>+24(SB)/8, $0x8080808080808080
GLOBL dwshuf<>(SB), RODATA|NOPTR, $32

DATA dwfbound<>+0(SB)/4, $0x47000000
DATA dwfbound<>+4(SB)/4, $0xc7000000
GLOBL dwfbound<>(SB), RODATA|NOPTR, $8

// DWREQ requantizes the eight float sums in Y at channel byte offset off
// (cc at CX, scale at AX) and stores eight bytes at R11+R9+boff.
#define DWREQ(Y, X, off, boff) \
	VCVTPS2DQ Y, Y \
	REQUANT8(Y, X, off(CX), off(AX), boff(R11)(R9*1))

// Offsets in dwRowArgs.
#define A_X 0
#define A_XSTEP 8
#define A_PIXELS 16
#define A_W 24
#define A_TAPS 32
#define A_NTAPS 40
#define A_C 48
#define A_C32 56
#define A_C8 64
#define A_CC 72
#define A_SCALE 80
#define A_RQ 88
#define A_OUT 96
#define A_OSTEP 104
#define A_BIAS 112
#define A_LOHI 120
#define A_OUTF 128

// Macros for the loops of dwRowQ8AVX2 and dwRowF32AVX2 (BX = args).

// DWPIXELS loads the input (SI), output (R11 from OUT), pixel count (DX)
// and the filter row stride in bytes (R14), jumping to DONE when there
// are no pixels.
#define DWPIXELS(OUT, DONE) \
	MOVQ A_X(BX), SI \
	MOVQ OUT(BX), R11 \
	MOVQ A_PIXELS(BX), DX \
	MOVQ A_C(BX), R14 \
	SHLQ $2, R14 \
	TESTQ DX, DX \
	JZ DONE

// DWZERO4 clears the four accumulators of a 32-channel step.
#define DWZERO4 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3

// DWTAPS starts a channel step at float byte offset R8: weights (DI), the
// tap offset table (R10), the tap count (R13) and the input pixel (AX).
#define DWTAPS \
	MOVQ A_W(BX), DI \
	ADDQ R8, DI \
	MOVQ A_TAPS(BX), R10 \
	MOVQ A_NTAPS(BX), R13 \
	LEAQ (SI)(R8*1), AX

// DWNEXTTAP moves to the next tap and its weight row, looping to LOOP.
#define DWNEXTTAP(LOOP) \
	ADDQ $8, R10 \
	ADDQ R14, DI \
	DECQ R13 \
	JNZ LOOP

// DWNEXTPIXEL moves to the next input and output pixel, looping to PIXEL.
#define DWNEXTPIXEL(PIXEL) \
	ADDQ A_XSTEP(BX), SI \
	ADDQ A_OSTEP(BX), R11 \
	DECQ DX \
	JNZ PIXEL

// func dwRowQ8AVX2(a *dwRowArgs)
TEXT ·dwRowQ8AVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), BX
	MOVQ A_RQ(BX), CX
	VPBROADCASTD (CX), Y11
	VPBROADCASTD 4(CX), Y12
	VPBROADCASTD 8(CX), Y13
	VBROADCASTSS dwfbound<>+0(SB), Y14
	VBROADCASTSS dwfbound<>+4(SB), Y15
	VMOVDQU dwshuf<>(SB), Y10
	VMOVDQU dwperm<>(SB), Y9
	DWPIXELS(A_OUT, done)

pixel:
	XORQ R8, R8 // channel, in float bytes
	XORQ R9, R9 // channel, in output bytes

c32:
	CMPQ R9, A_C32(BX)
	JGE c8
	DWZERO4
	DWTAPS

tap32:
	MOVQ (R10), CX
	VMOVUPS (AX)(CX*1), Y4
	VFMADD231PS (DI), Y4, Y0
	VMOVUPS 32(AX)(CX*1), Y5
	VFMADD231PS 32(DI), Y5, Y1
	VMOVUPS 64(AX)(CX*1), Y6
	VFMADD231PS 64(DI), Y6, Y2
	VMOVUPS 96(AX)(CX*1), Y7
	VFMADD231PS 96(DI), Y7, Y3
	DWNEXTTAP(tap32)
	MOVQ A_CC(BX), CX
	ADDQ R8, CX
	MOVQ A_SCALE(BX), AX
	ADDQ R8, AX
	DWREQ(Y0, X0, 0, 0)
	DWREQ(Y1, X1, 32, 8)
	DWREQ(Y2, X2, 64, 16)
	DWREQ(Y3, X3, 96, 24)
	ADDQ $128, R8
	ADDQ $32, R9
	JMP c32

c8:
	CMPQ R9, A_C8(BX)
	JGE next
	VXORPS Y0, Y0, Y0
	DWTAPS

tap8:
	MOVQ (R10), CX
	VMOVUPS (AX)(CX*1), Y4
	VFMADD231PS (DI), Y4, Y0
	DWNEXTTAP(tap8)
	MOVQ A_CC(BX), CX
	ADDQ R8, CX
	MOVQ A_SCALE(BX), AX
	ADDQ R8, AX
	DWREQ(Y0, X0, 0, 0)
	ADDQ $32, R8
	ADDQ $8, R9
	JMP c8

next:
	DWNEXTPIXEL(pixel)

done:
	VZEROUPPER
	RET

// DWFILLU8 and DWFILLI8 convert eight bytes at (SI), zero- or
// sign-extended, to float32 at (DI).
#define DWFILLU8 \
	VPMOVZXBD (SI), Y0 \
	VCVTDQ2PS Y0, Y0 \
	VMOVUPS Y0, (DI)
#define DWFILLI8 \
	VPMOVSXBD (SI), Y0 \
	VCVTDQ2PS Y0, Y0 \
	VMOVUPS Y0, (DI)

// func dwFillU8AVX2(dst *float32, src *byte, n int)
// converts n bytes (a multiple of 8) to float32, zero-extended.
TEXT ·dwFillU8AVX2(SB), NOSPLIT, $0-24
	BYTELOOP($3, $8, DWFILLU8, fuloop, fudone)

// func dwFillI8AVX2(dst *float32, src *byte, n int)
// converts n bytes (a multiple of 8) to float32, sign-extended.
TEXT ·dwFillI8AVX2(SB), NOSPLIT, $0-24
	BYTELOOP($3, $8, DWFILLI8, filoop, fidone)

// DWF32 adds the bias at off(CX) to the eight float sums in Y, clamps
// them to [Y14, Y15] and stores them at off(R11)(R9*4).
#define DWF32(Y, off) \
	VADDPS off(CX), Y, Y \
	VMAXPS Y14, Y, Y \
	VMINPS Y15, Y, Y \
	VMOVUPS Y, off(R11)(R9*4)

// DWMULADD adds x·w (rounded product, then rounded sum: the generic
// kernel's order, without fusing) to acc.
#define DWMULADD(xoff, woff, X, acc) \
	VMOVUPS xoff(AX)(CX*1), X \
	VMULPS woff(DI), X, X \
	VADDPS X, acc, acc

// func dwRowF32AVX2(a *dwRowArgs)
// is dwRowQ8AVX2 for float data: sums tap by tap, then bias and clamp.
TEXT ·dwRowF32AVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), BX
	MOVQ A_LOHI(BX), CX
	VBROADCASTSS (CX), Y14
	VBROADCASTSS 4(CX), Y15
	DWPIXELS(A_OUTF, fdone)

fpixel:
	XORQ R8, R8 // channel, in float bytes
	XORQ R9, R9 // channel

fc32:
	CMPQ R9, A_C32(BX)
	JGE fc8
	DWZERO4
	DWTAPS

ftap32:
	MOVQ (R10), CX
	DWMULADD(0, 0, Y4, Y0)
	DWMULADD(32, 32, Y5, Y1)
	DWMULADD(64, 64, Y6, Y2)
	DWMULADD(96, 96, Y7, Y3)
	DWNEXTTAP(ftap32)
	MOVQ A_BIAS(BX), CX
	ADDQ R8, CX
	DWF32(Y0, 0)
	DWF32(Y1, 32)
	DWF32(Y2, 64)
	DWF32(Y3, 96)
	ADDQ $128, R8
	ADDQ $32, R9
	JMP fc32

fc8:
	CMPQ R9, A_C8(BX)
	JGE fnext
	VXORPS Y0, Y0, Y0
	DWTAPS

ftap8:
	MOVQ (R10), CX
	DWMULADD(0, 0, Y4, Y0)
	DWNEXTTAP(ftap8)
	MOVQ A_BIAS(BX), CX
	ADDQ R8, CX
	DWF32(Y0, 0)
	ADDQ $32, R8
	ADDQ $8, R9
	JMP fc8

fnext:
	DWNEXTPIXEL(fpixel)

fdone:
	VZEROUPPER
	RET

// func dwMultAVX2(xs *int32, ntaps, inC, mult int, w *int32, c int, acc *int32)
// sums one pixel of a depthwise convolution with a multiplier (a multiple
// of 8): acc[ic·mult+j] = Σ_t xs[t·inC+ic]·w[t·c+ic·mult+j]. The products
// of 8-bit values fit VPMULLD's low 32 bits, so the int32 sums are the
// generic kernel's.
TEXT ·dwMultAVX2(SB), NOSPLIT, $0-56
	MOVQ xs+0(FP), SI
	MOVQ ntaps+8(FP), CX
	MOVQ inC+16(FP), DX
	MOVQ mult+24(FP), R8
	MOVQ w+32(FP), DI
	MOVQ c+40(FP), R9
	MOVQ acc+48(FP), R10
	SHLQ $2, DX // xs stride between taps, bytes
	SHLQ $2, R9 // w stride between taps, bytes
	TESTQ CX, CX
	JZ mdone
	XORQ R11, R11 // ic·4
	XORQ R12, R12 // (ic·mult + j)·4

mic:
	CMPQ R11, DX
	JGE mdone
	XORQ R13, R13 // j

mj:
	CMPQ R13, R8
	JGE mnextic
	VPXOR Y0, Y0, Y0
	LEAQ (SI)(R11*1), AX
	LEAQ (DI)(R12*1), BX
	MOVQ CX, R14

mtap:
	VPBROADCASTD (AX), Y1
	VPMULLD (BX), Y1, Y1
	VPADDD Y1, Y0, Y0
	ADDQ DX, AX
	ADDQ R9, BX
	DECQ R14
	JNZ mtap
	VMOVDQU Y0, (R10)(R12*1)
	ADDQ $32, R12
	ADDQ $8, R13
	JMP mj

mnextic:
	ADDQ $4, R11
	JMP mic

mdone:
	VZEROUPPER
	RET
