#include "textflag.h"

// Float32 binary elementwise arithmetic for NEON, eight lanes (two
// vectors) a step: func ewF32Run(code int, dst, x, y *float32, n, xinc,
// yinc int), as on amd64 (elementwise_f32_amd64.s). Go's assembler lacks
// the vector float instructions: they are WORDs with their mnemonic in a
// comment. MAXIMUM and MINIMUM are a compare and a bitwise select, which
// is ewMax's and ewMin's rule for ties and NaNs (the second operand unless
// the first is strictly greater, resp. smaller); FMAX would return NaN.
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

store:
	VST1.P [V4.S4, V5.S4], 32(R0)
	ADD R4, R1, R1
	ADD R5, R2, R2
	SUBS $1, R3, R3
	BNE loop

done:
	RET
