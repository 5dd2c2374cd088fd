#include "textflag.h"

// 8-bit matrix product tiles for NEON: four rows of int16 activations
// (each kp values, kp a multiple of 8) against blocks of sixteen channels
// of int16 weights laid out [kp][16]. SMLAL/SMLAL2 multiply four weights
// by one activation lane and add the products into int32 lanes exactly
// (|a|,|w| ≤ 255), so the sums equal the generic kernel's. Go's assembler
// has no SMLAL: the instructions are emitted as WORDs, built by the
// macros below from their fields, each macro with the mnemonics in its
// comment.
//
// Registers: V0..V3 = eight activations of rows 0..3, V4, V5 = one k's
// sixteen weights, V16..V31 = row r's channels 4j..4j+3 in V(16+4r+j).

// GEMMARGS loads the arguments every tile function here shares:
// (a, w, kp, nb, sums) into R0..R4.
#define GEMMARGS \
	MOVD a+0(FP), R0 \
	MOVD w+8(FP), R1 \
	MOVD kp+16(FP), R2 \
	MOVD nb+24(FP), R3 \
	MOVD sums+32(FP), R4

// ZEROACC clears the sixteen accumulators V16..V31.
#define ZEROACC \
	VEOR V16.B16, V16.B16, V16.B16 \
	VEOR V17.B16, V17.B16, V17.B16 \
	VEOR V18.B16, V18.B16, V18.B16 \
	VEOR V19.B16, V19.B16, V19.B16 \
	VEOR V20.B16, V20.B16, V20.B16 \
	VEOR V21.B16, V21.B16, V21.B16 \
	VEOR V22.B16, V22.B16, V22.B16 \
	VEOR V23.B16, V23.B16, V23.B16 \
	VEOR V24.B16, V24.B16, V24.B16 \
	VEOR V25.B16, V25.B16, V25.B16 \
	VEOR V26.B16, V26.B16, V26.B16 \
	VEOR V27.B16, V27.B16, V27.B16 \
	VEOR V28.B16, V28.B16, V28.B16 \
	VEOR V29.B16, V29.B16, V29.B16 \
	VEOR V30.B16, V30.B16, V30.B16 \
	VEOR V31.B16, V31.B16, V31.B16

// ROWS points R6..R9 at rows 0..3 of a (STRIDE bytes apart) and sets the
// k counter R10 to kp.
#define ROWS(STRIDE) \
	MOVD R0, R6 \
	ADD STRIDE, R6, R7 \
	ADD STRIDE, R7, R8 \
	ADD STRIDE, R8, R9 \
	MOVD R2, R10

// NEXTBLOCK stores the block's sums as [4 rows][16 channels] int32 and
// loops to BLOCK while blocks remain.
#define NEXTBLOCK(BLOCK) \
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R4) \
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R4) \
	VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R4) \
	VST1.P [V28.S4, V29.S4, V30.S4, V31.S4], 64(R4) \
	SUBS $1, R3, R3 \
	BNE BLOCK

// SMLAL4 multiplies lane L of row R (VR.h[L]) by the sixteen weights in
// V4, V5 into V(D)..V(D+3):
//	smlal  vD.4s,   v4.4h, vR.h[L]
//	smlal2 vD+1.4s, v4.8h, vR.h[L]
//	smlal  vD+2.4s, v5.4h, vR.h[L]
//	smlal2 vD+3.4s, v5.8h, vR.h[L]
// The lane index L is split over the H (bit 11), L (21) and M (20) fields.
#define SMLAL4(L, R, D) \
	WORD $(0x0f402080 | ((L)&4)<<9 | ((L)&3)<<20 | (R)<<16 | (D)) \
	WORD $(0x4f402080 | ((L)&4)<<9 | ((L)&3)<<20 | (R)<<16 | ((D)+1)) \
	WORD $(0x0f4020a0 | ((L)&4)<<9 | ((L)&3)<<20 | (R)<<16 | ((D)+2)) \
	WORD $(0x4f4020a0 | ((L)&4)<<9 | ((L)&3)<<20 | (R)<<16 | ((D)+3))

// SMLALK loads the next k's sixteen weights and adds lane L of each row
// times them.
#define SMLALK(L) \
	VLD1.P 32(R1), [V4.H8, V5.H8] \
	SMLAL4(L, 0, 16) \
	SMLAL4(L, 1, 20) \
	SMLAL4(L, 2, 24) \
	SMLAL4(L, 3, 28)

// func q8GemmSumsNEON(a, w *int16, kp, nb int, sums *int32)
// writes each block's sums as [4 rows][16 channels] int32.
TEXT ·q8GemmSumsNEON(SB), NOSPLIT, $0-40
	GEMMARGS
	LSL $1, R2, R5
	CBZ R3, done

block:
	ZEROACC
	ROWS(R5)

kloop:
	VLD1.P 16(R6), [V0.H8]
	VLD1.P 16(R7), [V1.H8]
	VLD1.P 16(R8), [V2.H8]
	VLD1.P 16(R9), [V3.H8]
	SMLALK(0)
	SMLALK(1)
	SMLALK(2)
	SMLALK(3)
	SMLALK(4)
	SMLALK(5)
	SMLALK(6)
	SMLALK(7)
	SUBS $8, R10, R10
	BNE kloop
	NEXTBLOCK(block)

done:
	RET

// The dot-product level (ARMv8.2 SDOT/UDOT, emitted as WORDs too): rows of
// 8-bit activations (kp a multiple of 16) against blocks of sixteen
// channels of raw 8-bit weights laid out [kp/4][16][4]. Each SDOT/UDOT
// lane adds four exact byte products into an int32. The callers add the
// filter offset times each row's sum.
//
// Registers: V0..V3 = sixteen activations of rows 0..3, V4..V7 = four
// channels' four weights each, V16..V31 as in q8GemmSumsNEON.

// DOT4 adds the dot products of the four bytes in lane L of row R
// (VR.4b[L]) with V4..V7 into V(D)..V(D+3), for OP 0x4f80e000 (sdot) or
// 0x6f80e000 (udot):
//	sdot/udot vD+j.4s, v(4+j).16b, vR.4b[L]   for j = 0..3
// The lane index L is split over the H (bit 11) and L (21) fields.
#define DOT4(OP, L, R, D) \
	WORD $(OP | ((L)&2)<<10 | ((L)&1)<<21 | (R)<<16 | 0x80 | (D)) \
	WORD $(OP | ((L)&2)<<10 | ((L)&1)<<21 | (R)<<16 | 0xa0 | ((D)+1)) \
	WORD $(OP | ((L)&2)<<10 | ((L)&1)<<21 | (R)<<16 | 0xc0 | ((D)+2)) \
	WORD $(OP | ((L)&2)<<10 | ((L)&1)<<21 | (R)<<16 | 0xe0 | ((D)+3))

// DOTK loads the next four k's weights for sixteen channels and adds lane
// L of each row's dot products with them.
#define DOTK(OP, L) \
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16] \
	DOT4(OP, L, 0, 16) \
	DOT4(OP, L, 1, 20) \
	DOT4(OP, L, 2, 24) \
	DOT4(OP, L, 3, 28)

// DOTGEMM is the body of q8GemmSDotNEON and q8GemmUDotNEON after
// GEMMARGS; the labels are parameters because each function needs its own.
#define DOTGEMM(OP, BLOCK, KLOOP, DONE) \
	CBZ R3, DONE \
BLOCK: \
	ZEROACC \
	ROWS(R2) \
KLOOP: \
	VLD1.P 16(R6), [V0.B16] \
	VLD1.P 16(R7), [V1.B16] \
	VLD1.P 16(R8), [V2.B16] \
	VLD1.P 16(R9), [V3.B16] \
	DOTK(OP, 0) \
	DOTK(OP, 1) \
	DOTK(OP, 2) \
	DOTK(OP, 3) \
	SUBS $16, R10, R10 \
	BNE KLOOP \
	NEXTBLOCK(BLOCK) \
DONE: \
	RET

// func q8GemmSDotNEON(a, w *byte, kp, nb int, sums *int32)
TEXT ·q8GemmSDotNEON(SB), NOSPLIT, $0-40
	GEMMARGS
	DOTGEMM(0x4f80e000, sdotblock, sdotkloop, sdotdone)

// func q8GemmUDotNEON(a, w *byte, kp, nb int, sums *int32)
TEXT ·q8GemmUDotNEON(SB), NOSPLIT, $0-40
	GEMMARGS
	DOTGEMM(0x6f80e000, udotblock, udotkloop, udotdone)

// func q8RequantNEON(sums, cc *int32, scale *float32, rq *q8Requant, rt int32, out *byte, n int)
// requantizes n sums (a multiple of 8) with the runtime rounding: sum + rt
// + cc, converted to float32, one multiply by the scale, rounded half to
// even (FCVTNS, which saturates), clamped and offset by the zero point —
// the generic kernel's float32 operations, so the same bytes.
TEXT ·q8RequantNEON(SB), NOSPLIT, $0-56
	MOVD sums+0(FP), R0
	MOVD cc+8(FP), R1
	MOVD scale+16(FP), R2
	MOVD rq+24(FP), R3
	MOVW rt+32(FP), R4
	MOVD out+40(FP), R5
	MOVD n+48(FP), R6
	MOVW (R3), R7
	MOVW 4(R3), R8
	MOVW 8(R3), R9
	SUBW R7, R8, R8
	SUBW R7, R9, R9
	VDUP R4, V20.S4
	VDUP R8, V21.S4
	VDUP R9, V22.S4
	VDUP R7, V23.S4
	CBZ R6, rqdone

rqloop:
	VLD1.P 32(R0), [V0.S4, V1.S4]
	VLD1.P 32(R1), [V2.S4, V3.S4]
	VLD1.P 32(R2), [V4.S4, V5.S4]
	VADD V2.S4, V0.S4, V0.S4
	VADD V3.S4, V1.S4, V1.S4
	VADD V20.S4, V0.S4, V0.S4
	VADD V20.S4, V1.S4, V1.S4
	WORD $0x4e21d800 // scvtf v0.4s, v0.4s
	WORD $0x4e21d821 // scvtf v1.4s, v1.4s
	WORD $0x6e24dc00 // fmul v0.4s, v0.4s, v4.4s
	WORD $0x6e25dc21 // fmul v1.4s, v1.4s, v5.4s
	WORD $0x4e21a800 // fcvtns v0.4s, v0.4s
	WORD $0x4e21a821 // fcvtns v1.4s, v1.4s
	WORD $0x4eb56400 // smax v0.4s, v0.4s, v21.4s
	WORD $0x4eb56421 // smax v1.4s, v1.4s, v21.4s
	WORD $0x4eb66c00 // smin v0.4s, v0.4s, v22.4s
	WORD $0x4eb66c21 // smin v1.4s, v1.4s, v22.4s
	VADD V23.S4, V0.S4, V0.S4
	VADD V23.S4, V1.S4, V1.S4
	WORD $0x0e612800 // xtn v0.4h, v0.4s
	WORD $0x4e612820 // xtn2 v0.8h, v1.4s
	WORD $0x0e212800 // xtn v0.8b, v0.8h
	VST1.P [V0.B8], 8(R5)
	SUBS $8, R6, R6
	BNE rqloop

rqdone:
	RET
