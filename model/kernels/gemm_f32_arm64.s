#include "textflag.h"

// Float matrix product tiles for NEON: a [k][4] panel of four rows against
// blocks of sixteen channels laid out [k][16], as f32GemmAVX2 does on
// amd64. Every output is summed in k order with fused multiply-adds (FMLA
// by element): Go compiles the generic kernel's c += a*b to FMADD on
// arm64 (unlike amd64, where the AVX2 kernel multiplies and adds
// separately), then the bias is added and the activation clamped, so the
// results are bit for bit the generic kernel's. Go's assembler lacks the
// vector float instructions: they are WORDs with their mnemonic in a
// comment.
//
// Registers: V0–V15 the 4×16 sums (row r in V4r…V4r+3), V16–V19 one step
// of weights, V20 one step of the panel (the four rows' values), V30/V31
// the activation's low and high bounds.

// func f32GemmNEON(a, w *float32, k, nb int, bias, lohi, out *float32, stride int)
TEXT ·f32GemmNEON(SB), NOSPLIT, $0-64
	MOVD a+0(FP), R0
	MOVD w+8(FP), R1
	MOVD k+16(FP), R2
	MOVD nb+24(FP), R3
	MOVD bias+32(FP), R4
	MOVD lohi+40(FP), R5
	MOVD out+48(FP), R6
	MOVD stride+56(FP), R7
	LSL $2, R7, R7
	VLD1R (R5), [V30.S4]
	ADD $4, R5, R5
	VLD1R (R5), [V31.S4]
	CBZ R3, done
	CBZ R2, done

block:
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
	MOVD R0, R9
	MOVD R2, R10

kloop:
	VLD1.P 64(R1), [V16.S4, V17.S4, V18.S4, V19.S4]
	VLD1.P 16(R9), [V20.S4]
	WORD $0x4f941200 // fmla v0.4s, v16.4s, v20.s[0]
	WORD $0x4f941221 // fmla v1.4s, v17.4s, v20.s[0]
	WORD $0x4f941242 // fmla v2.4s, v18.4s, v20.s[0]
	WORD $0x4f941263 // fmla v3.4s, v19.4s, v20.s[0]
	WORD $0x4fb41204 // fmla v4.4s, v16.4s, v20.s[1]
	WORD $0x4fb41225 // fmla v5.4s, v17.4s, v20.s[1]
	WORD $0x4fb41246 // fmla v6.4s, v18.4s, v20.s[1]
	WORD $0x4fb41267 // fmla v7.4s, v19.4s, v20.s[1]
	WORD $0x4f941a08 // fmla v8.4s, v16.4s, v20.s[2]
	WORD $0x4f941a29 // fmla v9.4s, v17.4s, v20.s[2]
	WORD $0x4f941a4a // fmla v10.4s, v18.4s, v20.s[2]
	WORD $0x4f941a6b // fmla v11.4s, v19.4s, v20.s[2]
	WORD $0x4fb41a0c // fmla v12.4s, v16.4s, v20.s[3]
	WORD $0x4fb41a2d // fmla v13.4s, v17.4s, v20.s[3]
	WORD $0x4fb41a4e // fmla v14.4s, v18.4s, v20.s[3]
	WORD $0x4fb41a6f // fmla v15.4s, v19.4s, v20.s[3]
	SUBS $1, R10, R10
	BNE kloop

	VLD1.P 64(R4), [V16.S4, V17.S4, V18.S4, V19.S4]
	WORD $0x4e30d400 // fadd v0.4s, v0.4s, v16.4s
	WORD $0x4e31d421 // fadd v1.4s, v1.4s, v17.4s
	WORD $0x4e32d442 // fadd v2.4s, v2.4s, v18.4s
	WORD $0x4e33d463 // fadd v3.4s, v3.4s, v19.4s
	WORD $0x4e30d484 // fadd v4.4s, v4.4s, v16.4s
	WORD $0x4e31d4a5 // fadd v5.4s, v5.4s, v17.4s
	WORD $0x4e32d4c6 // fadd v6.4s, v6.4s, v18.4s
	WORD $0x4e33d4e7 // fadd v7.4s, v7.4s, v19.4s
	WORD $0x4e30d508 // fadd v8.4s, v8.4s, v16.4s
	WORD $0x4e31d529 // fadd v9.4s, v9.4s, v17.4s
	WORD $0x4e32d54a // fadd v10.4s, v10.4s, v18.4s
	WORD $0x4e33d56b // fadd v11.4s, v11.4s, v19.4s
	WORD $0x4e30d58c // fadd v12.4s, v12.4s, v16.4s
	WORD $0x4e31d5ad // fadd v13.4s, v13.4s, v17.4s
	WORD $0x4e32d5ce // fadd v14.4s, v14.4s, v18.4s
	WORD $0x4e33d5ef // fadd v15.4s, v15.4s, v19.4s
	WORD $0x4e3ef400 // fmax v0.4s, v0.4s, v30.4s
	WORD $0x4e3ef421 // fmax v1.4s, v1.4s, v30.4s
	WORD $0x4e3ef442 // fmax v2.4s, v2.4s, v30.4s
	WORD $0x4e3ef463 // fmax v3.4s, v3.4s, v30.4s
	WORD $0x4e3ef484 // fmax v4.4s, v4.4s, v30.4s
	WORD $0x4e3ef4a5 // fmax v5.4s, v5.4s, v30.4s
	WORD $0x4e3ef4c6 // fmax v6.4s, v6.4s, v30.4s
	WORD $0x4e3ef4e7 // fmax v7.4s, v7.4s, v30.4s
	WORD $0x4e3ef508 // fmax v8.4s, v8.4s, v30.4s
	WORD $0x4e3ef529 // fmax v9.4s, v9.4s, v30.4s
	WORD $0x4e3ef54a // fmax v10.4s, v10.4s, v30.4s
	WORD $0x4e3ef56b // fmax v11.4s, v11.4s, v30.4s
	WORD $0x4e3ef58c // fmax v12.4s, v12.4s, v30.4s
	WORD $0x4e3ef5ad // fmax v13.4s, v13.4s, v30.4s
	WORD $0x4e3ef5ce // fmax v14.4s, v14.4s, v30.4s
	WORD $0x4e3ef5ef // fmax v15.4s, v15.4s, v30.4s
	WORD $0x4ebff400 // fmin v0.4s, v0.4s, v31.4s
	WORD $0x4ebff421 // fmin v1.4s, v1.4s, v31.4s
	WORD $0x4ebff442 // fmin v2.4s, v2.4s, v31.4s
	WORD $0x4ebff463 // fmin v3.4s, v3.4s, v31.4s
	WORD $0x4ebff484 // fmin v4.4s, v4.4s, v31.4s
	WORD $0x4ebff4a5 // fmin v5.4s, v5.4s, v31.4s
	WORD $0x4ebff4c6 // fmin v6.4s, v6.4s, v31.4s
	WORD $0x4ebff4e7 // fmin v7.4s, v7.4s, v31.4s
	WORD $0x4ebff508 // fmin v8.4s, v8.4s, v31.4s
	WORD $0x4ebff529 // fmin v9.4s, v9.4s, v31.4s
	WORD $0x4ebff54a // fmin v10.4s, v10.4s, v31.4s
	WORD $0x4ebff56b // fmin v11.4s, v11.4s, v31.4s
	WORD $0x4ebff58c // fmin v12.4s, v12.4s, v31.4s
	WORD $0x4ebff5ad // fmin v13.4s, v13.4s, v31.4s
	WORD $0x4ebff5ce // fmin v14.4s, v14.4s, v31.4s
	WORD $0x4ebff5ef // fmin v15.4s, v15.4s, v31.4s
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R6)
	ADD R7, R6, R11
	VST1 [V4.S4, V5.S4, V6.S4, V7.S4], (R11)
	ADD R7, R11, R11
	VST1 [V8.S4, V9.S4, V10.S4, V11.S4], (R11)
	ADD R7, R11, R11
	VST1 [V12.S4, V13.S4, V14.S4, V15.S4], (R11)
	ADD $64, R6, R6
	SUBS $1, R3, R3
	BNE block

done:
	RET
