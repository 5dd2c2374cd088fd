#include "textflag.h"

// Float32 binary elementwise arithmetic for AVX2, eight lanes a step:
// func ewF32Run(code int, dst, x, y *float32, n, xinc, yinc int). n is a
// multiple of 8; xinc and yinc are the bytes x and y advance a step (32,
// or 0 for a broadcast operand the caller has written out eight times); code
// is one of the ewF32 codes (elementwise_f32_amd64.go), tested once a step
// (always the same way: the branch costs nothing next to the memory).
// Every lane is the IEEE operation the generic kernel computes; VMAXPS and
// VMINPS return their second source unless the first is strictly greater
// (smaller), which is ewMax's and ewMin's rule for ties and NaNs. Code 7
// is PRELU.
TEXT ·ewF32Run(SB), NOSPLIT, $0-56
	MOVQ code+0(FP), R10
	MOVQ dst+8(FP), DI
	MOVQ x+16(FP), SI
	MOVQ y+24(FP), DX
	MOVQ n+32(FP), CX
	MOVQ xinc+40(FP), R8
	MOVQ yinc+48(FP), R9
	SHRQ $3, CX
	JZ done

loop:
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y1
	CMPQ R10, $1
	JEQ sub
	CMPQ R10, $2
	JEQ mul
	CMPQ R10, $3
	JEQ div
	CMPQ R10, $4
	JEQ max
	CMPQ R10, $5
	JEQ min
	CMPQ R10, $6
	JEQ sqdiff
	CMPQ R10, $7
	JEQ prelu
	VADDPS Y1, Y0, Y2
	JMP store

sub:
	VSUBPS Y1, Y0, Y2
	JMP store

mul:
	VMULPS Y1, Y0, Y2
	JMP store

div:
	VDIVPS Y1, Y0, Y2
	JMP store

max:
	VMAXPS Y1, Y0, Y2
	JMP store

min:
	VMINPS Y1, Y0, Y2
	JMP store

sqdiff:
	VSUBPS Y1, Y0, Y2
	VMULPS Y2, Y2, Y2
	JMP store

// prelu: x where x ≥ 0, else x·alpha (NaN compares false: its product).
prelu:
	VMULPS Y1, Y0, Y2
	VXORPS Y3, Y3, Y3
	VCMPPS $0x0d, Y3, Y0, Y4 // x >= 0, ordered
	VBLENDVPS Y4, Y0, Y2, Y2

store:
	VMOVUPS Y2, (DI)
	ADDQ R8, SI
	ADDQ R9, DX
	ADDQ $32, DI
	DECQ CX
	JNZ loop

done:
	VZEROUPPER
	RET

// HORNER is one step of a polynomial P in X: P = P·X + the constant at
// OFF(R8), through T.
#define HORNER(X, P, T, OFF) \
	VMULPS X, P, P \
	VBROADCASTSS OFF(R8), T \
	VADDPS T, P, P

// EXP32 writes exp32 of X's lanes to Y2 (exp_f32.go, step for step), with
// the constants of the argument block at R8; it uses Y3–Y7 and Y10, and
// Y11 holds 1. NaN lanes return X's.
#define EXP32(X) \
	VBROADCASTSS 16(R8), Y3 \
	VMAXPS Y3, X, Y3 \
	VBROADCASTSS 20(R8), Y4 \
	VMINPS Y4, Y3, Y3 \
	VBROADCASTSS 24(R8), Y4 \
	VMULPS Y4, Y3, Y4 \
	VROUNDPS $0, Y4, Y4 \
	VBROADCASTSS 28(R8), Y5 \
	VMULPS Y5, Y4, Y5 \
	VSUBPS Y5, Y3, Y3 \
	VBROADCASTSS 32(R8), Y5 \
	VMULPS Y5, Y4, Y5 \
	VSUBPS Y5, Y3, Y3 \
	VBROADCASTSS 36(R8), Y5 \
	HORNER(Y3, Y5, Y6, 40) \
	HORNER(Y3, Y5, Y6, 44) \
	HORNER(Y3, Y5, Y6, 48) \
	HORNER(Y3, Y5, Y6, 52) \
	HORNER(Y3, Y5, Y6, 56) \
	VMULPS Y3, Y3, Y6 \
	VMULPS Y6, Y5, Y5 \
	VADDPS Y3, Y5, Y5 \
	VADDPS Y11, Y5, Y5 \
	VCVTPS2DQ Y4, Y6 \
	VPSRAD $1, Y6, Y7 \
	VPSUBD Y7, Y6, Y6 \
	VPBROADCASTD 60(R8), Y10 \
	VPADDD Y10, Y7, Y7 \
	VPSLLD $23, Y7, Y7 \
	VPADDD Y10, Y6, Y6 \
	VPSLLD $23, Y6, Y6 \
	VMULPS Y7, Y5, Y5 \
	VMULPS Y6, Y5, Y5 \
	VCMPPS $3, X, X, Y6 \
	VBLENDVPS Y6, X, Y5, Y2

// func ewF32UnaryRun(code int, dst, x *float32, n int, p *[4]float32)
// runs the one-input ops of ewF32UnaryCode eight lanes a step. Go's min
// and max propagate NaN and order −0 below +0; VMAXPS and VMINPS return
// their second source for a NaN or a tie of zeros, so a clamp is
// max(x, lo) and then min(·, hi) with the bound second (which gives +0
// for max(−0, 0)), and lanes where x is NaN take x back.
TEXT ·ewF32UnaryRun(SB), NOSPLIT, $0-40
	MOVQ code+0(FP), R10
	MOVQ dst+8(FP), DI
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	MOVQ p+32(FP), R8
	VBROADCASTSS (R8), Y8
	VBROADCASTSS 4(R8), Y9
	VBROADCASTSS 12(R8), Y11
	VCVTPS2PD X11, Y15 // 1.0 in float64 lanes
	VXORPS Y12, Y12, Y12
	VPCMPEQD Y13, Y13, Y13
	VPSLLD $31, Y13, Y14 // sign bits
	VPSRLD $1, Y13, Y13 // all but the sign bits
	SHRQ $3, CX
	JZ udone

uloop:
	VMOVUPS (SI), Y0
	CMPQ R10, $1
	JEQ leaky
	CMPQ R10, $2
	JEQ abs
	CMPQ R10, $3
	JEQ neg
	CMPQ R10, $4
	JEQ hardswish
	CMPQ R10, $5
	JEQ sqrt
	CMPQ R10, $6
	JEQ rsqrt
	CMPQ R10, $7
	JEQ exp
	CMPQ R10, $8
	JEQ logistic
	CMPQ R10, $9
	JEQ tanh
	CMPQ R10, $10
	JEQ smexp
	VMAXPS Y8, Y0, Y2
	VMINPS Y9, Y2, Y2
	VCMPPS $3, Y0, Y0, Y3 // unordered: x is NaN
	VBLENDVPS Y3, Y0, Y2, Y2
	JMP ustore

leaky:
	VMULPS Y8, Y0, Y2
	VCMPPS $1, Y12, Y0, Y3 // x < 0, ordered
	VBLENDVPS Y3, Y2, Y0, Y2
	JMP ustore

abs:
	VANDPS Y13, Y0, Y2
	JMP ustore

neg:
	VXORPS Y14, Y0, Y2
	JMP ustore

// hardswish: x·min(max(x+3, 0), 6)/6, the clamp as above.
hardswish:
	VADDPS Y8, Y0, Y3
	VMAXPS Y12, Y3, Y2
	VMINPS Y9, Y2, Y2
	VCMPPS $3, Y3, Y3, Y4
	VBLENDVPS Y4, Y3, Y2, Y2
	VMULPS Y2, Y0, Y2
	VDIVPS Y9, Y2, Y2
	JMP ustore

sqrt:
	VSQRTPS Y0, Y2
	JMP ustore

// rsqrt: 1/sqrt in float64, rounded once to float32, as ewRsqrt.
rsqrt:
	VCVTPS2PD X0, Y2
	VEXTRACTF128 $1, Y0, X3
	VCVTPS2PD X3, Y3
	VSQRTPD Y2, Y2
	VSQRTPD Y3, Y3
	VDIVPD Y2, Y15, Y2
	VDIVPD Y3, Y15, Y3
	VCVTPD2PSY Y2, X2
	VCVTPD2PSY Y3, X3
	VINSERTF128 $1, X3, Y2, Y2
	JMP ustore

exp:
	EXP32(Y0)
	JMP ustore

// logistic: 1/(1+exp32(−x)).
logistic:
	VXORPS Y14, Y0, Y1
	EXP32(Y1)
	VADDPS Y11, Y2, Y2
	VDIVPS Y2, Y11, Y2
	JMP ustore

// tanh: on |x|, 1 − 2/(exp32(2|x|)+1), or below 0.625 the odd
// polynomial, then x's sign (tanh32). Y8 and Y9 are free here.
tanh:
	VANDPS Y13, Y0, Y1
	VADDPS Y1, Y1, Y8
	EXP32(Y8)
	VADDPS Y11, Y2, Y2
	VBROADCASTSS 88(R8), Y3
	VDIVPS Y2, Y3, Y2
	VSUBPS Y2, Y11, Y2
	VMULPS Y1, Y1, Y3
	VBROADCASTSS 68(R8), Y4
	HORNER(Y3, Y4, Y5, 72)
	HORNER(Y3, Y4, Y5, 76)
	HORNER(Y3, Y4, Y5, 80)
	HORNER(Y3, Y4, Y5, 84)
	VMULPS Y3, Y4, Y4
	VMULPS Y1, Y4, Y4
	VADDPS Y1, Y4, Y4
	VBROADCASTSS 64(R8), Y5
	VCMPPS $1, Y5, Y1, Y6 // |x| < 0.625
	VBLENDVPS Y6, Y4, Y2, Y2
	VANDPS Y14, Y0, Y3
	VORPS Y3, Y2, Y2
	JMP ustore

// smexp: exp32((x − p0)·p1), softmax's exponentials.
smexp:
	VSUBPS Y8, Y0, Y1
	VMULPS Y9, Y1, Y1
	EXP32(Y1)

ustore:
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ uloop

udone:
	VZEROUPPER
	RET
