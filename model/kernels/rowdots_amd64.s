#include "textflag.h"

// Row dot products (rowdots.go): four rows at a time share each load of
// the vector, then one row at a time for the rest. Both functions take
// func(dst, q, m unsafe.Pointer, span, stride, rows int): span is the
// bytes of each row the SIMD loop covers (a multiple of STEP), stride the
// bytes of a row.

// F32HSUM reduces the eight float lanes of Y (X is its lower half) in the
// generic kernel's order, ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)), and
// stores the sum at dst. It uses X15.
#define F32HSUM(Y, X, dst) \
	VEXTRACTF128 $1, Y, X15 \
	VADDPS X15, X, X \
	VMOVHLPS X, X, X15 \
	VADDPS X15, X, X \
	VMOVSHDUP X, X15 \
	VADDSS X15, X, X \
	VMOVSS X, dst

// I32HSUM adds the eight int32 lanes of Y and stores the sum at dst.
#define I32HSUM(Y, X, dst) \
	VEXTRACTI128 $1, Y, X15 \
	VPADDD X15, X, X \
	VPSHUFD $0x4e, X, X15 \
	VPADDD X15, X, X \
	VPSHUFD $0xb1, X, X15 \
	VPADDD X15, X, X \
	VMOVD X, dst

// F32ROW adds the products of the vector's eight floats in Y4 with the
// row's at (row)(AX*1) to acc (tmp is scratch). F32Q loads the vector.
#define F32Q VMOVUPS (SI)(AX*1), Y4
#define F32ROW(row, tmp, acc) \
	VMULPS (row)(AX*1), Y4, tmp \
	VADDPS tmp, acc, acc

// I8ROW is F32ROW for sixteen int8 values widened to int16 in Y4: the
// products of pairs summed into int32 (VPMADDWD) are exact.
#define I8Q VPMOVSXBW (SI)(AX*1), Y4
#define I8ROW(row, tmp, acc) \
	VPMOVSXBW (row)(AX*1), tmp \
	VPMADDWD tmp, Y4, tmp \
	VPADDD tmp, acc, acc

// ROWDOTS is the whole body of a row-product function; STEP is the bytes
// of one vector step, SIZE the bytes of one result, the rest its labels.
#define ROWDOTS(LOADQ, ROW, HSUM, STEP, SIZE, FOUR, LOOP4, ONE, LOOP1, DONE) \
	MOVQ dst+0(FP), DI \
	MOVQ q+8(FP), SI \
	MOVQ m+16(FP), R8 \
	MOVQ span+24(FP), BX \
	MOVQ stride+32(FP), R12 \
	MOVQ rows+40(FP), DX \
FOUR: \
	CMPQ DX, $4 \
	JLT ONE \
	LEAQ (R8)(R12*1), R9 \
	LEAQ (R9)(R12*1), R10 \
	LEAQ (R10)(R12*1), R11 \
	VPXOR Y0, Y0, Y0 \
	VPXOR Y1, Y1, Y1 \
	VPXOR Y2, Y2, Y2 \
	VPXOR Y3, Y3, Y3 \
	XORQ AX, AX \
LOOP4: \
	LOADQ \
	ROW(R8, Y5, Y0) \
	ROW(R9, Y6, Y1) \
	ROW(R10, Y7, Y2) \
	ROW(R11, Y8, Y3) \
	ADDQ $STEP, AX \
	CMPQ AX, BX \
	JLT LOOP4 \
	HSUM(Y0, X0, (DI)) \
	HSUM(Y1, X1, SIZE(DI)) \
	HSUM(Y2, X2, 2*SIZE(DI)) \
	HSUM(Y3, X3, 3*SIZE(DI)) \
	LEAQ (R11)(R12*1), R8 \
	ADDQ $(4*SIZE), DI \
	SUBQ $4, DX \
	JMP FOUR \
ONE: \
	TESTQ DX, DX \
	JZ DONE \
	VPXOR Y0, Y0, Y0 \
	XORQ AX, AX \
LOOP1: \
	LOADQ \
	ROW(R8, Y5, Y0) \
	ADDQ $STEP, AX \
	CMPQ AX, BX \
	JLT LOOP1 \
	HSUM(Y0, X0, (DI)) \
	ADDQ R12, R8 \
	ADDQ $SIZE, DI \
	DECQ DX \
	JMP ONE \
DONE: \
	VZEROUPPER \
	RET

// func rowDotsF32Asm(dst, q, m *float32, span, stride, rows int)
TEXT ·rowDotsF32Asm(SB), NOSPLIT, $0-48
	ROWDOTS(F32Q, F32ROW, F32HSUM, 32, 4, f32four, f32loop4, f32one, f32loop1, f32done)

// func rowDotsI8Asm(dst *int32, q, m *int8, span, stride, rows int)
TEXT ·rowDotsI8Asm(SB), NOSPLIT, $0-48
	ROWDOTS(I8Q, I8ROW, I32HSUM, 16, 4, i8four, i8loop4, i8one, i8loop1, i8done)

// F16ROW is F32ROW for a row of eight half-precision values, converted
// exactly to float32 (VCVTPH2PS); the vector's eight floats sit at twice
// the row's byte offset.
#define F16Q VMOVUPS (SI)(AX*2), Y4
#define F16ROW(row, tmp, acc) \
	VCVTPH2PS (row)(AX*1), tmp \
	VMULPS tmp, Y4, tmp \
	VADDPS tmp, acc, acc

// func rowDotsF16Asm(dst, q *float32, m *uint16, span, stride, rows int)
TEXT ·rowDotsF16Asm(SB), NOSPLIT, $0-48
	ROWDOTS(F16Q, F16ROW, F32HSUM, 16, 4, f16four, f16loop4, f16one, f16loop1, f16done)
