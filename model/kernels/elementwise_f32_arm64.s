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

// func ewF32UnaryRun(code int, dst, x *float32, n int, p *[4]float32)
// runs the one-input ops of ewF32UnaryCode eight lanes (V0, V1 → V2, V3)
// a step. FMAX and FMIN are Go's max and min (NaN propagates, −0 below
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

ustore:
	VST1.P [V2.S4, V3.S4], 32(R0)
	SUBS $1, R3, R3
	BNE uloop

udone:
	RET
