#include "textflag.h"

// Row dot products (rowdots.go) for NEON, one row at a time (the vector
// stays in L1 cache between rows). Both functions take
// func(dst, q, m unsafe.Pointer, span, stride, rows int): span is the
// bytes of each row the loop covers (a multiple of 32 for float, 16 for
// int8), stride the bytes of a row. Go's assembler lacks the vector
// float multiply and add, SMULL and SADALP: they are WORDs with their
// mnemonic in a comment.

// ROWARGS loads the arguments into R0..R5.
#define ROWARGS \
	MOVD dst+0(FP), R0 \
	MOVD q+8(FP), R1 \
	MOVD m+16(FP), R2 \
	MOVD span+24(FP), R3 \
	MOVD stride+32(FP), R4 \
	MOVD rows+40(FP), R5

// ROWSTART points R6 at the vector and R7 at the row, sets the byte
// counter R8 to span and clears the sums V16, V17.
#define ROWSTART \
	MOVD R1, R6 \
	MOVD R2, R7 \
	MOVD R3, R8 \
	VEOR V16.B16, V16.B16, V16.B16 \
	VEOR V17.B16, V17.B16, V17.B16

// ROWEND stores the row's result from F (32 bits) and loops to ROW while
// rows remain.
#define ROWEND(F, ROW) \
	FMOVS F, (R0) \
	ADD $4, R0 \
	ADD R4, R2 \
	SUBS $1, R5, R5 \
	BNE ROW

// F32REDUCE adds the float sums in V16 (s0..s3) and V17 (s4..s7) into F20
// in the generic kernel's order: t = (s0+s4, s1+s5, s2+s6, s3+s7), then
// (t0+t2) + (t1+t3):
//	fadd  v18.4s, v16.4s, v17.4s
//	ext   v19.16b, v18.16b, v18.16b, #8
//	fadd  v19.4s, v18.4s, v19.4s
//	faddp s20, v19.2s
#define F32REDUCE \
	WORD $0x4e31d612 \
	VEXT $8, V18.B16, V18.B16, V19.B16 \
	WORD $0x4e33d653 \
	WORD $0x7e30da74

// F32BODY is the whole body of a float row-product function: LOADROW
// loads the row's next eight values as float32 into V3, V4 (STEP bytes of
// the row); ROW, LOOP and DONE are the function's labels.
//	fmul v5.4s, v0.4s, v3.4s
//	fmul v6.4s, v1.4s, v4.4s
//	fadd v16.4s, v16.4s, v5.4s
//	fadd v17.4s, v17.4s, v6.4s
#define F32BODY(LOADROW, STEP, ROW, LOOP, DONE) \
	ROWARGS \
	CBZ R5, DONE \
ROW: \
	ROWSTART \
LOOP: \
	VLD1.P 32(R6), [V0.S4, V1.S4] \
	LOADROW \
	WORD $0x6e23dc05 \
	WORD $0x6e24dc26 \
	WORD $0x4e25d610 \
	WORD $0x4e26d631 \
	SUBS $STEP, R8, R8 \
	BNE LOOP \
	F32REDUCE \
	ROWEND(F20, ROW) \
DONE: \
	RET

// func rowDotsF32Asm(dst, q, m *float32, span, stride, rows int)
//
// V16 and V17 hold the generic kernel's running sums s0..s3 and s4..s7,
// each product rounded before it is added (no fused multiply-add).
#define F32LOADROW VLD1.P 32(R7), [V3.S4, V4.S4]
TEXT ·rowDotsF32Asm(SB), NOSPLIT, $0-48
	F32BODY(F32LOADROW, 32, f32row, f32loop, f32done)

// func rowDotsI8Asm(dst *int32, q, m *int8, span, stride, rows int)
//
// SMULL/SMULL2 multiply eight pairs of bytes into int16 (|product| ≤
// 2¹⁴, exact) and SADALP adds pairs of them into int32 lanes.
TEXT ·rowDotsI8Asm(SB), NOSPLIT, $0-48
	ROWARGS
	CBZ R5, i8done

i8row:
	ROWSTART

i8loop:
	VLD1.P 16(R6), [V0.B16]
	VLD1.P 16(R7), [V2.B16]
	WORD $0x0e22c004 // smull v4.8h, v0.8b, v2.8b
	WORD $0x4e22c005 // smull2 v5.8h, v0.16b, v2.16b
	WORD $0x4e606890 // sadalp v16.4s, v4.8h
	WORD $0x4e6068b1 // sadalp v17.4s, v5.8h
	SUBS $16, R8, R8
	BNE i8loop
	VADD V17.S4, V16.S4, V16.S4
	VADDV V16.S4, V18
	ROWEND(F18, i8row)

i8done:
	RET

// func rowDotsF16Asm(dst, q *float32, m *uint16, span, stride, rows int)
//
// As rowDotsF32Asm, on eight half-precision values a step, converted
// exactly to float32; span and stride count the matrix's bytes, the
// vector advances twice as fast.
//	fcvtl  v3.4s, v2.4h
//	fcvtl2 v4.4s, v2.8h
#define F16LOADROW VLD1.P 16(R7), [V2.H8]; WORD $0x0e217843; WORD $0x4e217844
TEXT ·rowDotsF16Asm(SB), NOSPLIT, $0-48
	F32BODY(F16LOADROW, 16, f16row, f16loop, f16done)
