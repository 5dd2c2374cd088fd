#include "textflag.h"
#include "kernels_amd64.h"

// 8-bit matrix product tiles for AVX2: four rows of int16 activations
// (each kp values, kp a multiple of 8) against blocks of sixteen channels
// of int16 weights laid out [kp/2][16][2]. VPBROADCASTD repeats one row's
// pair of activations across a register; VPMADDWD multiplies 16-bit pairs
// and adds each pair into an int32 exactly (|a|,|w| ≤ 255), so the sums
// equal the generic kernel's integer sums.
//
// Accumulators: Y0..Y7 = rows 0..3 × channels 0-7, 8-15; each lane holds
// one channel's sum, so no horizontal additions are needed.

// q8perm moves each lane's first int32 together: [d0 d4 ...].
DATA q8perm<>+0(SB)/8, $0x0000000400000000
DATA q8perm<>+8(SB)/8, $0x0000000500000001
DATA q8perm<>+16(SB)/8, $0x0000000600000002
DATA q8perm<>+24(SB)/8, $0x0000000700000003
GLOBL q8perm<>(SB), RODATA|NOPTR, $32

// q8shuf keeps the low byte of each int32, packed into each lane's first
// four bytes.
DATA q8shuf<>+0(SB)/8, $0x808080800c080400
DATA q8shuf<>+8(SB)/8, $0x8080808080808080
DATA q8shuf<>+16(SB)/8, $0x808080800c080400
DATA q8shuf<>+24(SB)/8, $0x8080808080808080
GLOBL q8shuf<>(SB), RODATA|NOPTR, $32

// ±32768 as float32: products beyond it clamp to the output range anyway,
// and within it VCVTPS2DQ cannot overflow.
DATA q8fbound<>+0(SB)/4, $0x47000000
DATA q8fbound<>+4(SB)/4, $0xc7000000
GLOBL q8fbound<>(SB), RODATA|NOPTR, $8

// Q8STEP multiplies one pair of k values: rows at R13 (+AX, +2AX, +BX),
// weights at off(DI).
#define Q8STEP(aoff, woff) \
	VMOVDQU woff(DI), Y8 \
	VMOVDQU woff+32(DI), Y9 \
	VPBROADCASTD aoff(R13), Y10 \
	VPMADDWD Y8, Y10, Y11 \
	VPADDD Y11, Y0, Y0 \
	VPMADDWD Y9, Y10, Y12 \
	VPADDD Y12, Y1, Y1 \
	VPBROADCASTD aoff(R13)(AX*1), Y10 \
	VPMADDWD Y8, Y10, Y11 \
	VPADDD Y11, Y2, Y2 \
	VPMADDWD Y9, Y10, Y12 \
	VPADDD Y12, Y3, Y3 \
	VPBROADCASTD aoff(R13)(AX*2), Y10 \
	VPMADDWD Y8, Y10, Y11 \
	VPADDD Y11, Y4, Y4 \
	VPMADDWD Y9, Y10, Y12 \
	VPADDD Y12, Y5, Y5 \
	VPBROADCASTD aoff(R13)(BX*1), Y10 \
	VPMADDWD Y8, Y10, Y11 \
	VPADDD Y11, Y6, Y6 \
	VPMADDWD Y9, Y10, Y12 \
	VPADDD Y12, Y7, Y7

// Q8TILE computes one block's sums: SI = row 0 of a, AX = row stride in
// bytes, BX = 3·AX, DI = the block's weights (advanced past them), CX =
// kp. Two pairs per iteration: kp/2 is even.
#define Q8TILE \
	VPXOR Y0, Y0, Y0; VPXOR Y1, Y1, Y1; VPXOR Y2, Y2, Y2; VPXOR Y3, Y3, Y3 \
	VPXOR Y4, Y4, Y4; VPXOR Y5, Y5, Y5; VPXOR Y6, Y6, Y6; VPXOR Y7, Y7, Y7 \
	MOVQ SI, R13 \
	MOVQ CX, R14 \
	SHRQ $2, R14 \
kloop: \
	Q8STEP(0, 0) \
	Q8STEP(4, 64) \
	ADDQ $8, R13 \
	ADDQ $128, DI \
	DECQ R14 \
	JNZ kloop

// Q8REQUANT requantizes Y (one row, eight channels) with the runtime
// rounding, cc and scale at off(R8), off(R9), zero point, lo, hi in
// Y11..Y13, float bounds in Y14, Y15 (upper, lower), and stores its eight
// bytes at dst.
#define Q8REQUANT(Y, X, off, dst) REQUANT8(Y, X, off(R8), off(R9), dst)

// Q8ARGS loads the arguments the tile functions share: a, w, kp, nb into
// SI, DI, CX, DX.
#define Q8ARGS \
	MOVQ a+0(FP), SI \
	MOVQ w+8(FP), DI \
	MOVQ kp+16(FP), CX \
	MOVQ nb+24(FP), DX

// Q8STRIDES sets AX and BX to one and three rows of a (2·kp and 6·kp
// bytes) and jumps to DONE when there are no blocks.
#define Q8STRIDES(DONE) \
	LEAQ (CX)(CX*1), AX \
	LEAQ (AX)(AX*2), BX \
	TESTQ DX, DX \
	JZ DONE

// Q8WIDENU8 and Q8WIDENI8 widen sixteen bytes at (SI), zero- or
// sign-extended, to int16 at (DI).
#define Q8WIDENU8 \
	VPMOVZXBW (SI), Y0 \
	VMOVDQU Y0, (DI)
#define Q8WIDENI8 \
	VPMOVSXBW (SI), Y0 \
	VMOVDQU Y0, (DI)

// func q8GemmAVX2(a, w *int16, kp, nb int, cc *int32, scale *float32, rq *q8Requant, out *byte, stride int)
TEXT ·q8GemmAVX2(SB), NOSPLIT, $0-72
	Q8ARGS
	MOVQ cc+32(FP), R8
	MOVQ scale+40(FP), R9
	MOVQ rq+48(FP), R10
	MOVQ out+56(FP), R11
	MOVQ stride+64(FP), R12
	Q8STRIDES(done)

block:
	Q8TILE
	VMOVDQU q8perm<>(SB), Y9
	VMOVDQU q8shuf<>(SB), Y10
	VPBROADCASTD (R10), Y11
	VPBROADCASTD 4(R10), Y12
	VPBROADCASTD 8(R10), Y13
	VBROADCASTSS q8fbound<>+0(SB), Y14
	VBROADCASTSS q8fbound<>+4(SB), Y15
	Q8REQUANT(Y0, X0, 0, (R11))
	Q8REQUANT(Y1, X1, 32, 8(R11))
	Q8REQUANT(Y2, X2, 0, (R11)(R12*1))
	Q8REQUANT(Y3, X3, 32, 8(R11)(R12*1))
	LEAQ (R11)(R12*2), R13
	Q8REQUANT(Y4, X4, 0, (R13))
	Q8REQUANT(Y5, X5, 32, 8(R13))
	Q8REQUANT(Y6, X6, 0, (R13)(R12*1))
	Q8REQUANT(Y7, X7, 32, 8(R13)(R12*1))
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $16, R11
	DECQ DX
	JNZ block

done:
	VZEROUPPER
	RET

// func q8GemmSumsAVX2(a, w *int16, kp, nb int, sums *int32)
// writes each block's sums as [4 rows][16 channels] int32.
TEXT ·q8GemmSumsAVX2(SB), NOSPLIT, $0-40
	Q8ARGS
	MOVQ sums+32(FP), R11
	Q8STRIDES(sdone)

sblock:
	Q8TILE
	VMOVDQU Y0, (R11)
	VMOVDQU Y1, 32(R11)
	VMOVDQU Y2, 64(R11)
	VMOVDQU Y3, 96(R11)
	VMOVDQU Y4, 128(R11)
	VMOVDQU Y5, 160(R11)
	VMOVDQU Y6, 192(R11)
	VMOVDQU Y7, 224(R11)
	ADDQ $256, R11
	DECQ DX
	JNZ sblock

sdone:
	VZEROUPPER
	RET

// func q8WidenU8AVX2(dst *int16, src *byte, n int)
// zero-extends n bytes (a multiple of 16) to int16.
TEXT ·q8WidenU8AVX2(SB), NOSPLIT, $0-24
	BYTELOOP($4, $16, Q8WIDENU8, wuloop, wudone)

// func q8WidenI8AVX2(dst *int16, src *byte, n int)
// sign-extends n bytes (a multiple of 16) to int16.
TEXT ·q8WidenI8AVX2(SB), NOSPLIT, $0-24
	BYTELOOP($4, $16, Q8WIDENI8, wiloop, widone)
