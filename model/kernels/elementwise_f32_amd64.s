#include "textflag.h"

// Float32 binary elementwise arithmetic for AVX2, eight lanes a step:
// func ewF32Run(code int, dst, x, y *float32, n, xinc, yinc int). n is a
// multiple of 8; xinc and yinc are the bytes x and y advance a step (32,
// or 0 for a broadcast operand the caller has written out eight times); code
// is one of the ewF32 codes (elementwise_f32_amd64.go), tested once a step
// (always the same way: the branch costs nothing next to the memory).
// Every lane is the IEEE operation the generic kernel computes; VMAXPS and
// VMINPS return their second source unless the first is strictly greater
// (smaller), which is ewMax's and ewMin's rule for ties and NaNs.
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
