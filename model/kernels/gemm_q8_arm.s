#include "textflag.h"
#include "neon_arm.h"

// The 8-bit matrix product tile for 32-bit ARM with NEON: four rows of
// int16 activations (each kp values, kp a multiple of 8) against blocks
// of sixteen channels of int16 weights laid out [kp][16], as on arm64.
// VMLAL.S16 by scalar multiplies four weights by one activation lane and
// adds the products into int32 lanes exactly (|a|,|w| ≤ 255), so the sums
// equal the generic kernel's. ARMv7 has sixteen quad registers, too few
// for a 4×16 tile's accumulators and its operands, so each block is two
// passes of eight channels. Go's 32-bit ARM assembler has no NEON, so
// every NEON instruction is a WORD built by a macro from its fields, with
// the mnemonic in the macro's comment.
//
// Registers: d0..d7 = eight activations of rows 0..3 (row r in d2r,
// d2r+1), d8..d11 = one k's eight weights (two k alternate), q8..q15 =
// row r's eight channels in q8+2r, q9+2r; R0 = a, R1 = the block's
// weights, R2 = kp, R3 = the k counter, R4 = sums, R5 = 32 (the weights'
// row stride in bytes), R6..R9 = rows 0..3, R12 = weights of the pass.

// VZERO(Q): veor qQ, qQ, qQ (Q in 8..15).
#define VZERO(Q) WORD $(0xF34001F0 | ((2*(Q))&15)<<16 | ((2*(Q))&15)<<12 | ((2*(Q))&15))

// VLDROW(D, RN): vld1.16 {dD, dD+1}, [RN]! (D < 16).
#define VLDROW(D, RN) WORD $(0xF4200A4D | (RN)<<16 | (D)<<12)

// VLDW(D): vld1.16 {dD, dD+1}, [r12], r5 (D < 16).
#define VLDW(D) WORD $(0xF42C0A45 | (D)<<12)

// VSTROW(D): vst1.32 {dD..dD+3}, [r12] (D in 16..28).
#define VSTROW(D) WORD $(0xF44C028F | ((D)&15)<<12)

// VMLAL(Q, N, M, X): vmlal.s16 qQ, dN, dM[X] (Q in 8..15, N < 16, M < 8,
// X < 4: the lane is split over the M bit and the top bit of Vm).
#define VMLAL(Q, N, M, X) WORD $(0xF2D00240 | ((2*(Q))&15)<<12 | (N)<<16 | ((X)>>1)<<5 | ((X)&1)<<3 | (M))

// MLAK(K, W) loads the weights of step K (0..7) of eight k into dW, dW+1
// and adds lane K of each row times them.
#define MLAK(K, W) \
	VLDW(W) \
	VMLAL(8, W, (K)>>2, (K)&3) \
	VMLAL(9, (W)+1, (K)>>2, (K)&3) \
	VMLAL(10, W, 2+((K)>>2), (K)&3) \
	VMLAL(11, (W)+1, 2+((K)>>2), (K)&3) \
	VMLAL(12, W, 4+((K)>>2), (K)&3) \
	VMLAL(13, (W)+1, 4+((K)>>2), (K)&3) \
	VMLAL(14, W, 6+((K)>>2), (K)&3) \
	VMLAL(15, (W)+1, 6+((K)>>2), (K)&3)

// PASS(OFF) starts the pass over the channels at byte OFF of each weight
// row: it clears the accumulators, points R6..R9 at the rows and R12 at
// the weights, and sets the k counter.
#define PASS(OFF) \
	VZERO(8) \
	VZERO(9) \
	VZERO(10) \
	VZERO(11) \
	VZERO(12) \
	VZERO(13) \
	VZERO(14) \
	VZERO(15) \
	MOVW R0, R6 \
	ADD R2<<1, R6, R7 \
	ADD R2<<1, R7, R8 \
	ADD R2<<1, R8, R9 \
	ADD $(OFF), R1, R12 \
	MOVW R2, R3

// EIGHTK adds eight k of every row.
#define EIGHTK \
	VLDROW(0, 6) \
	VLDROW(2, 7) \
	VLDROW(4, 8) \
	VLDROW(6, 9) \
	MLAK(0, 8) \
	MLAK(1, 10) \
	MLAK(2, 8) \
	MLAK(3, 10) \
	MLAK(4, 8) \
	MLAK(5, 10) \
	MLAK(6, 8) \
	MLAK(7, 10)

// STORE(OFF) writes the pass's sums to byte OFF of each row of the
// block's [4 rows][16 channels] int32.
#define STORE(OFF) \
	ADD $(OFF), R4, R12 \
	VSTROW(16) \
	ADD $64, R12 \
	VSTROW(20) \
	ADD $64, R12 \
	VSTROW(24) \
	ADD $64, R12 \
	VSTROW(28)

// func q8GemmSumsNEON(a, w *int16, kp, nb int, sums *int32)
// writes each block's sums as [4 rows][16 channels] int32. The block
// count lives in its argument slot: every register is in use.
TEXT ·q8GemmSumsNEON(SB), NOSPLIT, $0-20
	MOVW a+0(FP), R0
	MOVW w+4(FP), R1
	MOVW kp+8(FP), R2
	MOVW sums+16(FP), R4
	MOVW $32, R5
	MOVW nb+12(FP), R3
	CMP $0, R3
	BEQ done

block:
	PASS(0)

low:
	EIGHTK
	SUB.S $8, R3, R3
	BNE low
	STORE(0)
	PASS(16)

high:
	EIGHTK
	SUB.S $8, R3, R3
	BNE high
	STORE(32)
	ADD $256, R4
	ADD R2<<5, R1, R1
	MOVW nb+12(FP), R3
	SUB.S $1, R3, R3
	MOVW R3, nb+12(FP)
	BNE block

done:
	RET

// func q8RequantNEON(sums, cc *int32, scale *float32, rq *q8Requant, rt int32, out *byte, n int)
// requantizes n sums (a multiple of 8) with the runtime rounding: sum + rt
// + cc, then REQUANT2 (neon_arm.h).
//	vdup.32 q10, r4
//	vld1.32 {d0-d3}, [r0]!
//	vld1.32 {d4-d7}, [r1]!
//	vld1.32 {d8-d11}, [r2]!
//	vst1.8 {d0}, [r5]!
TEXT ·q8RequantNEON(SB), NOSPLIT, $0-28
	MOVW sums+0(FP), R0
	MOVW cc+4(FP), R1
	MOVW scale+8(FP), R2
	MOVW rq+12(FP), R12
	MOVW rt+16(FP), R4
	MOVW out+20(FP), R5
	MOVW n+24(FP), R6
	RQSETUP
	WORD $0xeea44b90
	CMP $0, R6
	BEQ rqdone

rqloop:
	WORD $0xf420028d
	WORD $0xf421428d
	WORD $0xf422828d
	VADDI(0, 2)
	VADDI(1, 3)
	VADDI(0, 10)
	VADDI(1, 10)
	REQUANT2(0, 4, 1, 5)
	NARROW8
	WORD $0xf405070d
	SUB.S $8, R6, R6
	BNE rqloop

rqdone:
	RET
