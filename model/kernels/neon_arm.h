// Macros shared by gemm_q8_arm.s and depthwise_arm.s. Go's 32-bit ARM
// assembler has no NEON, so each instruction is a WORD built from its
// fields; the mnemonic is in the macro's comment.

// NQD, NQN and NQM place quad register q (0..15) in the destination,
// first and second operand fields of an instruction.
#define NQD(q) (((2*(q))&15)<<12 | ((2*(q))>>4)<<22)
#define NQN(q) (((2*(q))&15)<<16 | ((2*(q))>>4)<<7)
#define NQM(q) (((2*(q))&15) | ((2*(q))>>4)<<5)

// vcvt.f32.s32 qQ, qQ
#define VCVTFS(Q) WORD $(0xf3bb0640 | NQD(Q) | NQM(Q))
// vcvt.s32.f32 qQ, qQ (toward zero, saturating)
#define VCVTSF(Q) WORD $(0xf3bb0740 | NQD(Q) | NQM(Q))
// vadd.i32 qQ, qQ, qS
#define VADDI(Q, S) WORD $(0xf2200840 | NQD(Q) | NQN(Q) | NQM(S))
// vmul.f32 qQ, qQ, qS
#define VMULF(Q, S) WORD $(0xf3000d50 | NQD(Q) | NQN(Q) | NQM(S))
// vadd.f32 qQ, qQ, qS
#define VADDF(Q, S) WORD $(0xf2000d40 | NQD(Q) | NQN(Q) | NQM(S))
// vsub.f32 qQ, qQ, qS
#define VSUBF(Q, S) WORD $(0xf2200d40 | NQD(Q) | NQN(Q) | NQM(S))
// vmax.s32 qQ, qQ, qS
#define VMAXS(Q, S) WORD $(0xf2200640 | NQD(Q) | NQN(Q) | NQM(S))
// vmin.s32 qQ, qQ, qS
#define VMINS(Q, S) WORD $(0xf2200650 | NQD(Q) | NQN(Q) | NQM(S))

// RQSETUP loads the runtime requantization's constants from the
// q8Requant at R12: q12 = lo − zp, q13 = hi − zp, q14 = zp and q15 =
// 1.5·2²³, which rounds a float32 below 2²² in magnitude to an integer,
// half to even, when added and subtracted (ARMv7 has no rounding
// conversion). It uses R7..R9 and R12:
//	vdup.32 q12, r8
//	vdup.32 q13, r9
//	vdup.32 q14, r7
//	vdup.32 q15, r12
#define RQSETUP \
	MOVW 0(R12), R7 \
	MOVW 4(R12), R8 \
	MOVW 8(R12), R9 \
	SUB R7, R8, R8 \
	SUB R7, R9, R9 \
	MOVW $0x4b400000, R12 \
	WORD $0xeea88b90 \
	WORD $0xeeaa9b90 \
	WORD $0xeeac7b90 \
	WORD $0xeeaecb90

// REQUANT2 requantizes the int32 sums in qA and qB (the per-channel
// constant added) with the scales in qSA and qSB: converted to float32,
// one multiply, rounded half to even (a magnitude of 2²² or more clamps
// anyway, and VCVT saturates), clamped and offset by the zero point — the
// generic kernel's float32 operations, so the same bytes. NEON flushes
// subnormal floats to zero, which changes no rounded result: products
// that small round to zero either way. Two registers at a time hide the
// latency of each step on in-order cores.
#define REQUANT2(A, SA, B, SB) \
	VCVTFS(A) \
	VCVTFS(B) \
	VMULF(A, SA) \
	VMULF(B, SB) \
	VADDF(A, 15) \
	VADDF(B, 15) \
	VSUBF(A, 15) \
	VSUBF(B, 15) \
	VCVTSF(A) \
	VCVTSF(B) \
	VMAXS(A, 12) \
	VMAXS(B, 12) \
	VMINS(A, 13) \
	VMINS(B, 13) \
	VADDI(A, 14) \
	VADDI(B, 14)

// NARROW8 packs the low bytes of q0 and q1 into d0:
//	vmovn.i32 d0, q0
//	vmovn.i32 d1, q1
//	vmovn.i16 d0, q0
#define NARROW8 \
	WORD $0xf3b60200 \
	WORD $0xf3b61202 \
	WORD $0xf3b20200
