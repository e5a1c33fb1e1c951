//go:build amd64 && !purego

#include "textflag.h"

// Attention over the F16 cache for three query heads that share a KV head
// (grouped-query attention): each key and value row is loaded and converted
// once for the three, where DotsF16 and AxpysF16 would read it three times.
// A head's arithmetic is DotsF16's (AxpysF16's) exactly, in its order, so
// the results are the same bit for bit: the extra heads' accumulators live
// in Y16-Y31, which is why these need AVX-512 (AVX512VL).

// RED8TO9 sums eight accumulators in F32RED16's order, leaving the sum's
// 8 lanes in Y9 (X9 to X11 scratch afterwards).
#define RED8TO9(a0, a1, a2, a3, a4, a5, a6, a7) \
	VADDPS a4, a0, a0 \
	VADDPS a5, a1, a1 \
	VADDPS a6, a2, a2 \
	VADDPS a7, a3, a3 \
	VADDPS a2, a0, a0 \
	VADDPS a3, a1, a1 \
	VADDPS a1, a0, a0 \
	VMOVAPS a0, Y9

// HSUM9 finishes F32RED16 on Y9 and stores the float at dst.
#define HSUM9(dst) \
	VEXTRACTF128 $1, Y9, X10 \
	VADDPS       X9, X10, X9 \
	VMOVHLPS     X9, X9, X10 \
	VADDPS       X10, X9, X9 \
	VMOVSHDUP    X9, X10     \
	VADDSS       X10, X9, X9 \
	MOVSS        X9, dst

#define ZERO8(a0, a1, a2, a3, a4, a5, a6, a7) \
	VPXORD a0, a0, a0 \
	VPXORD a1, a1, a1 \
	VPXORD a2, a2, a2 \
	VPXORD a3, a3, a3 \
	VPXORD a4, a4, a4 \
	VPXORD a5, a5, a5 \
	VPXORD a6, a6, a6 \
	VPXORD a7, a7, a7

#define FMA8(x, a0, a1, a2, a3, a4, a5, a6, a7) \
	VFMADD231PS 0(x)(SI*2), Y8, a0    \
	VFMADD231PS 32(x)(SI*2), Y9, a1   \
	VFMADD231PS 64(x)(SI*2), Y10, a2  \
	VFMADD231PS 96(x)(SI*2), Y11, a3  \
	VFMADD231PS 128(x)(SI*2), Y12, a4 \
	VFMADD231PS 160(x)(SI*2), Y13, a5 \
	VFMADD231PS 192(x)(SI*2), Y14, a6 \
	VFMADD231PS 224(x)(SI*2), Y15, a7

// func dotsF16x3(k unsafe.Pointer, stride int, x *[3]unsafe.Pointer, m, n int, out *[3]unsafe.Pointer)
// For j < 3 and p < n: out[j][p] = the dot product of the m halves at
// k + p*stride (bytes) with the m floats at x[j] (m a multiple of 64).
// SI is the byte offset into the key row (twice that into the queries).
TEXT ·dotsF16x3(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), R8
	MOVQ stride+8(FP), R9
	MOVQ x+16(FP), AX
	MOVQ 0(AX), R10
	MOVQ 8(AX), R11
	MOVQ 16(AX), R12
	MOVQ m+24(FP), R13
	SHLQ $1, R13
	MOVQ n+32(FP), DX
	MOVQ out+40(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), BX
	MOVQ 16(AX), CX
	MOVQ CX, AX
	TESTQ DX, DX
	JZ    d3done
	TESTQ R13, R13
	JZ    d3done

d3row:
	XORQ SI, SI
	ZERO8(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	ZERO8(Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23)
	ZERO8(Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31)

d3loop:
	VCVTPH2PS 0(R8)(SI*1), Y8
	VCVTPH2PS 16(R8)(SI*1), Y9
	VCVTPH2PS 32(R8)(SI*1), Y10
	VCVTPH2PS 48(R8)(SI*1), Y11
	VCVTPH2PS 64(R8)(SI*1), Y12
	VCVTPH2PS 80(R8)(SI*1), Y13
	VCVTPH2PS 96(R8)(SI*1), Y14
	VCVTPH2PS 112(R8)(SI*1), Y15
	FMA8(R10, Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	FMA8(R11, Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23)
	FMA8(R12, Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31)
	ADDQ $128, SI
	CMPQ SI, R13
	JNE  d3loop

	RED8TO9(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	HSUM9((DI))
	RED8TO9(Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23)
	HSUM9((BX))
	RED8TO9(Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31)
	HSUM9((AX))
	ADDQ $4, DI
	ADDQ $4, BX
	ADDQ $4, AX
	ADDQ R9, R8
	DECQ DX
	JNZ  d3row

d3done:
	VZEROUPPER
	RET

#define LOAD8(p, a0, a1, a2, a3, a4, a5, a6, a7) \
	VMOVUPS 0(p), a0   \
	VMOVUPS 32(p), a1  \
	VMOVUPS 64(p), a2  \
	VMOVUPS 96(p), a3  \
	VMOVUPS 128(p), a4 \
	VMOVUPS 160(p), a5 \
	VMOVUPS 192(p), a6 \
	VMOVUPS 224(p), a7

#define STORE8(p, a0, a1, a2, a3, a4, a5, a6, a7) \
	VMOVUPS a0, 0(p)   \
	VMOVUPS a1, 32(p)  \
	VMOVUPS a2, 64(p)  \
	VMOVUPS a3, 96(p)  \
	VMOVUPS a4, 128(p) \
	VMOVUPS a5, 160(p) \
	VMOVUPS a6, 192(p) \
	VMOVUPS a7, 224(p)

// AXPY8 adds the converted values in Y8-Y15 times a[CX]
// (broadcast) to a head's eight accumulators: axpysF16AVX2's multiply-add.
#define AXPY8(a, a0, a1, a2, a3, a4, a5, a6, a7) \
	VFMADD231PS.BCST (a)(CX*4), Y8, a0  \
	VFMADD231PS.BCST (a)(CX*4), Y9, a1  \
	VFMADD231PS.BCST (a)(CX*4), Y10, a2 \
	VFMADD231PS.BCST (a)(CX*4), Y11, a3 \
	VFMADD231PS.BCST (a)(CX*4), Y12, a4 \
	VFMADD231PS.BCST (a)(CX*4), Y13, a5 \
	VFMADD231PS.BCST (a)(CX*4), Y14, a6 \
	VFMADD231PS.BCST (a)(CX*4), Y15, a7

// func axpysF16x3(dst *[3]unsafe.Pointer, src unsafe.Pointer, stride int, a *[3]unsafe.Pointer, n, m int)
// For j < 3, p < n in order and i < m: dst[j][i] += a[j][p] * half(src +
// p*stride)[i] (m a multiple of 64, stride in bytes). CX is the position.
TEXT ·axpysF16x3(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R12
	MOVQ 16(AX), R13
	MOVQ src+8(FP), R8
	MOVQ stride+16(FP), R9
	MOVQ a+24(FP), AX
	MOVQ 0(AX), R10
	MOVQ 8(AX), BX
	MOVQ 16(AX), DX
	MOVQ n+32(FP), R11
	MOVQ m+40(FP), AX
	SHRQ $6, AX
	JZ   a3done

a3col:
	LOAD8(DI, Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	LOAD8(R12, Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23)
	LOAD8(R13, Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31)
	MOVQ  R8, SI
	XORQ  CX, CX
	TESTQ R11, R11
	JZ    a3store

a3pos:
	VCVTPH2PS 0(SI), Y8
	VCVTPH2PS 16(SI), Y9
	VCVTPH2PS 32(SI), Y10
	VCVTPH2PS 48(SI), Y11
	VCVTPH2PS 64(SI), Y12
	VCVTPH2PS 80(SI), Y13
	VCVTPH2PS 96(SI), Y14
	VCVTPH2PS 112(SI), Y15
	AXPY8(R10, Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	AXPY8(BX, Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23)
	AXPY8(DX, Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31)
	ADDQ R9, SI
	INCQ CX
	CMPQ CX, R11
	JNE  a3pos

a3store:
	STORE8(DI, Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	STORE8(R12, Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23)
	STORE8(R13, Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31)
	ADDQ $256, DI
	ADDQ $256, R12
	ADDQ $256, R13
	ADDQ $128, R8
	DECQ AX
	JNZ  a3col

a3done:
	VZEROUPPER
	RET
