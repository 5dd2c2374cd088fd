// Macros shared by gemm_q8_amd64.s and depthwise_amd64.s.

// REQUANT8 finishes eight int32 sums in Y (X is its lower half) the way
// the generic kernel does: add the per-channel correction at cc, convert to
// float, multiply by the per-channel scale at scale, clamp to the float
// bounds in Y14 (upper) and Y15 (lower), round back to int32 with the
// runtime rounding, add the zero point (Y11), clamp to [Y12, Y13], pack the
// low bytes with the shuffle in Y10 and the permutation in Y9, and store
// the eight bytes at dst.
#define REQUANT8(Y, X, cc, scale, dst) \
	VPADDD cc, Y, Y \
	VCVTDQ2PS Y, Y \
	VMULPS scale, Y, Y \
	VMINPS Y14, Y, Y \
	VMAXPS Y15, Y, Y \
	VCVTPS2DQ Y, Y \
	VPADDD Y11, Y, Y \
	VPMAXSD Y12, Y, Y \
	VPMINSD Y13, Y, Y \
	VPSHUFB Y10, Y, Y \
	VPERMD Y, Y9, Y \
	VMOVQ X, dst

// BYTELOOP is the whole body of a func(dst, src *T, n int) that converts n
// bytes at src (a multiple of 1<<SHIFT) to wider elements at dst: BODY
// handles one step, reading (SI) and writing 32 bytes at (DI); SI then
// advances by STEP bytes. LOOP and DONE are the function's own labels.
#define BYTELOOP(SHIFT, STEP, BODY, LOOP, DONE) \
	MOVQ dst+0(FP), DI \
	MOVQ src+8(FP), SI \
	MOVQ n+16(FP), CX \
	SHRQ SHIFT, CX \
	JZ DONE \
LOOP: \
	BODY \
	ADDQ STEP, SI \
	ADDQ $32, DI \
	DECQ CX \
	JNZ LOOP \
DONE: \
	VZEROUPPER \
	RET

// Q8REQUANTTILE requantizes a tile's sums in Y0..Y7 (rows 0..3 × channels
// 0-7, 8-15) with the runtime rounding and stores four rows of sixteen
// bytes at R11 (row stride R12): cc at R8, scale at R9, the q8Requant at
// R10. It then advances R8, R9 and R11 to the next block. The tables
// q8perm, q8shuf and q8fbound are gemm_q8_amd64.s's.
#define Q8REQUANTTILE \
	VMOVDQU q8perm<>(SB), Y9 \
	VMOVDQU q8shuf<>(SB), Y10 \
	VPBROADCASTD (R10), Y11 \
	VPBROADCASTD 4(R10), Y12 \
	VPBROADCASTD 8(R10), Y13 \
	VBROADCASTSS q8fbound<>+0(SB), Y14 \
	VBROADCASTSS q8fbound<>+4(SB), Y15 \
	REQUANT8(Y0, X0, 0(R8), 0(R9), (R11)) \
	REQUANT8(Y1, X1, 32(R8), 32(R9), 8(R11)) \
	REQUANT8(Y2, X2, 0(R8), 0(R9), (R11)(R12*1)) \
	REQUANT8(Y3, X3, 32(R8), 32(R9), 8(R11)(R12*1)) \
	LEAQ (R11)(R12*2), R13 \
	REQUANT8(Y4, X4, 0(R8), 0(R9), (R13)) \
	REQUANT8(Y5, X5, 32(R8), 32(R9), 8(R13)) \
	REQUANT8(Y6, X6, 0(R8), 0(R9), (R13)(R12*1)) \
	REQUANT8(Y7, X7, 32(R8), 32(R9), 8(R13)(R12*1)) \
	ADDQ $64, R8 \
	ADDQ $64, R9 \
	ADDQ $16, R11
