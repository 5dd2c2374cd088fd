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

// Q8ZERO clears the accumulators Y0..Y7.
#define Q8ZERO \
	VPXOR Y0, Y0, Y0; VPXOR Y1, Y1, Y1; VPXOR Y2, Y2, Y2; VPXOR Y3, Y3, Y3 \
	VPXOR Y4, Y4, Y4; VPXOR Y5, Y5, Y5; VPXOR Y6, Y6, Y6; VPXOR Y7, Y7, Y7

// Q8TILE computes one block's sums: SI = row 0 of a, AX = row stride in
// bytes, BX = 3·AX, DI = the block's weights (advanced past them), CX =
// kp. Two pairs per iteration: kp/2 is even.
#define Q8TILE \
	Q8ZERO \
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

// Q8STORESUMS stores a tile's sums in Y0..Y7 at R11 as [4 rows][16
// channels] int32 and advances R11 past them.
#define Q8STORESUMS \
	VMOVDQU Y0, (R11) \
	VMOVDQU Y1, 32(R11) \
	VMOVDQU Y2, 64(R11) \
	VMOVDQU Y3, 96(R11) \
	VMOVDQU Y4, 128(R11) \
	VMOVDQU Y5, 160(R11) \
	VMOVDQU Y6, 192(R11) \
	VMOVDQU Y7, 224(R11) \
	ADDQ $256, R11

// Q8ARGS loads the arguments the tile functions share: a, w, kp, nb into
// SI, DI, CX, DX.
#define Q8ARGS \
	MOVQ a+0(FP), SI \
	MOVQ w+8(FP), DI \
	MOVQ kp+16(FP), CX \
	MOVQ nb+24(FP), DX

// Q8STRIDES sets AX and BX to one and three rows of a (2·kp and 6·kp
// bytes).
#define Q8STRIDES \
	LEAQ (CX)(CX*1), AX \
	LEAQ (AX)(AX*2), BX

// Q8BLOCKS runs BODY once for each of the DX blocks, then returns. LOOP
// and DONE are the function's own labels.
#define Q8BLOCKS(BODY, LOOP, DONE) \
	TESTQ DX, DX \
	JZ DONE \
LOOP: \
	BODY \
	DECQ DX \
	JNZ LOOP \
DONE: \
	VZEROUPPER \
	RET

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
	Q8STRIDES
	Q8BLOCKS(Q8TILE; Q8REQUANTTILE, block, done)

// func q8GemmSumsAVX2(a, w *int16, kp, nb int, sums *int32)
// writes each block's sums as [4 rows][16 channels] int32.
TEXT ·q8GemmSumsAVX2(SB), NOSPLIT, $0-40
	Q8ARGS
	MOVQ sums+32(FP), R11
	Q8STRIDES
	Q8BLOCKS(Q8TILE; Q8STORESUMS, sblock, sdone)

// func q8WidenU8AVX2(dst *int16, src *byte, n int)
// zero-extends n bytes (a multiple of 16) to int16.
TEXT ·q8WidenU8AVX2(SB), NOSPLIT, $0-24
	BYTELOOP($4, $16, Q8WIDENU8, wuloop, wudone)

// func q8WidenI8AVX2(dst *int16, src *byte, n int)
// sign-extends n bytes (a multiple of 16) to int16.
TEXT ·q8WidenI8AVX2(SB), NOSPLIT, $0-24
	BYTELOOP($4, $16, Q8WIDENI8, wiloop, widone)

// The AVX-VNNI product (LevelVNNI): four rows of bytes (unsigned, kp a
// multiple of 16) against blocks of sixteen channels of signed bytes laid
// out [kp/4][16][4]. VPDPBUSD multiplies four byte pairs per int32 lane
// and adds them into it exactly, so the sums equal the generic kernel's
// integer sums once q8Wide's corrections are added. Go's assembler only
// knows the EVEX (AVX-512) form, so VPDBUSD emits the VEX form
// (VEX.256.66.0F38.W0 50 /r), registers only.

// VPDPBUSD(dst, u, s): Ydst += dot(unsigned bytes of Yu, signed bytes of Ys).
#define VPDPBUSD(dst, u, s) \
	BYTE $0xC4; \
	BYTE $(0x42 | ((1-((dst)>>3))<<7) | ((1-((s)>>3))<<5)); \
	BYTE $(0x05 | ((15-(u))<<3)); \
	BYTE $0x50; \
	BYTE $(0xC0 | (((dst)&7)<<3) | ((s)&7))

// QVSTEP multiplies four k values: rows at R13 (+AX, +2AX, +BX), weights
// at woff(DI).
#define QVSTEP(aoff, woff) \
	VMOVDQU woff(DI), Y8 \
	VMOVDQU woff+32(DI), Y9 \
	VPBROADCASTD aoff(R13), Y10 \
	VPBROADCASTD aoff(R13)(AX*1), Y11 \
	VPBROADCASTD aoff(R13)(AX*2), Y12 \
	VPBROADCASTD aoff(R13)(BX*1), Y13 \
	VPDPBUSD(0, 10, 8); VPDPBUSD(1, 10, 9) \
	VPDPBUSD(2, 11, 8); VPDPBUSD(3, 11, 9) \
	VPDPBUSD(4, 12, 8); VPDPBUSD(5, 12, 9) \
	VPDPBUSD(6, 13, 8); VPDPBUSD(7, 13, 9)

// QVTILE adds one block's products to Y0..Y7: SI = row 0, AX = kp, BX =
// 3·kp, DI = the block's weights (advanced past them), CX = kp. Sixteen k
// values per iteration.
#define QVTILE \
	MOVQ SI, R13 \
	MOVQ CX, R14 \
	SHRQ $4, R14 \
vkloop: \
	QVSTEP(0, 0) \
	QVSTEP(4, 64) \
	QVSTEP(8, 128) \
	QVSTEP(12, 192) \
	ADDQ $16, R13 \
	ADDQ $256, DI \
	DECQ R14 \
	JNZ vkloop

// QVROWTERMS starts each row's sums (Y0..Y7) at its row term, the int32
// at 4·row bytes into the array whose address is at RT.
#define QVROWTERMS(RT) \
	MOVQ RT, R13 \
	VPBROADCASTD (R13), Y0 \
	VMOVDQU Y0, Y1 \
	VPBROADCASTD 4(R13), Y2 \
	VMOVDQU Y2, Y3 \
	VPBROADCASTD 8(R13), Y4 \
	VMOVDQU Y4, Y5 \
	VPBROADCASTD 12(R13), Y6 \
	VMOVDQU Y6, Y7

// QVSTRIDES sets AX and BX to one and three rows (kp and 3·kp bytes).
#define QVSTRIDES \
	MOVQ CX, AX \
	LEAQ (AX)(AX*2), BX

// func q8GemmVNNI(a, w *byte, kp, nb int, rt *[4]int32, cc *int32, scale *float32, rq *q8Requant, out *byte, stride int)
TEXT ·q8GemmVNNI(SB), NOSPLIT, $0-80
	Q8ARGS
	QVSTRIDES
	MOVQ cc+40(FP), R8
	MOVQ scale+48(FP), R9
	MOVQ rq+56(FP), R10
	MOVQ out+64(FP), R11
	MOVQ stride+72(FP), R12
	Q8BLOCKS(QVROWTERMS(rt+32(FP)); QVTILE; Q8REQUANTTILE, vblock, vdone)

// func q8GemmSumsVNNI(a, w *byte, kp, nb int, sums *int32)
// writes each block's sums as [4 rows][16 channels] int32.
TEXT ·q8GemmSumsVNNI(SB), NOSPLIT, $0-40
	Q8ARGS
	QVSTRIDES
	MOVQ sums+32(FP), R11
	Q8BLOCKS(Q8ZERO; QVTILE; Q8STORESUMS, vsblock, vsdone)

// func q8SumBytesAVX2(p *byte, n int, mask uint8) int32
// sums n bytes (a multiple of 16, at least 16), each XORed with mask:
// VPSADBW against zero adds eight bytes into each 64-bit half.
TEXT ·q8SumBytesAVX2(SB), NOSPLIT, $0-28
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	VPBROADCASTB mask+16(FP), X2
	VPXOR X0, X0, X0
	VPXOR X3, X3, X3
	SHRQ $4, CX

sumloop:
	VPXOR (SI), X2, X1
	VPSADBW X3, X1, X1
	VPADDQ X1, X0, X0
	ADDQ $16, SI
	DECQ CX
	JNZ sumloop
	VPSHUFD $0x4e, X0, X1
	VPADDQ X1, X0, X0
	MOVL X0, AX
	MOVL AX, ret+24(FP)
	VZEROUPPER
	RET
