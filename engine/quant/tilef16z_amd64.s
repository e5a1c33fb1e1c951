//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 F16 tiles: four rows by six, four or two vectors in one pass.
// A pair's zmm accumulator holds dotF16x4AVX2's two 8-lane accumulators
// side by side (lanes 0-7 of every 16-value step in its low half, 8-15 in
// its high half), so one 16-half conversion and one multiply-add a pair do
// what that kernel's two do, on the same lanes in the same operand order
// (vector times converted weight, added to the accumulator); the end
// splits each zmm, adds low+high and reduces as FOUT does, so every result
// is that kernel's bit for bit. acc(r, t) = Z(6r+t); Z24-Z27 hold the four
// rows' converted halves, Z28 a vector's 16 values.

#define ZACC(r) VPXORD r, r, r

#define ZROWS \
	VCVTPH2PS (SI)(AX*1), Z24  \
	VCVTPH2PS (R11)(AX*1), Z25 \
	VCVTPH2PS (R12)(AX*1), Z26 \
	VCVTPH2PS (R13)(AX*1), Z27

// ZVEC multiplies vector p's 16 values at 2*AX by the four rows into its
// column of accumulators.
#define ZVEC(p, a0, a1, a2, a3) \
	VMOVUPS     (p)(AX*2), Z28 \
	VFMADD231PS Z28, Z24, a0   \
	VFMADD231PS Z28, Z25, a1   \
	VFMADD231PS Z28, Z26, a2   \
	VFMADD231PS Z28, Z27, a3

// ZOUT adds acc's high 8 lanes to its low 8 (lo+hi, as FOUT), reduces them
// as FOUT does and stores the sum at dst. Clobbers Z29-Z31.
#define ZOUT(acc, yacc, dst) \
	VEXTRACTF64X4 $1, acc, Y29  \
	VADDPS        Y29, yacc, Y29 \
	VEXTRACTF32X4 $1, Y29, X30  \
	VADDPS        X29, X30, X30 \
	VMOVHLPS      X30, X30, X31 \
	VADDPS        X31, X30, X30 \
	VMOVSHDUP     X30, X31      \
	VADDSS        X31, X30, X30 \
	VMOVSS        X30, dst

// ZSETUP loads the arguments: rows at SI, R11, R12, R13; the vectors'
// pointers from x into the given registers by the caller; CX = 2n (the
// halves' bytes); AX = 0.
#define ZSETUP \
	MOVQ w+0(FP), SI          \
	MOVQ rowBytes+8(FP), BX   \
	MOVQ n+24(FP), CX         \
	SHLQ $1, CX               \
	LEAQ (SI)(BX*1), R11      \
	LEAQ (SI)(BX*2), R12      \
	LEAQ (R12)(BX*1), R13     \
	MOVQ x+16(FP), AX

// func f16x4x6AVX512(w unsafe.Pointer, rowBytes int, x *[6]unsafe.Pointer, n int, out unsafe.Pointer, ostride int)
// Four rows of n halves at w, rowBytes apart, by six vectors of n float32;
// n is a multiple of 16. Row r's result with vector t goes to
// out + t*ostride + 4r.
TEXT ·f16x4x6AVX512(SB), NOSPLIT, $0-48
	ZSETUP
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), BX
	MOVQ 32(AX), DX
	MOVQ 40(AX), DI
	ZACC(Z0); ZACC(Z1); ZACC(Z2); ZACC(Z3); ZACC(Z4); ZACC(Z5)
	ZACC(Z6); ZACC(Z7); ZACC(Z8); ZACC(Z9); ZACC(Z10); ZACC(Z11)
	ZACC(Z12); ZACC(Z13); ZACC(Z14); ZACC(Z15); ZACC(Z16); ZACC(Z17)
	ZACC(Z18); ZACC(Z19); ZACC(Z20); ZACC(Z21); ZACC(Z22); ZACC(Z23)
	XORQ AX, AX
	TESTQ CX, CX
	JZ   z6done

z6loop:
	ZROWS
	ZVEC(R8, Z0, Z6, Z12, Z18)
	ZVEC(R9, Z1, Z7, Z13, Z19)
	ZVEC(R10, Z2, Z8, Z14, Z20)
	ZVEC(BX, Z3, Z9, Z15, Z21)
	ZVEC(DX, Z4, Z10, Z16, Z22)
	ZVEC(DI, Z5, Z11, Z17, Z23)
	ADDQ $32, AX
	CMPQ AX, CX
	JLT  z6loop

z6done:
	MOVQ out+32(FP), DX
	MOVQ ostride+40(FP), DI
	LEAQ (DX)(DI*2), R8
	ADDQ DI, R8
	ZOUT(Z0, Y0, 0(DX))
	ZOUT(Z1, Y1, (DX)(DI*1))
	ZOUT(Z2, Y2, (DX)(DI*2))
	ZOUT(Z3, Y3, 0(R8))
	ZOUT(Z4, Y4, (R8)(DI*1))
	ZOUT(Z5, Y5, (R8)(DI*2))
	ZOUT(Z6, Y6, 4(DX))
	ZOUT(Z7, Y7, 4(DX)(DI*1))
	ZOUT(Z8, Y8, 4(DX)(DI*2))
	ZOUT(Z9, Y9, 4(R8))
	ZOUT(Z10, Y10, 4(R8)(DI*1))
	ZOUT(Z11, Y11, 4(R8)(DI*2))
	ZOUT(Z12, Y12, 8(DX))
	ZOUT(Z13, Y13, 8(DX)(DI*1))
	ZOUT(Z14, Y14, 8(DX)(DI*2))
	ZOUT(Z15, Y15, 8(R8))
	ZOUT(Z16, Y16, 8(R8)(DI*1))
	ZOUT(Z17, Y17, 8(R8)(DI*2))
	ZOUT(Z18, Y18, 12(DX))
	ZOUT(Z19, Y19, 12(DX)(DI*1))
	ZOUT(Z20, Y20, 12(DX)(DI*2))
	ZOUT(Z21, Y21, 12(R8))
	ZOUT(Z22, Y22, 12(R8)(DI*1))
	ZOUT(Z23, Y23, 12(R8)(DI*2))
	VZEROUPPER
	RET

// func f16x4x4AVX512(w unsafe.Pointer, rowBytes int, x *[6]unsafe.Pointer, n int, out unsafe.Pointer, ostride int)
// As f16x4x6AVX512 with the first four vectors of x.
TEXT ·f16x4x4AVX512(SB), NOSPLIT, $0-48
	ZSETUP
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), BX
	ZACC(Z0); ZACC(Z1); ZACC(Z2); ZACC(Z3)
	ZACC(Z6); ZACC(Z7); ZACC(Z8); ZACC(Z9)
	ZACC(Z12); ZACC(Z13); ZACC(Z14); ZACC(Z15)
	ZACC(Z18); ZACC(Z19); ZACC(Z20); ZACC(Z21)
	XORQ AX, AX
	TESTQ CX, CX
	JZ   z4done

z4loop:
	ZROWS
	ZVEC(R8, Z0, Z6, Z12, Z18)
	ZVEC(R9, Z1, Z7, Z13, Z19)
	ZVEC(R10, Z2, Z8, Z14, Z20)
	ZVEC(BX, Z3, Z9, Z15, Z21)
	ADDQ $32, AX
	CMPQ AX, CX
	JLT  z4loop

z4done:
	MOVQ out+32(FP), DX
	MOVQ ostride+40(FP), DI
	LEAQ (DX)(DI*2), R8
	ADDQ DI, R8
	ZOUT(Z0, Y0, 0(DX))
	ZOUT(Z1, Y1, (DX)(DI*1))
	ZOUT(Z2, Y2, (DX)(DI*2))
	ZOUT(Z3, Y3, 0(R8))
	ZOUT(Z6, Y6, 4(DX))
	ZOUT(Z7, Y7, 4(DX)(DI*1))
	ZOUT(Z8, Y8, 4(DX)(DI*2))
	ZOUT(Z9, Y9, 4(R8))
	ZOUT(Z12, Y12, 8(DX))
	ZOUT(Z13, Y13, 8(DX)(DI*1))
	ZOUT(Z14, Y14, 8(DX)(DI*2))
	ZOUT(Z15, Y15, 8(R8))
	ZOUT(Z18, Y18, 12(DX))
	ZOUT(Z19, Y19, 12(DX)(DI*1))
	ZOUT(Z20, Y20, 12(DX)(DI*2))
	ZOUT(Z21, Y21, 12(R8))
	VZEROUPPER
	RET

// func f16x4x2AVX512(w unsafe.Pointer, rowBytes int, x *[6]unsafe.Pointer, n int, out unsafe.Pointer, ostride int)
// As f16x4x6AVX512 with the first two vectors of x.
TEXT ·f16x4x2AVX512(SB), NOSPLIT, $0-48
	ZSETUP
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	ZACC(Z0); ZACC(Z1)
	ZACC(Z6); ZACC(Z7)
	ZACC(Z12); ZACC(Z13)
	ZACC(Z18); ZACC(Z19)
	XORQ AX, AX
	TESTQ CX, CX
	JZ   z2done

z2loop:
	ZROWS
	ZVEC(R8, Z0, Z6, Z12, Z18)
	ZVEC(R9, Z1, Z7, Z13, Z19)
	ADDQ $32, AX
	CMPQ AX, CX
	JLT  z2loop

z2done:
	MOVQ out+32(FP), DX
	MOVQ ostride+40(FP), DI
	ZOUT(Z0, Y0, 0(DX))
	ZOUT(Z1, Y1, (DX)(DI*1))
	ZOUT(Z6, Y6, 4(DX))
	ZOUT(Z7, Y7, 4(DX)(DI*1))
	ZOUT(Z12, Y12, 8(DX))
	ZOUT(Z13, Y13, 8(DX)(DI*1))
	ZOUT(Z18, Y18, 12(DX))
	ZOUT(Z19, Y19, 12(DX)(DI*1))
	VZEROUPPER
	RET
