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

// func rowDotsF32Asm(dst, q, m *float32, span, stride, rows int)
//
// V16 and V17 hold the generic kernel's running sums s0..s3 and s4..s7,
// each product rounded before it is added (no fused multiply-add), and
// the reduction is the generic one: t = (s0+s4, s1+s5, s2+s6, s3+s7),
// then (t0+t2) + (t1+t3).
TEXT ·rowDotsF32Asm(SB), NOSPLIT, $0-48
	ROWARGS
	CBZ R5, f32done

f32row:
	ROWSTART

f32loop:
	VLD1.P 32(R6), [V0.S4, V1.S4]
	VLD1.P 32(R7), [V2.S4, V3.S4]
	WORD $0x6e22dc04 // fmul v4.4s, v0.4s, v2.4s
	WORD $0x6e23dc25 // fmul v5.4s, v1.4s, v3.4s
	WORD $0x4e24d610 // fadd v16.4s, v16.4s, v4.4s
	WORD $0x4e25d631 // fadd v17.4s, v17.4s, v5.4s
	SUBS $32, R8, R8
	BNE f32loop
	WORD $0x4e31d612 // fadd v18.4s, v16.4s, v17.4s
	VEXT $8, V18.B16, V18.B16, V19.B16
	WORD $0x4e33d653 // fadd v19.4s, v18.4s, v19.4s
	WORD $0x7e30da74 // faddp s20, v19.2s
	ROWEND(F20, f32row)

f32done:
	RET

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
