#include "go_asm.h"
#include "textflag.h"
#include "neon_arm.h"

// Depthwise rows for 32-bit ARM NEON: the 8-bit rows of
// depthwise_wide.go, sixteen and then four channels at a time, with the
// arithmetic of depthwise_arm64.s. The sums are exact integers in float32
// (VMLA.F32; exact, so neither ARMv7's unfused multiply-add nor its
// flushing of subnormals can change them), converted to int32, the
// per-channel constant added, and the runtime requantization as in
// gemm_q8_arm.s (REQUANT2, neon_arm.h). Go's 32-bit ARM assembler has no
// NEON: the instructions are WORDs with their mnemonic in a comment.
// dwRowArgs' offsets come from go_asm.h.
//
// Registers: R0 = args, R1 = weights of this channel step, R2 = tap offset
// table, R3 = taps left, R4 = the pixel's input at this channel, R5 = the
// pixel's first tap, R6 = the pixel's output, R7 = pixels left, R8 = the
// weights' tap stride (c·4 bytes), R9 = channel; q12 = lo − zp, q13 = hi −
// zp, q14 = zp, q15 = 1.5·2²³.

// DWTAPS starts a channel step: weights, tap table, tap count and the
// input pixel at this channel.
#define DWTAPS \
	MOVW dwRowArgs_w(R0), R1 \
	ADD R9<<2, R1, R1 \
	MOVW dwRowArgs_taps(R0), R2 \
	MOVW dwRowArgs_ntaps(R0), R3 \
	ADD R9<<2, R5, R4

// DWTAP points R12 at the next tap's input.
#define DWTAP \
	MOVW.P 4(R2), R12 \
	ADD R12, R4, R12

// DWCHANNEL points R12 at this channel's entry of the array at field F.
#define DWCHANNEL(F) \
	MOVW F(R0), R12 \
	ADD R9<<2, R12, R12

// func dwRowQ8NEON(a *dwRowArgs)
TEXT ·dwRowQ8NEON(SB), NOSPLIT, $0-4
	MOVW a+0(FP), R0
	MOVW dwRowArgs_rq(R0), R12
	RQSETUP
	MOVW dwRowArgs_x(R0), R5
	MOVW dwRowArgs_out(R0), R6
	MOVW dwRowArgs_pixels(R0), R7
	MOVW dwRowArgs_c(R0), R8
	MOVW R8<<2, R8
	CMP $0, R7
	BEQ done

pixel:
	MOVW $0, R9

c16:
	MOVW dwRowArgs_c32(R0), R12
	CMP R12, R9
	BGE c4
	WORD $0xf3000150 // veor q0, q0, q0
	WORD $0xf3022152 // veor q1, q1, q1
	WORD $0xf3044154 // veor q2, q2, q2
	WORD $0xf3066156 // veor q3, q3, q3
	DWTAPS

tap16:
	DWTAP
	WORD $0xf42c828d // vld1.32 {d8, d9, d10, d11}, [r12]!
	WORD $0xf42cc28f // vld1.32 {d12, d13, d14, d15}, [r12]
	WORD $0xf461028d // vld1.32 {d16, d17, d18, d19}, [r1]!
	WORD $0xf461428f // vld1.32 {d20, d21, d22, d23}, [r1]
	SUB $32, R1, R1
	ADD R8, R1, R1
	WORD $0xf2080d70 // vmla.f32 q0, q4, q8
	WORD $0xf20a2d72 // vmla.f32 q1, q5, q9
	WORD $0xf20c4d74 // vmla.f32 q2, q6, q10
	WORD $0xf20e6d76 // vmla.f32 q3, q7, q11
	SUB.S $1, R3, R3
	BNE tap16
	DWCHANNEL(dwRowArgs_cc)
	WORD $0xf42c828d // vld1.32 {d8, d9, d10, d11}, [r12]!
	WORD $0xf42cc28f // vld1.32 {d12, d13, d14, d15}, [r12]
	DWCHANNEL(dwRowArgs_scale)
	WORD $0xf46c028d // vld1.32 {d16, d17, d18, d19}, [r12]!
	WORD $0xf46c428f // vld1.32 {d20, d21, d22, d23}, [r12]
	VCVTSF(0)
	VCVTSF(1)
	VCVTSF(2)
	VCVTSF(3)
	VADDI(0, 4)
	VADDI(1, 5)
	VADDI(2, 6)
	VADDI(3, 7)
	REQUANT2(0, 8, 1, 9)
	REQUANT2(2, 10, 3, 11)
	WORD $0xf3b60200 // vmovn.i32 d0, q0
	WORD $0xf3b61202 // vmovn.i32 d1, q1
	WORD $0xf3b64204 // vmovn.i32 d4, q2
	WORD $0xf3b65206 // vmovn.i32 d5, q3
	WORD $0xf3b20200 // vmovn.i16 d0, q0
	WORD $0xf3b21204 // vmovn.i16 d1, q2
	ADD R9, R6, R12
	WORD $0xf40c0a0f // vst1.8 {d0, d1}, [r12]
	ADD $16, R9, R9
	B c16

c4:
	MOVW dwRowArgs_c8(R0), R12
	CMP R12, R9
	BGE next
	WORD $0xf3000150 // veor q0, q0, q0
	DWTAPS

tap4:
	DWTAP
	WORD $0xf42c8a8f // vld1.32 {d8, d9}, [r12]
	WORD $0xf4610a8f // vld1.32 {d16, d17}, [r1]
	ADD R8, R1, R1
	WORD $0xf2080d70 // vmla.f32 q0, q4, q8
	SUB.S $1, R3, R3
	BNE tap4
	DWCHANNEL(dwRowArgs_cc)
	WORD $0xf42c8a8f // vld1.32 {d8, d9}, [r12]
	DWCHANNEL(dwRowArgs_scale)
	WORD $0xf46c0a8f // vld1.32 {d16, d17}, [r12]
	VCVTSF(0)
	VADDI(0, 4)
	REQUANT2(0, 8, 1, 9) // q1 and q9 hold no data here: their result is not stored
	WORD $0xf3b60200 // vmovn.i32 d0, q0
	WORD $0xf3b20200 // vmovn.i16 d0, q0
	ADD R9, R6, R12
	WORD $0xf48c080f // vst1.32 {d0[0]}, [r12]
	ADD $4, R9, R9
	B c4

next:
	MOVW dwRowArgs_xstep(R0), R12
	ADD R12, R5, R5
	MOVW dwRowArgs_ostep(R0), R12
	ADD R12, R6, R6
	SUB.S $1, R7, R7
	BNE pixel

done:
	RET

// FILL16(U, LOOP) converts sixteen bytes at R1, unsigned when U is 1 and
// signed when 0 (the U bit of VMOVL and the VCVT), into sixteen float32 at
// R0, and loops to LOOP while R2 counts down:
//	vld1.8 {d0, d1}, [r1]!
//	vmovl.[us]8 q1, d0; vmovl.[us]8 q2, d1
//	vmovl.[us]16 q8..q11, d2..d5
//	vcvt.f32.[us]32 q8..q11
//	vst1.32 {d16-d19}, [r0]!; vst1.32 {d20-d23}, [r0]!
#define FILL16(U, LOOP) \
	WORD $0xf4210a0d \
	WORD $(0xf2882a10 | (U)<<24) \
	WORD $(0xf2884a11 | (U)<<24) \
	WORD $(0xf2d00a12 | (U)<<24) \
	WORD $(0xf2d02a13 | (U)<<24) \
	WORD $(0xf2d04a14 | (U)<<24) \
	WORD $(0xf2d06a15 | (U)<<24) \
	WORD $(0xf3fb0660 | (U)<<7) \
	WORD $(0xf3fb2662 | (U)<<7) \
	WORD $(0xf3fb4664 | (U)<<7) \
	WORD $(0xf3fb6666 | (U)<<7) \
	WORD $0xf440028d \
	WORD $0xf440428d \
	SUB.S $16, R2, R2 \
	BNE LOOP

// func dwFillNEON(dst *float32, src *byte, n int, signed bool)
// converts n bytes (a multiple of 16), uint8 or int8, to float32.
TEXT ·dwFillNEON(SB), NOSPLIT, $0-13
	MOVW dst+0(FP), R0
	MOVW src+4(FP), R1
	MOVW n+8(FP), R2
	MOVBU signed+12(FP), R3
	CMP $0, R2
	BEQ filldone
	CMP $0, R3
	BNE fills

fillu:
	FILL16(1, fillu)
	RET

fills:
	FILL16(0, fills)

filldone:
	RET
