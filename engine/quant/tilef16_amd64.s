//go:build amd64 && !purego

#include "textflag.h"

// Register-tiled F16 kernel: four rows by three vectors. Each pair sums
// as dotF16x4AVX2 does (tinyBLAS's order: a 16-lane accumulator over
// 16-value steps, kept as a low and a high 8-lane register, added low+high
// and reduced as _mm512_reduce_add_ps does), with the same operations in
// the same operand order, so every result is that kernel's bit for bit.
//
// Twelve pairs with two accumulators each would take 24 registers, so the
// row runs twice: lanes 0-7 of every 16-value step first (their twelve
// sums wait in the frame), then lanes 8-15. In each pass the three vectors'
// 8 values are loaded once and each row's 8 halves converted once for the
// three vectors: 7 loads and 4 conversions a 12 multiply-adds, where
// dotF16x4AVX2 makes 10 loads and 2 conversions for 8.

#define F16ZERO12 \
	VXORPS Y0, Y0, Y0   \
	VXORPS Y1, Y1, Y1   \
	VXORPS Y2, Y2, Y2   \
	VXORPS Y3, Y3, Y3   \
	VXORPS Y4, Y4, Y4   \
	VXORPS Y5, Y5, Y5   \
	VXORPS Y6, Y6, Y6   \
	VXORPS Y7, Y7, Y7   \
	VXORPS Y8, Y8, Y8   \
	VXORPS Y9, Y9, Y9   \
	VXORPS Y10, Y10, Y10 \
	VXORPS Y11, Y11, Y11

// F16STEP adds 8 lanes of one 16-value step at byte AX of the halves
// (2*AX of the vectors) into the twelve accumulators, acc(r, t) = Y(3r+t).
#define F16STEP \
	VMOVUPS     (R8)(AX*2), Y12  \
	VMOVUPS     (R9)(AX*2), Y13  \
	VMOVUPS     (R10)(AX*2), Y14 \
	VCVTPH2PS   (SI)(AX*1), Y15  \
	VFMADD231PS Y12, Y15, Y0     \
	VFMADD231PS Y13, Y15, Y1     \
	VFMADD231PS Y14, Y15, Y2     \
	VCVTPH2PS   (R11)(AX*1), Y15 \
	VFMADD231PS Y12, Y15, Y3     \
	VFMADD231PS Y13, Y15, Y4     \
	VFMADD231PS Y14, Y15, Y5     \
	VCVTPH2PS   (R12)(AX*1), Y15 \
	VFMADD231PS Y12, Y15, Y6     \
	VFMADD231PS Y13, Y15, Y7     \
	VFMADD231PS Y14, Y15, Y8     \
	VCVTPH2PS   (R13)(AX*1), Y15 \
	VFMADD231PS Y12, Y15, Y9     \
	VFMADD231PS Y13, Y15, Y10    \
	VFMADD231PS Y14, Y15, Y11

// F16OUT adds the low lanes saved at off(SP) and the high lanes in hi,
// reduces them as FOUT does, and stores the sum at dst.
#define F16OUT(hi, off, dst) \
	VMOVUPS      off(SP), Y12 \
	VADDPS       hi, Y12, Y12 \
	VEXTRACTF128 $1, Y12, X13 \
	VADDPS       X12, X13, X13 \
	VMOVHLPS     X13, X13, X14 \
	VADDPS       X14, X13, X13 \
	VMOVSHDUP    X13, X14      \
	VADDSS       X14, X13, X13 \
	VMOVSS       X13, dst

// func f16x4x3AVX2(w unsafe.Pointer, rowBytes int, x *[3]unsafe.Pointer, n int, out unsafe.Pointer, ostride int)
// Four rows of n halves at w, rowBytes apart, by three vectors of n
// float32; n is a multiple of 16. Row r's result with vector t goes to
// out + t*ostride + 4r.
TEXT ·f16x4x3AVX2(SB), NOSPLIT, $384-48
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), BX
	MOVQ x+16(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ n+24(FP), CX
	SHLQ $1, CX
	LEAQ (SI)(BX*1), R11
	LEAQ (SI)(BX*2), R12
	LEAQ (R12)(BX*1), R13
	F16ZERO12
	XORQ AX, AX
	TESTQ CX, CX
	JZ   f16lodone

f16lo:
	F16STEP
	ADDQ $32, AX
	CMPQ AX, CX
	JLT  f16lo

f16lodone:
	VMOVUPS Y0, 0(SP)
	VMOVUPS Y1, 32(SP)
	VMOVUPS Y2, 64(SP)
	VMOVUPS Y3, 96(SP)
	VMOVUPS Y4, 128(SP)
	VMOVUPS Y5, 160(SP)
	VMOVUPS Y6, 192(SP)
	VMOVUPS Y7, 224(SP)
	VMOVUPS Y8, 256(SP)
	VMOVUPS Y9, 288(SP)
	VMOVUPS Y10, 320(SP)
	VMOVUPS Y11, 352(SP)
	F16ZERO12
	MOVQ $16, AX
	CMPQ AX, CX
	JGE  f16hidone

f16hi:
	F16STEP
	ADDQ $32, AX
	CMPQ AX, CX
	JLT  f16hi

f16hidone:
	MOVQ out+32(FP), DX
	MOVQ ostride+40(FP), DI
	F16OUT(Y0, 0, 0(DX))
	F16OUT(Y1, 32, (DX)(DI*1))
	F16OUT(Y2, 64, (DX)(DI*2))
	F16OUT(Y3, 96, 4(DX))
	F16OUT(Y4, 128, 4(DX)(DI*1))
	F16OUT(Y5, 160, 4(DX)(DI*2))
	F16OUT(Y6, 192, 8(DX))
	F16OUT(Y7, 224, 8(DX)(DI*1))
	F16OUT(Y8, 256, 8(DX)(DI*2))
	F16OUT(Y9, 288, 12(DX))
	F16OUT(Y10, 320, 12(DX)(DI*1))
	F16OUT(Y11, 352, 12(DX)(DI*2))
	VZEROUPPER
	RET
