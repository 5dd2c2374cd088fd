#include "textflag.h"

// 8-bit matrix product tiles for AVX2: four rows of int16 activations
// (each kp values, kp a multiple of 8) against blocks of four channels of
// int16 weights laid out [kp/8][4][8]. VPMADDWD multiplies 16-bit pairs
// and adds each pair into an int32 exactly (|a|,|w| ≤ 255), so the sums
// equal the generic kernel's integer sums.
//
// Accumulators: Y0..Y7 = rows 0..3 × channel pairs (01, 23); each holds
// four partial sums per channel, one 128-bit lane per channel.

// q8perm reorders [c0r0 c2r0 c0r1 c2r1 | c1r0 c3r0 c1r1 c3r1] into
// [c0r0 c1r0 c2r0 c3r0 c0r1 c1r1 c2r1 c3r1].
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

// Q8TILE computes one block's sums: SI = row 0 of a, AX = row stride in
// bytes, BX = 3·AX, DI = the block's weights (advanced past them), CX = kp.
// Leaves rows 0,1 in Y0 and rows 2,3 in Y4 as [4 channels][2 rows].
#define Q8TILE \
	VPXOR Y0, Y0, Y0; VPXOR Y1, Y1, Y1; VPXOR Y2, Y2, Y2; VPXOR Y3, Y3, Y3 \
	VPXOR Y4, Y4, Y4; VPXOR Y5, Y5, Y5; VPXOR Y6, Y6, Y6; VPXOR Y7, Y7, Y7 \
	MOVQ SI, R13 \
	MOVQ CX, R14 \
kloop: \
	VMOVDQU (DI), Y8 \
	VMOVDQU 32(DI), Y9 \
	VBROADCASTI128 (R13), Y10 \
	VPMADDWD Y8, Y10, Y11 \
	VPADDD Y11, Y0, Y0 \
	VPMADDWD Y9, Y10, Y12 \
	VPADDD Y12, Y1, Y1 \
	VBROADCASTI128 (R13)(AX*1), Y10 \
	VPMADDWD Y8, Y10, Y11 \
	VPADDD Y11, Y2, Y2 \
	VPMADDWD Y9, Y10, Y12 \
	VPADDD Y12, Y3, Y3 \
	VBROADCASTI128 (R13)(AX*2), Y10 \
	VPMADDWD Y8, Y10, Y11 \
	VPADDD Y11, Y4, Y4 \
	VPMADDWD Y9, Y10, Y12 \
	VPADDD Y12, Y5, Y5 \
	VBROADCASTI128 (R13)(BX*1), Y10 \
	VPMADDWD Y8, Y10, Y11 \
	VPADDD Y11, Y6, Y6 \
	VPMADDWD Y9, Y10, Y12 \
	VPADDD Y12, Y7, Y7 \
	ADDQ $16, R13 \
	ADDQ $64, DI \
	SUBQ $8, R14 \
	JNZ kloop \
	VPHADDD Y1, Y0, Y0 \
	VPHADDD Y3, Y2, Y2 \
	VPHADDD Y5, Y4, Y4 \
	VPHADDD Y7, Y6, Y6 \
	VPHADDD Y2, Y0, Y0 \
	VPHADDD Y6, Y4, Y4 \
	VMOVDQU q8perm<>(SB), Y15 \
	VPERMD Y0, Y15, Y0 \
	VPERMD Y4, Y15, Y4

// Q8REQUANT requantizes Y (two rows of four channels) with the runtime
// rounding: cc and scale broadcast in Y9, Y10, zero point, lo, hi in
// Y11..Y13, float bounds in Y14, Y15 (upper, lower), byte shuffle in Y8.
#define Q8REQUANT(Y) \
	VPADDD Y9, Y, Y \
	VCVTDQ2PS Y, Y \
	VMULPS Y10, Y, Y \
	VMINPS Y14, Y, Y \
	VMAXPS Y15, Y, Y \
	VCVTPS2DQ Y, Y \
	VPADDD Y11, Y, Y \
	VPMAXSD Y12, Y, Y \
	VPMINSD Y13, Y, Y \
	VPSHUFB Y8, Y, Y

// func q8GemmAVX2(a, w *int16, kp, nb int, cc *int32, scale *float32, rq *q8Requant, out *byte, stride int)
TEXT ·q8GemmAVX2(SB), NOSPLIT, $0-72
	MOVQ a+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ kp+16(FP), CX
	MOVQ nb+24(FP), DX
	MOVQ cc+32(FP), R8
	MOVQ scale+40(FP), R9
	MOVQ rq+48(FP), R10
	MOVQ out+56(FP), R11
	MOVQ stride+64(FP), R12
	LEAQ (CX)(CX*1), AX
	LEAQ (AX)(AX*2), BX
	TESTQ DX, DX
	JZ done

block:
	Q8TILE
	VMOVDQU q8shuf<>(SB), Y8
	VBROADCASTI128 (R8), Y9
	VBROADCASTI128 (R9), Y10
	VPBROADCASTD (R10), Y11
	VPBROADCASTD 4(R10), Y12
	VPBROADCASTD 8(R10), Y13
	VBROADCASTSS q8fbound<>+0(SB), Y14
	VBROADCASTSS q8fbound<>+4(SB), Y15
	Q8REQUANT(Y0)
	Q8REQUANT(Y4)
	MOVQ R11, R13
	VMOVD X0, (R13)
	VEXTRACTI128 $1, Y0, X1
	VMOVD X1, (R13)(R12*1)
	LEAQ (R13)(R12*2), R13
	VMOVD X4, (R13)
	VEXTRACTI128 $1, Y4, X5
	VMOVD X5, (R13)(R12*1)
	ADDQ $16, R8
	ADDQ $16, R9
	ADDQ $4, R11
	DECQ DX
	JNZ block

done:
	VZEROUPPER
	RET

// func q8GemmSumsAVX2(a, w *int16, kp, nb int, sums *int32)
// writes each block's sums as [4 rows][4 channels] int32.
TEXT ·q8GemmSumsAVX2(SB), NOSPLIT, $0-40
	MOVQ a+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ kp+16(FP), CX
	MOVQ nb+24(FP), DX
	MOVQ sums+32(FP), R11
	LEAQ (CX)(CX*1), AX
	LEAQ (AX)(AX*2), BX
	TESTQ DX, DX
	JZ sdone

sblock:
	Q8TILE
	VMOVDQU Y0, (R11)
	VMOVDQU Y4, 32(R11)
	ADDQ $64, R11
	DECQ DX
	JNZ sblock

sdone:
	VZEROUPPER
	RET

// func q8WidenU8AVX2(dst *int16, src *byte, n int)
// zero-extends n bytes (a multiple of 16) to int16.
TEXT ·q8WidenU8AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ wudone
wuloop:
	VPMOVZXBW (SI), Y0
	VMOVDQU Y0, (DI)
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ wuloop
wudone:
	VZEROUPPER
	RET

// func q8WidenI8AVX2(dst *int16, src *byte, n int)
// sign-extends n bytes (a multiple of 16) to int16.
TEXT ·q8WidenI8AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ widone
wiloop:
	VPMOVSXBW (SI), Y0
	VMOVDQU Y0, (DI)
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ wiloop
widone:
	VZEROUPPER
	RET
