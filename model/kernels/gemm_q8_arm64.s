#include "textflag.h"

// 8-bit matrix product tiles for NEON: four rows of int16 activations
// (each kp values, kp a multiple of 8) against blocks of sixteen channels
// of int16 weights laid out [kp][16]. SMLAL/SMLAL2 multiply four weights
// by one activation lane and add the products into int32 lanes exactly
// (|a|,|w| ≤ 255), so the sums equal the generic kernel's. Go's assembler
// has no SMLAL: the instructions are emitted as WORDs, each with its
// mnemonic in a comment.
//
// Registers: V0..V3 = eight activations of rows 0..3, V4, V5 = one k's
// sixteen weights, V16..V31 = row r's channels 4j..4j+3 in V(16+4r+j).

// func q8GemmSumsNEON(a, w *int16, kp, nb int, sums *int32)
// writes each block's sums as [4 rows][16 channels] int32.
TEXT ·q8GemmSumsNEON(SB), NOSPLIT, $0-40
	MOVD a+0(FP), R0
	MOVD w+8(FP), R1
	MOVD kp+16(FP), R2
	MOVD nb+24(FP), R3
	MOVD sums+32(FP), R4
	LSL $1, R2, R5
	CBZ R3, done

block:
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
	VEOR V28.B16, V28.B16, V28.B16
	VEOR V29.B16, V29.B16, V29.B16
	VEOR V30.B16, V30.B16, V30.B16
	VEOR V31.B16, V31.B16, V31.B16
	MOVD R0, R6
	ADD R5, R6, R7
	ADD R5, R7, R8
	ADD R5, R8, R9
	MOVD R2, R10

kloop:
	VLD1.P 16(R6), [V0.H8]
	VLD1.P 16(R7), [V1.H8]
	VLD1.P 16(R8), [V2.H8]
	VLD1.P 16(R9), [V3.H8]
	VLD1.P 32(R1), [V4.H8, V5.H8]
	WORD $0x0f402090 // smlal v16.4s, v4.4h, v0.h[0]
	WORD $0x4f402091 // smlal2 v17.4s, v4.8h, v0.h[0]
	WORD $0x0f4020b2 // smlal v18.4s, v5.4h, v0.h[0]
	WORD $0x4f4020b3 // smlal2 v19.4s, v5.8h, v0.h[0]
	WORD $0x0f412094 // smlal v20.4s, v4.4h, v1.h[0]
	WORD $0x4f412095 // smlal2 v21.4s, v4.8h, v1.h[0]
	WORD $0x0f4120b6 // smlal v22.4s, v5.4h, v1.h[0]
	WORD $0x4f4120b7 // smlal2 v23.4s, v5.8h, v1.h[0]
	WORD $0x0f422098 // smlal v24.4s, v4.4h, v2.h[0]
	WORD $0x4f422099 // smlal2 v25.4s, v4.8h, v2.h[0]
	WORD $0x0f4220ba // smlal v26.4s, v5.4h, v2.h[0]
	WORD $0x4f4220bb // smlal2 v27.4s, v5.8h, v2.h[0]
	WORD $0x0f43209c // smlal v28.4s, v4.4h, v3.h[0]
	WORD $0x4f43209d // smlal2 v29.4s, v4.8h, v3.h[0]
	WORD $0x0f4320be // smlal v30.4s, v5.4h, v3.h[0]
	WORD $0x4f4320bf // smlal2 v31.4s, v5.8h, v3.h[0]
	VLD1.P 32(R1), [V4.H8, V5.H8]
	WORD $0x0f502090 // smlal v16.4s, v4.4h, v0.h[1]
	WORD $0x4f502091 // smlal2 v17.4s, v4.8h, v0.h[1]
	WORD $0x0f5020b2 // smlal v18.4s, v5.4h, v0.h[1]
	WORD $0x4f5020b3 // smlal2 v19.4s, v5.8h, v0.h[1]
	WORD $0x0f512094 // smlal v20.4s, v4.4h, v1.h[1]
	WORD $0x4f512095 // smlal2 v21.4s, v4.8h, v1.h[1]
	WORD $0x0f5120b6 // smlal v22.4s, v5.4h, v1.h[1]
	WORD $0x4f5120b7 // smlal2 v23.4s, v5.8h, v1.h[1]
	WORD $0x0f522098 // smlal v24.4s, v4.4h, v2.h[1]
	WORD $0x4f522099 // smlal2 v25.4s, v4.8h, v2.h[1]
	WORD $0x0f5220ba // smlal v26.4s, v5.4h, v2.h[1]
	WORD $0x4f5220bb // smlal2 v27.4s, v5.8h, v2.h[1]
	WORD $0x0f53209c // smlal v28.4s, v4.4h, v3.h[1]
	WORD $0x4f53209d // smlal2 v29.4s, v4.8h, v3.h[1]
	WORD $0x0f5320be // smlal v30.4s, v5.4h, v3.h[1]
	WORD $0x4f5320bf // smlal2 v31.4s, v5.8h, v3.h[1]
	VLD1.P 32(R1), [V4.H8, V5.H8]
	WORD $0x0f602090 // smlal v16.4s, v4.4h, v0.h[2]
	WORD $0x4f602091 // smlal2 v17.4s, v4.8h, v0.h[2]
	WORD $0x0f6020b2 // smlal v18.4s, v5.4h, v0.h[2]
	WORD $0x4f6020b3 // smlal2 v19.4s, v5.8h, v0.h[2]
	WORD $0x0f612094 // smlal v20.4s, v4.4h, v1.h[2]
	WORD $0x4f612095 // smlal2 v21.4s, v4.8h, v1.h[2]
	WORD $0x0f6120b6 // smlal v22.4s, v5.4h, v1.h[2]
	WORD $0x4f6120b7 // smlal2 v23.4s, v5.8h, v1.h[2]
	WORD $0x0f622098 // smlal v24.4s, v4.4h, v2.h[2]
	WORD $0x4f622099 // smlal2 v25.4s, v4.8h, v2.h[2]
	WORD $0x0f6220ba // smlal v26.4s, v5.4h, v2.h[2]
	WORD $0x4f6220bb // smlal2 v27.4s, v5.8h, v2.h[2]
	WORD $0x0f63209c // smlal v28.4s, v4.4h, v3.h[2]
	WORD $0x4f63209d // smlal2 v29.4s, v4.8h, v3.h[2]
	WORD $0x0f6320be // smlal v30.4s, v5.4h, v3.h[2]
	WORD $0x4f6320bf // smlal2 v31.4s, v5.8h, v3.h[2]
	VLD1.P 32(R1), [V4.H8, V5.H8]
	WORD $0x0f702090 // smlal v16.4s, v4.4h, v0.h[3]
	WORD $0x4f702091 // smlal2 v17.4s, v4.8h, v0.h[3]
	WORD $0x0f7020b2 // smlal v18.4s, v5.4h, v0.h[3]
	WORD $0x4f7020b3 // smlal2 v19.4s, v5.8h, v0.h[3]
	WORD $0x0f712094 // smlal v20.4s, v4.4h, v1.h[3]
	WORD $0x4f712095 // smlal2 v21.4s, v4.8h, v1.h[3]
	WORD $0x0f7120b6 // smlal v22.4s, v5.4h, v1.h[3]
	WORD $0x4f7120b7 // smlal2 v23.4s, v5.8h, v1.h[3]
	WORD $0x0f722098 // smlal v24.4s, v4.4h, v2.h[3]
	WORD $0x4f722099 // smlal2 v25.4s, v4.8h, v2.h[3]
	WORD $0x0f7220ba // smlal v26.4s, v5.4h, v2.h[3]
	WORD $0x4f7220bb // smlal2 v27.4s, v5.8h, v2.h[3]
	WORD $0x0f73209c // smlal v28.4s, v4.4h, v3.h[3]
	WORD $0x4f73209d // smlal2 v29.4s, v4.8h, v3.h[3]
	WORD $0x0f7320be // smlal v30.4s, v5.4h, v3.h[3]
	WORD $0x4f7320bf // smlal2 v31.4s, v5.8h, v3.h[3]
	VLD1.P 32(R1), [V4.H8, V5.H8]
	WORD $0x0f402890 // smlal v16.4s, v4.4h, v0.h[4]
	WORD $0x4f402891 // smlal2 v17.4s, v4.8h, v0.h[4]
	WORD $0x0f4028b2 // smlal v18.4s, v5.4h, v0.h[4]
	WORD $0x4f4028b3 // smlal2 v19.4s, v5.8h, v0.h[4]
	WORD $0x0f412894 // smlal v20.4s, v4.4h, v1.h[4]
	WORD $0x4f412895 // smlal2 v21.4s, v4.8h, v1.h[4]
	WORD $0x0f4128b6 // smlal v22.4s, v5.4h, v1.h[4]
	WORD $0x4f4128b7 // smlal2 v23.4s, v5.8h, v1.h[4]
	WORD $0x0f422898 // smlal v24.4s, v4.4h, v2.h[4]
	WORD $0x4f422899 // smlal2 v25.4s, v4.8h, v2.h[4]
	WORD $0x0f4228ba // smlal v26.4s, v5.4h, v2.h[4]
	WORD $0x4f4228bb // smlal2 v27.4s, v5.8h, v2.h[4]
	WORD $0x0f43289c // smlal v28.4s, v4.4h, v3.h[4]
	WORD $0x4f43289d // smlal2 v29.4s, v4.8h, v3.h[4]
	WORD $0x0f4328be // smlal v30.4s, v5.4h, v3.h[4]
	WORD $0x4f4328bf // smlal2 v31.4s, v5.8h, v3.h[4]
	VLD1.P 32(R1), [V4.H8, V5.H8]
	WORD $0x0f502890 // smlal v16.4s, v4.4h, v0.h[5]
	WORD $0x4f502891 // smlal2 v17.4s, v4.8h, v0.h[5]
	WORD $0x0f5028b2 // smlal v18.4s, v5.4h, v0.h[5]
	WORD $0x4f5028b3 // smlal2 v19.4s, v5.8h, v0.h[5]
	WORD $0x0f512894 // smlal v20.4s, v4.4h, v1.h[5]
	WORD $0x4f512895 // smlal2 v21.4s, v4.8h, v1.h[5]
	WORD $0x0f5128b6 // smlal v22.4s, v5.4h, v1.h[5]
	WORD $0x4f5128b7 // smlal2 v23.4s, v5.8h, v1.h[5]
	WORD $0x0f522898 // smlal v24.4s, v4.4h, v2.h[5]
	WORD $0x4f522899 // smlal2 v25.4s, v4.8h, v2.h[5]
	WORD $0x0f5228ba // smlal v26.4s, v5.4h, v2.h[5]
	WORD $0x4f5228bb // smlal2 v27.4s, v5.8h, v2.h[5]
	WORD $0x0f53289c // smlal v28.4s, v4.4h, v3.h[5]
	WORD $0x4f53289d // smlal2 v29.4s, v4.8h, v3.h[5]
	WORD $0x0f5328be // smlal v30.4s, v5.4h, v3.h[5]
	WORD $0x4f5328bf // smlal2 v31.4s, v5.8h, v3.h[5]
	VLD1.P 32(R1), [V4.H8, V5.H8]
	WORD $0x0f602890 // smlal v16.4s, v4.4h, v0.h[6]
	WORD $0x4f602891 // smlal2 v17.4s, v4.8h, v0.h[6]
	WORD $0x0f6028b2 // smlal v18.4s, v5.4h, v0.h[6]
	WORD $0x4f6028b3 // smlal2 v19.4s, v5.8h, v0.h[6]
	WORD $0x0f612894 // smlal v20.4s, v4.4h, v1.h[6]
	WORD $0x4f612895 // smlal2 v21.4s, v4.8h, v1.h[6]
	WORD $0x0f6128b6 // smlal v22.4s, v5.4h, v1.h[6]
	WORD $0x4f6128b7 // smlal2 v23.4s, v5.8h, v1.h[6]
	WORD $0x0f622898 // smlal v24.4s, v4.4h, v2.h[6]
	WORD $0x4f622899 // smlal2 v25.4s, v4.8h, v2.h[6]
	WORD $0x0f6228ba // smlal v26.4s, v5.4h, v2.h[6]
	WORD $0x4f6228bb // smlal2 v27.4s, v5.8h, v2.h[6]
	WORD $0x0f63289c // smlal v28.4s, v4.4h, v3.h[6]
	WORD $0x4f63289d // smlal2 v29.4s, v4.8h, v3.h[6]
	WORD $0x0f6328be // smlal v30.4s, v5.4h, v3.h[6]
	WORD $0x4f6328bf // smlal2 v31.4s, v5.8h, v3.h[6]
	VLD1.P 32(R1), [V4.H8, V5.H8]
	WORD $0x0f702890 // smlal v16.4s, v4.4h, v0.h[7]
	WORD $0x4f702891 // smlal2 v17.4s, v4.8h, v0.h[7]
	WORD $0x0f7028b2 // smlal v18.4s, v5.4h, v0.h[7]
	WORD $0x4f7028b3 // smlal2 v19.4s, v5.8h, v0.h[7]
	WORD $0x0f712894 // smlal v20.4s, v4.4h, v1.h[7]
	WORD $0x4f712895 // smlal2 v21.4s, v4.8h, v1.h[7]
	WORD $0x0f7128b6 // smlal v22.4s, v5.4h, v1.h[7]
	WORD $0x4f7128b7 // smlal2 v23.4s, v5.8h, v1.h[7]
	WORD $0x0f722898 // smlal v24.4s, v4.4h, v2.h[7]
	WORD $0x4f722899 // smlal2 v25.4s, v4.8h, v2.h[7]
	WORD $0x0f7228ba // smlal v26.4s, v5.4h, v2.h[7]
	WORD $0x4f7228bb // smlal2 v27.4s, v5.8h, v2.h[7]
	WORD $0x0f73289c // smlal v28.4s, v4.4h, v3.h[7]
	WORD $0x4f73289d // smlal2 v29.4s, v4.8h, v3.h[7]
	WORD $0x0f7328be // smlal v30.4s, v5.4h, v3.h[7]
	WORD $0x4f7328bf // smlal2 v31.4s, v5.8h, v3.h[7]
	SUBS $8, R10, R10
	BNE kloop
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R4)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R4)
	VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R4)
	VST1.P [V28.S4, V29.S4, V30.S4, V31.S4], 64(R4)
	SUBS $1, R3, R3
	BNE block

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

// func q8GemmSDotNEON(a, w *byte, kp, nb int, sums *int32)
TEXT ·q8GemmSDotNEON(SB), NOSPLIT, $0-40
	MOVD a+0(FP), R0
	MOVD w+8(FP), R1
	MOVD kp+16(FP), R2
	MOVD nb+24(FP), R3
	MOVD sums+32(FP), R4
	CBZ R3, sdotdone

sdotblock:
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
	VEOR V28.B16, V28.B16, V28.B16
	VEOR V29.B16, V29.B16, V29.B16
	VEOR V30.B16, V30.B16, V30.B16
	VEOR V31.B16, V31.B16, V31.B16
	MOVD R0, R6
	ADD R2, R6, R7
	ADD R2, R7, R8
	ADD R2, R8, R9
	MOVD R2, R10

sdotkloop:
	VLD1.P 16(R6), [V0.B16]
	VLD1.P 16(R7), [V1.B16]
	VLD1.P 16(R8), [V2.B16]
	VLD1.P 16(R9), [V3.B16]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	WORD $0x4f80e090 // sdot v16.4s, v4.16b, v0.4b[0]
	WORD $0x4f80e0b1 // sdot v17.4s, v5.16b, v0.4b[0]
	WORD $0x4f80e0d2 // sdot v18.4s, v6.16b, v0.4b[0]
	WORD $0x4f80e0f3 // sdot v19.4s, v7.16b, v0.4b[0]
	WORD $0x4f81e094 // sdot v20.4s, v4.16b, v1.4b[0]
	WORD $0x4f81e0b5 // sdot v21.4s, v5.16b, v1.4b[0]
	WORD $0x4f81e0d6 // sdot v22.4s, v6.16b, v1.4b[0]
	WORD $0x4f81e0f7 // sdot v23.4s, v7.16b, v1.4b[0]
	WORD $0x4f82e098 // sdot v24.4s, v4.16b, v2.4b[0]
	WORD $0x4f82e0b9 // sdot v25.4s, v5.16b, v2.4b[0]
	WORD $0x4f82e0da // sdot v26.4s, v6.16b, v2.4b[0]
	WORD $0x4f82e0fb // sdot v27.4s, v7.16b, v2.4b[0]
	WORD $0x4f83e09c // sdot v28.4s, v4.16b, v3.4b[0]
	WORD $0x4f83e0bd // sdot v29.4s, v5.16b, v3.4b[0]
	WORD $0x4f83e0de // sdot v30.4s, v6.16b, v3.4b[0]
	WORD $0x4f83e0ff // sdot v31.4s, v7.16b, v3.4b[0]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	WORD $0x4fa0e090 // sdot v16.4s, v4.16b, v0.4b[1]
	WORD $0x4fa0e0b1 // sdot v17.4s, v5.16b, v0.4b[1]
	WORD $0x4fa0e0d2 // sdot v18.4s, v6.16b, v0.4b[1]
	WORD $0x4fa0e0f3 // sdot v19.4s, v7.16b, v0.4b[1]
	WORD $0x4fa1e094 // sdot v20.4s, v4.16b, v1.4b[1]
	WORD $0x4fa1e0b5 // sdot v21.4s, v5.16b, v1.4b[1]
	WORD $0x4fa1e0d6 // sdot v22.4s, v6.16b, v1.4b[1]
	WORD $0x4fa1e0f7 // sdot v23.4s, v7.16b, v1.4b[1]
	WORD $0x4fa2e098 // sdot v24.4s, v4.16b, v2.4b[1]
	WORD $0x4fa2e0b9 // sdot v25.4s, v5.16b, v2.4b[1]
	WORD $0x4fa2e0da // sdot v26.4s, v6.16b, v2.4b[1]
	WORD $0x4fa2e0fb // sdot v27.4s, v7.16b, v2.4b[1]
	WORD $0x4fa3e09c // sdot v28.4s, v4.16b, v3.4b[1]
	WORD $0x4fa3e0bd // sdot v29.4s, v5.16b, v3.4b[1]
	WORD $0x4fa3e0de // sdot v30.4s, v6.16b, v3.4b[1]
	WORD $0x4fa3e0ff // sdot v31.4s, v7.16b, v3.4b[1]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	WORD $0x4f80e890 // sdot v16.4s, v4.16b, v0.4b[2]
	WORD $0x4f80e8b1 // sdot v17.4s, v5.16b, v0.4b[2]
	WORD $0x4f80e8d2 // sdot v18.4s, v6.16b, v0.4b[2]
	WORD $0x4f80e8f3 // sdot v19.4s, v7.16b, v0.4b[2]
	WORD $0x4f81e894 // sdot v20.4s, v4.16b, v1.4b[2]
	WORD $0x4f81e8b5 // sdot v21.4s, v5.16b, v1.4b[2]
	WORD $0x4f81e8d6 // sdot v22.4s, v6.16b, v1.4b[2]
	WORD $0x4f81e8f7 // sdot v23.4s, v7.16b, v1.4b[2]
	WORD $0x4f82e898 // sdot v24.4s, v4.16b, v2.4b[2]
	WORD $0x4f82e8b9 // sdot v25.4s, v5.16b, v2.4b[2]
	WORD $0x4f82e8da // sdot v26.4s, v6.16b, v2.4b[2]
	WORD $0x4f82e8fb // sdot v27.4s, v7.16b, v2.4b[2]
	WORD $0x4f83e89c // sdot v28.4s, v4.16b, v3.4b[2]
	WORD $0x4f83e8bd // sdot v29.4s, v5.16b, v3.4b[2]
	WORD $0x4f83e8de // sdot v30.4s, v6.16b, v3.4b[2]
	WORD $0x4f83e8ff // sdot v31.4s, v7.16b, v3.4b[2]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	WORD $0x4fa0e890 // sdot v16.4s, v4.16b, v0.4b[3]
	WORD $0x4fa0e8b1 // sdot v17.4s, v5.16b, v0.4b[3]
	WORD $0x4fa0e8d2 // sdot v18.4s, v6.16b, v0.4b[3]
	WORD $0x4fa0e8f3 // sdot v19.4s, v7.16b, v0.4b[3]
	WORD $0x4fa1e894 // sdot v20.4s, v4.16b, v1.4b[3]
	WORD $0x4fa1e8b5 // sdot v21.4s, v5.16b, v1.4b[3]
	WORD $0x4fa1e8d6 // sdot v22.4s, v6.16b, v1.4b[3]
	WORD $0x4fa1e8f7 // sdot v23.4s, v7.16b, v1.4b[3]
	WORD $0x4fa2e898 // sdot v24.4s, v4.16b, v2.4b[3]
	WORD $0x4fa2e8b9 // sdot v25.4s, v5.16b, v2.4b[3]
	WORD $0x4fa2e8da // sdot v26.4s, v6.16b, v2.4b[3]
	WORD $0x4fa2e8fb // sdot v27.4s, v7.16b, v2.4b[3]
	WORD $0x4fa3e89c // sdot v28.4s, v4.16b, v3.4b[3]
	WORD $0x4fa3e8bd // sdot v29.4s, v5.16b, v3.4b[3]
	WORD $0x4fa3e8de // sdot v30.4s, v6.16b, v3.4b[3]
	WORD $0x4fa3e8ff // sdot v31.4s, v7.16b, v3.4b[3]
	SUBS $16, R10, R10
	BNE sdotkloop
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R4)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R4)
	VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R4)
	VST1.P [V28.S4, V29.S4, V30.S4, V31.S4], 64(R4)
	SUBS $1, R3, R3
	BNE sdotblock

sdotdone:
	RET

// func q8GemmUDotNEON(a, w *byte, kp, nb int, sums *int32)
TEXT ·q8GemmUDotNEON(SB), NOSPLIT, $0-40
	MOVD a+0(FP), R0
	MOVD w+8(FP), R1
	MOVD kp+16(FP), R2
	MOVD nb+24(FP), R3
	MOVD sums+32(FP), R4
	CBZ R3, udotdone

udotblock:
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
	VEOR V28.B16, V28.B16, V28.B16
	VEOR V29.B16, V29.B16, V29.B16
	VEOR V30.B16, V30.B16, V30.B16
	VEOR V31.B16, V31.B16, V31.B16
	MOVD R0, R6
	ADD R2, R6, R7
	ADD R2, R7, R8
	ADD R2, R8, R9
	MOVD R2, R10

udotkloop:
	VLD1.P 16(R6), [V0.B16]
	VLD1.P 16(R7), [V1.B16]
	VLD1.P 16(R8), [V2.B16]
	VLD1.P 16(R9), [V3.B16]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	WORD $0x6f80e090 // udot v16.4s, v4.16b, v0.4b[0]
	WORD $0x6f80e0b1 // udot v17.4s, v5.16b, v0.4b[0]
	WORD $0x6f80e0d2 // udot v18.4s, v6.16b, v0.4b[0]
	WORD $0x6f80e0f3 // udot v19.4s, v7.16b, v0.4b[0]
	WORD $0x6f81e094 // udot v20.4s, v4.16b, v1.4b[0]
	WORD $0x6f81e0b5 // udot v21.4s, v5.16b, v1.4b[0]
	WORD $0x6f81e0d6 // udot v22.4s, v6.16b, v1.4b[0]
	WORD $0x6f81e0f7 // udot v23.4s, v7.16b, v1.4b[0]
	WORD $0x6f82e098 // udot v24.4s, v4.16b, v2.4b[0]
	WORD $0x6f82e0b9 // udot v25.4s, v5.16b, v2.4b[0]
	WORD $0x6f82e0da // udot v26.4s, v6.16b, v2.4b[0]
	WORD $0x6f82e0fb // udot v27.4s, v7.16b, v2.4b[0]
	WORD $0x6f83e09c // udot v28.4s, v4.16b, v3.4b[0]
	WORD $0x6f83e0bd // udot v29.4s, v5.16b, v3.4b[0]
	WORD $0x6f83e0de // udot v30.4s, v6.16b, v3.4b[0]
	WORD $0x6f83e0ff // udot v31.4s, v7.16b, v3.4b[0]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	WORD $0x6fa0e090 // udot v16.4s, v4.16b, v0.4b[1]
	WORD $0x6fa0e0b1 // udot v17.4s, v5.16b, v0.4b[1]
	WORD $0x6fa0e0d2 // udot v18.4s, v6.16b, v0.4b[1]
	WORD $0x6fa0e0f3 // udot v19.4s, v7.16b, v0.4b[1]
	WORD $0x6fa1e094 // udot v20.4s, v4.16b, v1.4b[1]
	WORD $0x6fa1e0b5 // udot v21.4s, v5.16b, v1.4b[1]
	WORD $0x6fa1e0d6 // udot v22.4s, v6.16b, v1.4b[1]
	WORD $0x6fa1e0f7 // udot v23.4s, v7.16b, v1.4b[1]
	WORD $0x6fa2e098 // udot v24.4s, v4.16b, v2.4b[1]
	WORD $0x6fa2e0b9 // udot v25.4s, v5.16b, v2.4b[1]
	WORD $0x6fa2e0da // udot v26.4s, v6.16b, v2.4b[1]
	WORD $0x6fa2e0fb // udot v27.4s, v7.16b, v2.4b[1]
	WORD $0x6fa3e09c // udot v28.4s, v4.16b, v3.4b[1]
	WORD $0x6fa3e0bd // udot v29.4s, v5.16b, v3.4b[1]
	WORD $0x6fa3e0de // udot v30.4s, v6.16b, v3.4b[1]
	WORD $0x6fa3e0ff // udot v31.4s, v7.16b, v3.4b[1]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	WORD $0x6f80e890 // udot v16.4s, v4.16b, v0.4b[2]
	WORD $0x6f80e8b1 // udot v17.4s, v5.16b, v0.4b[2]
	WORD $0x6f80e8d2 // udot v18.4s, v6.16b, v0.4b[2]
	WORD $0x6f80e8f3 // udot v19.4s, v7.16b, v0.4b[2]
	WORD $0x6f81e894 // udot v20.4s, v4.16b, v1.4b[2]
	WORD $0x6f81e8b5 // udot v21.4s, v5.16b, v1.4b[2]
	WORD $0x6f81e8d6 // udot v22.4s, v6.16b, v1.4b[2]
	WORD $0x6f81e8f7 // udot v23.4s, v7.16b, v1.4b[2]
	WORD $0x6f82e898 // udot v24.4s, v4.16b, v2.4b[2]
	WORD $0x6f82e8b9 // udot v25.4s, v5.16b, v2.4b[2]
	WORD $0x6f82e8da // udot v26.4s, v6.16b, v2.4b[2]
	WORD $0x6f82e8fb // udot v27.4s, v7.16b, v2.4b[2]
	WORD $0x6f83e89c // udot v28.4s, v4.16b, v3.4b[2]
	WORD $0x6f83e8bd // udot v29.4s, v5.16b, v3.4b[2]
	WORD $0x6f83e8de // udot v30.4s, v6.16b, v3.4b[2]
	WORD $0x6f83e8ff // udot v31.4s, v7.16b, v3.4b[2]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	WORD $0x6fa0e890 // udot v16.4s, v4.16b, v0.4b[3]
	WORD $0x6fa0e8b1 // udot v17.4s, v5.16b, v0.4b[3]
	WORD $0x6fa0e8d2 // udot v18.4s, v6.16b, v0.4b[3]
	WORD $0x6fa0e8f3 // udot v19.4s, v7.16b, v0.4b[3]
	WORD $0x6fa1e894 // udot v20.4s, v4.16b, v1.4b[3]
	WORD $0x6fa1e8b5 // udot v21.4s, v5.16b, v1.4b[3]
	WORD $0x6fa1e8d6 // udot v22.4s, v6.16b, v1.4b[3]
	WORD $0x6fa1e8f7 // udot v23.4s, v7.16b, v1.4b[3]
	WORD $0x6fa2e898 // udot v24.4s, v4.16b, v2.4b[3]
	WORD $0x6fa2e8b9 // udot v25.4s, v5.16b, v2.4b[3]
	WORD $0x6fa2e8da // udot v26.4s, v6.16b, v2.4b[3]
	WORD $0x6fa2e8fb // udot v27.4s, v7.16b, v2.4b[3]
	WORD $0x6fa3e89c // udot v28.4s, v4.16b, v3.4b[3]
	WORD $0x6fa3e8bd // udot v29.4s, v5.16b, v3.4b[3]
	WORD $0x6fa3e8de // udot v30.4s, v6.16b, v3.4b[3]
	WORD $0x6fa3e8ff // udot v31.4s, v7.16b, v3.4b[3]
	SUBS $16, R10, R10
	BNE udotkloop
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R4)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R4)
	VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R4)
	VST1.P [V28.S4, V29.S4, V30.S4, V31.S4], 64(R4)
	SUBS $1, R3, R3
	BNE udotblock

udotdone:
	RET

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
