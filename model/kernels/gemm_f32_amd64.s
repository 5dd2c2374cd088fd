#include "textflag.h"

// Float matrix product tiles for AVX2: a [k][4] panel of four rows against
// blocks of sixteen channels laid out [k][16]. Every output is summed in k
// order with separate multiplies and adds (no FMA), then the bias is added
// and the activation clamped, exactly as the generic kernel does, so the
// results are bit for bit the same.

#define F32STEP(r, acc0, acc1) \
	VBROADCASTSS r(R13), Y10 \
	VMULPS Y8, Y10, Y11 \
	VADDPS Y11, acc0, acc0 \
	VMULPS Y9, Y10, Y12 \
	VADDPS Y12, acc1, acc1

#define F32OUT(acc, boff, dst) \
	VADDPS boff(R8), acc, acc \
	VMAXPS Y14, acc, acc \
	VMINPS Y15, acc, acc \
	VMOVUPS acc, dst

// func f32GemmAVX2(a, w *float32, k, nb int, bias, lohi, out *float32, stride int)
TEXT ·f32GemmAVX2(SB), NOSPLIT, $0-64
	MOVQ a+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ k+16(FP), CX
	MOVQ nb+24(FP), DX
	MOVQ bias+32(FP), R8
	MOVQ lohi+40(FP), R10
	MOVQ out+48(FP), R11
	MOVQ stride+56(FP), R12
	SHLQ $2, R12
	VBROADCASTSS (R10), Y14
	VBROADCASTSS 4(R10), Y15
	TESTQ DX, DX
	JZ done
	TESTQ CX, CX
	JZ done

block:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ SI, R13
	MOVQ CX, R14

kloop:
	VMOVUPS (DI), Y8
	VMOVUPS 32(DI), Y9
	F32STEP(0, Y0, Y1)
	F32STEP(4, Y2, Y3)
	F32STEP(8, Y4, Y5)
	F32STEP(12, Y6, Y7)
	ADDQ $16, R13
	ADDQ $64, DI
	DECQ R14
	JNZ kloop

	F32OUT(Y0, 0, (R11))
	F32OUT(Y1, 32, 32(R11))
	F32OUT(Y2, 0, (R11)(R12*1))
	F32OUT(Y3, 32, 32(R11)(R12*1))
	LEAQ (R11)(R12*2), R13
	F32OUT(Y4, 0, (R13))
	F32OUT(Y5, 32, 32(R13))
	F32OUT(Y6, 0, (R13)(R12*1))
	F32OUT(Y7, 32, 32(R13)(R12*1))
	ADDQ $64, R8
	ADDQ $64, R11
	DECQ DX
	JNZ block

done:
	VZEROUPPER
	RET
