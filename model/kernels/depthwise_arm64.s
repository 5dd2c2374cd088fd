#include "textflag.h"

// Depthwise rows for NEON, sixteen and then four channels at a time, with
// the same arguments and arithmetic as depthwise_amd64.s. The 8-bit rows
// run the exact float path (depthwise_fast.go): exact integer sums in
// float32 (FMLA), converted back to int32 (FCVTNS, exact), the per-channel
// constant added, and the runtime requantization. Instructions Go's
// assembler lacks are WORDs with their mnemonic in a comment.

#define A_X 0
#define A_XSTEP 8
#define A_PIXELS 16
#define A_W 24
#define A_TAPS 32
#define A_NTAPS 40
#define A_C 48
#define A_CBIG 56
#define A_CVEC 64
#define A_CC 72
#define A_SCALE 80
#define A_RQ 88
#define A_OUT 96
#define A_OSTEP 104

// Macros for the channel loops of dwRowQ8NEON (R0 = args, R9 = channel).

// DWCHANNELS leaves for NEXT once the channel reaches LIMIT(R0).
#define DWCHANNELS(LIMIT, NEXT) \
	MOVD LIMIT(R0), R10 \
	CMP R10, R9 \
	BGE NEXT

// DWTAPS starts a channel step: weights (R11), the tap offset table (R12),
// the tap count (R13) and the input pixel at this channel (R14).
#define DWTAPS \
	MOVD A_W(R0), R11 \
	ADD R9<<2, R11, R11 \
	MOVD A_TAPS(R0), R12 \
	MOVD A_NTAPS(R0), R13 \
	ADD R9<<2, R5, R14

// DWTAP points R20 at the next tap's input.
#define DWTAP \
	MOVD.P 8(R12), R19 \
	ADD R19, R14, R20

// DWNEXTTAP moves to the next tap's weights, looping to LOOP.
#define DWNEXTTAP(LOOP) \
	ADD R8, R11, R11 \
	SUBS $1, R13, R13 \
	BNE LOOP

// DWCHANNEL points R20 at this channel's int32 entry of the array at
// OFF(R0).
#define DWCHANNEL(OFF) \
	MOVD OFF(R0), R20 \
	ADD R9<<2, R20, R20

// DWZERO16 clears the sums of sixteen channels, V0–V3.
#define DWZERO16 \
	VEOR V0.B16, V0.B16, V0.B16 \
	VEOR V1.B16, V1.B16, V1.B16 \
	VEOR V2.B16, V2.B16, V2.B16 \
	VEOR V3.B16, V3.B16, V3.B16

// DWMAC16 adds one tap's products of sixteen channels to V0–V3 (FMLA).
#define DWMAC16 \
	DWTAP \
	VLD1 (R20), [V4.S4, V5.S4, V6.S4, V7.S4] \
	VLD1 (R11), [V8.S4, V9.S4, V10.S4, V11.S4] \
	VFMLA V8.S4, V4.S4, V0.S4 \
	VFMLA V9.S4, V5.S4, V1.S4 \
	VFMLA V10.S4, V6.S4, V2.S4 \
	VFMLA V11.S4, V7.S4, V3.S4

// func dwRowQ8NEON(a *dwRowArgs)
TEXT ·dwRowQ8NEON(SB), NOSPLIT, $0-8
	MOVD a+0(FP), R0
	MOVD A_RQ(R0), R1
	MOVW (R1), R2
	MOVW 4(R1), R3
	MOVW 8(R1), R4
	SUBW R2, R3, R3
	SUBW R2, R4, R4
	VDUP R3, V21.S4
	VDUP R4, V22.S4
	VDUP R2, V23.S4
	MOVD A_X(R0), R5
	MOVD A_OUT(R0), R6
	MOVD A_PIXELS(R0), R7
	MOVD A_C(R0), R8
	LSL $2, R8, R8
	CBZ R7, done

pixel:
	MOVD $0, R9

c16:
	DWCHANNELS(A_CBIG, c4)
	DWZERO16
	DWTAPS

tap16:
	DWMAC16
	DWNEXTTAP(tap16)
	DWCHANNEL(A_CC)
	VLD1 (R20), [V12.S4, V13.S4, V14.S4, V15.S4]
	DWCHANNEL(A_SCALE)
	VLD1 (R20), [V16.S4, V17.S4, V18.S4, V19.S4]
	WORD $0x4e21a800 // fcvtns v0.4s, v0.4s
	WORD $0x4e21a821 // fcvtns v1.4s, v1.4s
	WORD $0x4e21a842 // fcvtns v2.4s, v2.4s
	WORD $0x4e21a863 // fcvtns v3.4s, v3.4s
	VADD V12.S4, V0.S4, V0.S4
	VADD V13.S4, V1.S4, V1.S4
	VADD V14.S4, V2.S4, V2.S4
	VADD V15.S4, V3.S4, V3.S4
	WORD $0x4e21d800 // scvtf v0.4s, v0.4s
	WORD $0x4e21d821 // scvtf v1.4s, v1.4s
	WORD $0x4e21d842 // scvtf v2.4s, v2.4s
	WORD $0x4e21d863 // scvtf v3.4s, v3.4s
	WORD $0x6e30dc00 // fmul v0.4s, v0.4s, v16.4s
	WORD $0x6e31dc21 // fmul v1.4s, v1.4s, v17.4s
	WORD $0x6e32dc42 // fmul v2.4s, v2.4s, v18.4s
	WORD $0x6e33dc63 // fmul v3.4s, v3.4s, v19.4s
	WORD $0x4e21a800 // fcvtns v0.4s, v0.4s
	WORD $0x4e21a821 // fcvtns v1.4s, v1.4s
	WORD $0x4e21a842 // fcvtns v2.4s, v2.4s
	WORD $0x4e21a863 // fcvtns v3.4s, v3.4s
	WORD $0x4eb56400 // smax v0.4s, v0.4s, v21.4s
	WORD $0x4eb56421 // smax v1.4s, v1.4s, v21.4s
	WORD $0x4eb56442 // smax v2.4s, v2.4s, v21.4s
	WORD $0x4eb56463 // smax v3.4s, v3.4s, v21.4s
	WORD $0x4eb66c00 // smin v0.4s, v0.4s, v22.4s
	WORD $0x4eb66c21 // smin v1.4s, v1.4s, v22.4s
	WORD $0x4eb66c42 // smin v2.4s, v2.4s, v22.4s
	WORD $0x4eb66c63 // smin v3.4s, v3.4s, v22.4s
	VADD V23.S4, V0.S4, V0.S4
	VADD V23.S4, V1.S4, V1.S4
	VADD V23.S4, V2.S4, V2.S4
	VADD V23.S4, V3.S4, V3.S4
	WORD $0x0e612800 // xtn v0.4h, v0.4s
	WORD $0x4e612820 // xtn2 v0.8h, v1.4s
	WORD $0x0e612842 // xtn v2.4h, v2.4s
	WORD $0x4e612862 // xtn2 v2.8h, v3.4s
	WORD $0x0e212800 // xtn v0.8b, v0.8h
	WORD $0x4e212840 // xtn2 v0.16b, v2.8h
	ADD R9, R6, R20
	VST1 [V0.B16], (R20)
	ADD $16, R9, R9
	B c16

c4:
	DWCHANNELS(A_CVEC, next)
	VEOR V0.B16, V0.B16, V0.B16
	DWTAPS

tap4:
	DWTAP
	VLD1 (R20), [V4.S4]
	VLD1 (R11), [V8.S4]
	VFMLA V8.S4, V4.S4, V0.S4
	DWNEXTTAP(tap4)
	DWCHANNEL(A_CC)
	VLD1 (R20), [V12.S4]
	DWCHANNEL(A_SCALE)
	VLD1 (R20), [V16.S4]
	WORD $0x4e21a800 // fcvtns v0.4s, v0.4s
	VADD V12.S4, V0.S4, V0.S4
	WORD $0x4e21d800 // scvtf v0.4s, v0.4s
	WORD $0x6e30dc00 // fmul v0.4s, v0.4s, v16.4s
	WORD $0x4e21a800 // fcvtns v0.4s, v0.4s
	WORD $0x4eb56400 // smax v0.4s, v0.4s, v21.4s
	WORD $0x4eb66c00 // smin v0.4s, v0.4s, v22.4s
	VADD V23.S4, V0.S4, V0.S4
	WORD $0x0e612800 // xtn v0.4h, v0.4s
	WORD $0x0e212800 // xtn v0.8b, v0.8h
	ADD R9, R6, R20
	FMOVS F0, (R20)
	ADD $4, R9, R9
	B c4

next:
	MOVD A_XSTEP(R0), R20
	ADD R20, R5, R5
	MOVD A_OSTEP(R0), R20
	ADD R20, R6, R6
	SUBS $1, R7, R7
	BNE pixel

done:
	RET

#define A_BIAS 112
#define A_LOHI 120
#define A_OUTF 128

// func dwRowF32NEON(a *dwRowArgs)
// is dwRowQ8NEON for float data: each channel summed tap by tap with fused
// multiply-adds (FMLA, as Go compiles the generic kernel's a += x*w on
// arm64), then the bias added and the activation clamped.
TEXT ·dwRowF32NEON(SB), NOSPLIT, $0-8
	MOVD a+0(FP), R0
	MOVD A_LOHI(R0), R1
	VLD1R (R1), [V30.S4]
	ADD $4, R1, R1
	VLD1R (R1), [V31.S4]
	MOVD A_X(R0), R5
	MOVD A_OUTF(R0), R6
	MOVD A_PIXELS(R0), R7
	MOVD A_C(R0), R8
	LSL $2, R8, R8
	CBZ R7, fdone

fpixel:
	MOVD $0, R9

fc16:
	DWCHANNELS(A_CBIG, fc4)
	DWZERO16
	DWTAPS

ftap16:
	DWMAC16
	DWNEXTTAP(ftap16)
	DWCHANNEL(A_BIAS)
	VLD1 (R20), [V12.S4, V13.S4, V14.S4, V15.S4]
	WORD $0x4e2cd400 // fadd v0.4s, v0.4s, v12.4s
	WORD $0x4e2dd421 // fadd v1.4s, v1.4s, v13.4s
	WORD $0x4e2ed442 // fadd v2.4s, v2.4s, v14.4s
	WORD $0x4e2fd463 // fadd v3.4s, v3.4s, v15.4s
	WORD $0x4e3ef400 // fmax v0.4s, v0.4s, v30.4s
	WORD $0x4e3ef421 // fmax v1.4s, v1.4s, v30.4s
	WORD $0x4e3ef442 // fmax v2.4s, v2.4s, v30.4s
	WORD $0x4e3ef463 // fmax v3.4s, v3.4s, v30.4s
	WORD $0x4ebff400 // fmin v0.4s, v0.4s, v31.4s
	WORD $0x4ebff421 // fmin v1.4s, v1.4s, v31.4s
	WORD $0x4ebff442 // fmin v2.4s, v2.4s, v31.4s
	WORD $0x4ebff463 // fmin v3.4s, v3.4s, v31.4s
	ADD R9<<2, R6, R20
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R20)
	ADD $16, R9, R9
	B fc16

fc4:
	DWCHANNELS(A_CVEC, fnext)
	VEOR V0.B16, V0.B16, V0.B16
	DWTAPS

ftap4:
	DWTAP
	VLD1 (R20), [V4.S4]
	VLD1 (R11), [V8.S4]
	VFMLA V8.S4, V4.S4, V0.S4
	DWNEXTTAP(ftap4)
	DWCHANNEL(A_BIAS)
	VLD1 (R20), [V12.S4]
	WORD $0x4e2cd400 // fadd v0.4s, v0.4s, v12.4s
	WORD $0x4e3ef400 // fmax v0.4s, v0.4s, v30.4s
	WORD $0x4ebff400 // fmin v0.4s, v0.4s, v31.4s
	ADD R9<<2, R6, R20
	VST1 [V0.S4], (R20)
	ADD $4, R9, R9
	B fc4

fnext:
	MOVD A_XSTEP(R0), R20
	ADD R20, R5, R5
	MOVD A_OSTEP(R0), R20
	ADD R20, R6, R6
	SUBS $1, R7, R7
	BNE fpixel

fdone:
	RET

// func dwFillNEON(dst *float32, src *byte, n int, signed bool) converts
// n bytes (a multiple of 16) to float32, sixteen a step: widened twice
// (USHLL, or SSHLL for int8), then converted (UCVTF/SCVTF, exact).
TEXT ·dwFillNEON(SB), NOSPLIT, $0-25
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
	MOVBU signed+24(FP), R3
	CBZ R2, fdone

floop:
	VLD1.P 16(R1), [V0.B16]
	CBNZ R3, fsigned
	WORD $0x2f08a401 // ushll v1.8h, v0.8b, #0
	WORD $0x6f08a402 // ushll2 v2.8h, v0.16b, #0
	WORD $0x2f10a423 // ushll v3.4s, v1.4h, #0
	WORD $0x6f10a424 // ushll2 v4.4s, v1.8h, #0
	WORD $0x2f10a445 // ushll v5.4s, v2.4h, #0
	WORD $0x6f10a446 // ushll2 v6.4s, v2.8h, #0
	WORD $0x6e21d863 // ucvtf v3.4s, v3.4s
	WORD $0x6e21d884 // ucvtf v4.4s, v4.4s
	WORD $0x6e21d8a5 // ucvtf v5.4s, v5.4s
	WORD $0x6e21d8c6 // ucvtf v6.4s, v6.4s
	B fstore

fsigned:
	WORD $0x0f08a401 // sshll v1.8h, v0.8b, #0
	WORD $0x4f08a402 // sshll2 v2.8h, v0.16b, #0
	WORD $0x0f10a423 // sshll v3.4s, v1.4h, #0
	WORD $0x4f10a424 // sshll2 v4.4s, v1.8h, #0
	WORD $0x0f10a445 // sshll v5.4s, v2.4h, #0
	WORD $0x4f10a446 // sshll2 v6.4s, v2.8h, #0
	WORD $0x4e21d863 // scvtf v3.4s, v3.4s
	WORD $0x4e21d884 // scvtf v4.4s, v4.4s
	WORD $0x4e21d8a5 // scvtf v5.4s, v5.4s
	WORD $0x4e21d8c6 // scvtf v6.4s, v6.4s

fstore:
	VST1.P [V3.S4, V4.S4, V5.S4, V6.S4], 64(R0)
	SUBS $16, R2, R2
	BNE floop

fdone:
	RET
