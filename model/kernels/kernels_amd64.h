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
