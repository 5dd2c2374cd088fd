#include "textflag.h"

// Float32 binary elementwise arithmetic for NEON, eight lanes (two
// vectors) a step: func ewF32Run(code int, dst, x, y *float32, n, xinc,
// yinc int), as on amd64 (elementwise_f32_amd64.s). Go's assembler lacks
// the vector float instructions: they are WORDs with their mnemonic in a
// comment. MAXIMUM and MINIMUM are a compare and a bitwise select, which
// is ewMax's and ewMin's rule for ties and NaNs (the second operand unless
// the first is strictly greater, resp. smaller); FMAX would return NaN.
// Code 7 is PRELU.
// TWO is one operation on both halves of the step (two instructions),
// then a branch to NEXT.
#define TWO(FIRST, SECOND, NEXT) WORD FIRST; WORD SECOND; B NEXT

TEXT ·ewF32Run(SB), NOSPLIT, $0-56
	MOVD code+0(FP), R10
	MOVD dst+8(FP), R0
	MOVD x+16(FP), R1
	MOVD y+24(FP), R2
	MOVD n+32(FP), R3
	MOVD xinc+40(FP), R4
	MOVD yinc+48(FP), R5
	LSR $3, R3, R3
	CBZ R3, done

loop:
	VLD1 (R1), [V0.S4, V1.S4]
	VLD1 (R2), [V2.S4, V3.S4]
	CMP $1, R10
	BEQ sub
	CMP $2, R10
	BEQ mul
	CMP $3, R10
	BEQ div
	CMP $4, R10
	BEQ max
	CMP $5, R10
	BEQ min
	CMP $6, R10
	BEQ sqdiff
	CMP $7, R10
	BEQ prelu
	TWO($0x4e22d404, $0x4e23d425, store) // fadd v4/v5.4s, v0/v1.4s, v2/v3.4s

sub:	TWO($0x4ea2d404, $0x4ea3d425, store) // fsub v4/v5.4s, v0/v1.4s, v2/v3.4s

mul:	TWO($0x6e22dc04, $0x6e23dc25, store) // fmul v4/v5.4s, v0/v1.4s, v2/v3.4s

div:	TWO($0x6e22fc04, $0x6e23fc25, store) // fdiv v4/v5.4s, v0/v1.4s, v2/v3.4s

max:	TWO($0x6ea2e404, $0x6ea3e425, select) // fcmgt v4/v5.4s, v0/v1.4s, v2/v3.4s

min:	TWO($0x6ea0e444, $0x6ea1e465, select) // fcmgt v4/v5.4s, v2/v3.4s, v0/v1.4s

select:	TWO($0x6e621c04, $0x6e631c25, store) // bsl v4/v5.16b, v0/v1.16b, v2/v3.16b

sqdiff:
	WORD $0x4ea2d404 // fsub v4.4s, v0.4s, v2.4s
	WORD $0x4ea3d425 // fsub v5.4s, v1.4s, v3.4s
	WORD $0x6e24dc84 // fmul v4.4s, v4.4s, v4.4s
	WORD $0x6e25dca5 // fmul v5.4s, v5.4s, v5.4s
	B store

// prelu: x where x ≥ 0, else x·alpha (NaN compares false: its product).
prelu:
	WORD $0x6e22dc04 // fmul v4.4s, v0.4s, v2.4s
	WORD $0x6e23dc25 // fmul v5.4s, v1.4s, v3.4s
	WORD $0x6ea0c806 // fcmge v6.4s, v0.4s, #0.0
	WORD $0x6ea0c827 // fcmge v7.4s, v1.4s, #0.0
	WORD $0x6ea61c04 // bit v4.16b, v0.16b, v6.16b
	WORD $0x6ea71c25 // bit v5.16b, v1.16b, v7.16b

store:
	VST1.P [V4.S4, V5.S4], 32(R0)
	ADD R4, R1, R1
	ADD R5, R2, R2
	SUBS $1, R3, R3
	BNE loop

done:
	RET

// exp, logistic, tanh and softmax's exponentials are exp32, logistic32,
// tanh32 and ewSoftmaxF32's (exp_f32.go, softmax.go) step for step, four
// lanes at a time. EXP32 computes V3's lanes into V12 (NaN lanes return
// V3's) with V4–V7 as temporaries; the constants are in V16–V31 and
// V10–V14 (tanh's polynomial). EXPOP, LOGISTIC, TANH and SMEXP take x in
// V0 and leave the result in V2; tanh overwrites V8, V12 and V15, which
// only the other codes read. HALVES runs one of them on V0 → V2, then
// V1 → V3 (free while one runs).
#define EXP32 \
	WORD $0x4e30f464 /* fmax v4.4s, v3.4s, v16.4s */ \
	WORD $0x4eb1f484 /* fmin v4.4s, v4.4s, v17.4s */ \
	WORD $0x6e32dc85 /* fmul v5.4s, v4.4s, v18.4s */ \
	WORD $0x4e2188a5 /* frintn v5.4s, v5.4s */ \
	WORD $0x6e33dca7 /* fmul v7.4s, v5.4s, v19.4s */ \
	WORD $0x4ea7d484 /* fsub v4.4s, v4.4s, v7.4s */ \
	WORD $0x6e34dca7 /* fmul v7.4s, v5.4s, v20.4s */ \
	WORD $0x4ea7d484 /* fsub v4.4s, v4.4s, v7.4s */ \
	WORD $0x6e35dc86 /* fmul v6.4s, v4.4s, v21.4s */ \
	WORD $0x4e36d4c6 /* fadd v6.4s, v6.4s, v22.4s */ \
	WORD $0x6e24dcc6 /* fmul v6.4s, v6.4s, v4.4s */ \
	WORD $0x4e37d4c6 /* fadd v6.4s, v6.4s, v23.4s */ \
	WORD $0x6e24dcc6 /* fmul v6.4s, v6.4s, v4.4s */ \
	WORD $0x4e38d4c6 /* fadd v6.4s, v6.4s, v24.4s */ \
	WORD $0x6e24dcc6 /* fmul v6.4s, v6.4s, v4.4s */ \
	WORD $0x4e39d4c6 /* fadd v6.4s, v6.4s, v25.4s */ \
	WORD $0x6e24dcc6 /* fmul v6.4s, v6.4s, v4.4s */ \
	WORD $0x4e3ad4c6 /* fadd v6.4s, v6.4s, v26.4s */ \
	WORD $0x6e24dc87 /* fmul v7.4s, v4.4s, v4.4s */ \
	WORD $0x6e27dcc6 /* fmul v6.4s, v6.4s, v7.4s */ \
	WORD $0x4e24d4c6 /* fadd v6.4s, v6.4s, v4.4s */ \
	WORD $0x4e3ed4c6 /* fadd v6.4s, v6.4s, v30.4s */ \
	WORD $0x4ea1b8a5 /* fcvtzs v5.4s, v5.4s */ \
	WORD $0x4f3f04a7 /* sshr v7.4s, v5.4s, #1 */ \
	WORD $0x6ea784a5 /* sub v5.4s, v5.4s, v7.4s */ \
	WORD $0x4ebb84e7 /* add v7.4s, v7.4s, v27.4s */ \
	WORD $0x4f3754e7 /* shl v7.4s, v7.4s, #23 */ \
	WORD $0x4ebb84a5 /* add v5.4s, v5.4s, v27.4s */ \
	WORD $0x4f3754a5 /* shl v5.4s, v5.4s, #23 */ \
	WORD $0x6e27dcc6 /* fmul v6.4s, v6.4s, v7.4s */ \
	WORD $0x6e25dcc6 /* fmul v6.4s, v6.4s, v5.4s */ \
	WORD $0x4e23e46c /* fcmeq v12.4s, v3.4s, v3.4s */ \
	WORD $0x6e631ccc /* bsl v12.16b, v6.16b, v3.16b */

#define EXPOP \
	VORR V0.B16, V0.B16, V3.B16 \
	EXP32 \
	VORR V12.B16, V12.B16, V2.B16

#define LOGISTIC \
	WORD $0x6ea0f803 /* fneg v3.4s, v0.4s */ \
	EXP32 \
	WORD $0x4e3ed58c /* fadd v12.4s, v12.4s, v30.4s */ \
	WORD $0x6e2cffc2 /* fdiv v2.4s, v30.4s, v12.4s */

#define TANH \
	WORD $0x4ea0f808 /* fabs v8.4s, v0.4s */ \
	WORD $0x4e28d503 /* fadd v3.4s, v8.4s, v8.4s */ \
	EXP32 \
	WORD $0x4e3ed58c /* fadd v12.4s, v12.4s, v30.4s */ \
	WORD $0x6e2cffac /* fdiv v12.4s, v29.4s, v12.4s */ \
	WORD $0x4eacd7cc /* fsub v12.4s, v30.4s, v12.4s */ \
	WORD $0x6e28dd0f /* fmul v15.4s, v8.4s, v8.4s */ \
	WORD $0x6e2adde4 /* fmul v4.4s, v15.4s, v10.4s */ \
	WORD $0x4e2bd484 /* fadd v4.4s, v4.4s, v11.4s */ \
	WORD $0x6e2fdc84 /* fmul v4.4s, v4.4s, v15.4s */ \
	WORD $0x4e2dd484 /* fadd v4.4s, v4.4s, v13.4s */ \
	WORD $0x6e2fdc84 /* fmul v4.4s, v4.4s, v15.4s */ \
	WORD $0x4e2ed484 /* fadd v4.4s, v4.4s, v14.4s */ \
	WORD $0x6e2fdc84 /* fmul v4.4s, v4.4s, v15.4s */ \
	WORD $0x4e3fd484 /* fadd v4.4s, v4.4s, v31.4s */ \
	WORD $0x6e2fdc84 /* fmul v4.4s, v4.4s, v15.4s */ \
	WORD $0x6e28dc84 /* fmul v4.4s, v4.4s, v8.4s */ \
	WORD $0x4e28d484 /* fadd v4.4s, v4.4s, v8.4s */ \
	WORD $0x6ea8e785 /* fcmgt v5.4s, v28.4s, v8.4s */ \
	WORD $0x6e6c1c85 /* bsl v5.16b, v4.16b, v12.16b */ \
	WORD $0x4f046407 /* movi v7.4s, #0x80, lsl #24 */ \
	WORD $0x4e271c06 /* and v6.16b, v0.16b, v7.16b */ \
	WORD $0x4ea61ca2 /* orr v2.16b, v5.16b, v6.16b */

#define SMEXP \
	WORD $0x4ea8d403 /* fsub v3.4s, v0.4s, v8.4s */ \
	WORD $0x6e29dc63 /* fmul v3.4s, v3.4s, v9.4s */ \
	EXP32 \
	VORR V12.B16, V12.B16, V2.B16

#define HALVES(OP) \
	OP \
	VORR V1.B16, V1.B16, V0.B16 \
	VORR V2.B16, V2.B16, V1.B16 \
	OP \
	VORR V2.B16, V2.B16, V3.B16 \
	VORR V1.B16, V1.B16, V2.B16

// func ewF32UnaryRun(code int, dst, x *float32, n int, p *[4]float32)
// runs the one-input ops of ewF32UnaryCode eight lanes (V0, V1 → V2, V3)
// a step, its argument block at R4 (constants loaded once, below). FMAX and FMIN are Go's max and min (NaN propagates, −0 below
// +0): Go compiles those builtins to them here.
TEXT ·ewF32UnaryRun(SB), NOSPLIT, $0-40
	MOVD code+0(FP), R10
	MOVD dst+8(FP), R0
	MOVD x+16(FP), R1
	MOVD n+24(FP), R3
	MOVD p+32(FP), R4
	VLD1R (R4), [V8.S4]
	ADD $4, R4, R5
	VLD1R (R5), [V9.S4]
	VEOR V12.B16, V12.B16, V12.B16
	ADD $16, R4, R5
	VLD1R (R5), [V16.S4]
	ADD $20, R4, R5
	VLD1R (R5), [V17.S4]
	ADD $24, R4, R5
	VLD1R (R5), [V18.S4]
	ADD $28, R4, R5
	VLD1R (R5), [V19.S4]
	ADD $32, R4, R5
	VLD1R (R5), [V20.S4]
	ADD $36, R4, R5
	VLD1R (R5), [V21.S4]
	ADD $40, R4, R5
	VLD1R (R5), [V22.S4]
	ADD $44, R4, R5
	VLD1R (R5), [V23.S4]
	ADD $48, R4, R5
	VLD1R (R5), [V24.S4]
	ADD $52, R4, R5
	VLD1R (R5), [V25.S4]
	ADD $56, R4, R5
	VLD1R (R5), [V26.S4]
	ADD $60, R4, R5
	VLD1R (R5), [V27.S4]
	ADD $64, R4, R5
	VLD1R (R5), [V28.S4]
	ADD $88, R4, R5
	VLD1R (R5), [V29.S4]
	ADD $12, R4, R5
	VLD1R (R5), [V30.S4]
	ADD $68, R4, R5
	VLD1R (R5), [V10.S4]
	ADD $72, R4, R5
	VLD1R (R5), [V11.S4]
	ADD $76, R4, R5
	VLD1R (R5), [V13.S4]
	ADD $80, R4, R5
	VLD1R (R5), [V14.S4]
	ADD $84, R4, R5
	VLD1R (R5), [V31.S4]
	WORD $0x6f03f60f // fmov v15.2d, #1.0
	LSR $3, R3, R3
	CBZ R3, udone

uloop:
	VLD1.P 32(R1), [V0.S4, V1.S4]
	CMP $1, R10
	BEQ leaky
	CMP $2, R10
	BEQ abs
	CMP $3, R10
	BEQ neg
	CMP $4, R10
	BEQ hardswish
	CMP $5, R10
	BEQ sqrt
	CMP $6, R10
	BEQ rsqrt
	CMP $7, R10
	BEQ exp
	CMP $8, R10
	BEQ logistic
	CMP $9, R10
	BEQ tanh
	CMP $10, R10
	BEQ smexp
	WORD $0x4e28f402 // fmax v2.4s, v0.4s, v8.4s
	WORD $0x4e28f423 // fmax v3.4s, v1.4s, v8.4s
	WORD $0x4ea9f442 // fmin v2.4s, v2.4s, v9.4s
	WORD $0x4ea9f463 // fmin v3.4s, v3.4s, v9.4s
	B ustore

leaky:
	WORD $0x4ea0e802 // fcmlt v2.4s, v0.4s, #0.0
	WORD $0x4ea0e823 // fcmlt v3.4s, v1.4s, #0.0
	WORD $0x6e28dc04 // fmul v4.4s, v0.4s, v8.4s
	WORD $0x6e28dc25 // fmul v5.4s, v1.4s, v8.4s
	WORD $0x6e601c82 // bsl v2.16b, v4.16b, v0.16b
	WORD $0x6e611ca3 // bsl v3.16b, v5.16b, v1.16b
	B ustore

abs:
	WORD $0x4ea0f802 // fabs v2.4s, v0.4s
	WORD $0x4ea0f823 // fabs v3.4s, v1.4s
	B ustore

neg:
	WORD $0x6ea0f802 // fneg v2.4s, v0.4s
	WORD $0x6ea0f823 // fneg v3.4s, v1.4s
	B ustore

// hardswish: x·min(max(x+3, 0), 6)/6.
hardswish:
	WORD $0x4e28d404 // fadd v4.4s, v0.4s, v8.4s
	WORD $0x4e28d425 // fadd v5.4s, v1.4s, v8.4s
	WORD $0x4e2cf484 // fmax v4.4s, v4.4s, v12.4s
	WORD $0x4e2cf4a5 // fmax v5.4s, v5.4s, v12.4s
	WORD $0x4ea9f484 // fmin v4.4s, v4.4s, v9.4s
	WORD $0x4ea9f4a5 // fmin v5.4s, v5.4s, v9.4s
	WORD $0x6e24dc04 // fmul v4.4s, v0.4s, v4.4s
	WORD $0x6e25dc25 // fmul v5.4s, v1.4s, v5.4s
	WORD $0x6e29fc82 // fdiv v2.4s, v4.4s, v9.4s
	WORD $0x6e29fca3 // fdiv v3.4s, v5.4s, v9.4s
	B ustore

sqrt:
	WORD $0x6ea1f802 // fsqrt v2.4s, v0.4s
	WORD $0x6ea1f823 // fsqrt v3.4s, v1.4s
	B ustore

// rsqrt: 1/sqrt in float64, rounded once to float32, as ewRsqrt.
rsqrt:
	WORD $0x0e617804 // fcvtl v4.2d, v0.2s
	WORD $0x4e617805 // fcvtl2 v5.2d, v0.4s
	WORD $0x0e617826 // fcvtl v6.2d, v1.2s
	WORD $0x4e617827 // fcvtl2 v7.2d, v1.4s
	WORD $0x6ee1f884 // fsqrt v4.2d, v4.2d
	WORD $0x6ee1f8a5 // fsqrt v5.2d, v5.2d
	WORD $0x6ee1f8c6 // fsqrt v6.2d, v6.2d
	WORD $0x6ee1f8e7 // fsqrt v7.2d, v7.2d
	WORD $0x6e64fde4 // fdiv v4.2d, v15.2d, v4.2d
	WORD $0x6e65fde5 // fdiv v5.2d, v15.2d, v5.2d
	WORD $0x6e66fde6 // fdiv v6.2d, v15.2d, v6.2d
	WORD $0x6e67fde7 // fdiv v7.2d, v15.2d, v7.2d
	WORD $0x0e616882 // fcvtn v2.2s, v4.2d
	WORD $0x4e6168a2 // fcvtn2 v2.4s, v5.2d
	WORD $0x0e6168c3 // fcvtn v3.2s, v6.2d
	WORD $0x4e6168e3 // fcvtn2 v3.4s, v7.2d
	B ustore

exp:
	HALVES(EXPOP)
	B ustore

logistic:
	HALVES(LOGISTIC)
	B ustore

tanh:
	HALVES(TANH)
	B ustore

// smexp: exp32((x − p0)·p1), softmax's exponentials.
smexp:
	HALVES(SMEXP)

ustore:
	VST1.P [V2.S4, V3.S4], 32(R0)
	SUBS $1, R3, R3
	BNE uloop

udone:
	RET
