//go:build amd64 && !purego

#include "textflag.h"

// Register-tiled Q8_0/Q4_0 kernels for CPUs with AVX512-VNNI: four weight
// rows against four, three or two activation vectors at once, one vpdpbusd
// per (row, vector) pair and block. AVX-512 pays here through its 32 vector
// registers (the pairs' accumulators live in Y16-Y31, beside each vector's
// block and lane sums in Y0-Y7) and through the embedded broadcast of the
// scale product into the multiply-add, so a pair costs a copy, vpdpbusd,
// convert and one multiply-add a block; the weight block is loaded and made
// unsigned once per tile, and each vector's block once per tile.
//
// A pair's arithmetic is dotQ8_0VNNI's (dotQ4_0VNNI's), in its order: the
// 8-lane integer sum started at the vector's aux lanes (the unsigned
// offset's correction) plus vpdpbusd (exact), acc += float(sum) * (dw*dy)
// with one multiply-add per block, and hsum_float_8 at the end, so every
// output equals Vec.Dot's bit for bit.
//
// Registers: Y16+4t+r accumulates vector t against row r; Y0-Y3 hold the
// vectors' quant blocks, Y4-Y7 their aux blocks, Y8 the row's unsigned
// block, Y9 the pair's sum, Y12 the constant (0x80 bytes for Q8_0, 0x0f
// for Q4_0), X13-X15 scratch. Rows are at SI, SI+BX, R9 and R9+BX (BX =
// rowBytes, R9 = SI+2*BX); the vectors' quants at R10-R13 and their aux
// blocks at CX, DX, DI, AX. The products of the scales, vector t row r,
// are at 16t+4r(SP), and the end of the first row at 64(SP). R8 is
// scratch.

// VARGSn loads the arguments (w unsafe.Pointer, rowBytes int,
// q, aux *[4]unsafe.Pointer, nb int, ...) for n vectors.
#define VARGS2 \
	MOVQ w+0(FP), SI         \
	MOVQ rowBytes+8(FP), BX  \
	LEAQ (SI)(BX*2), R9      \
	MOVQ q+16(FP), AX        \
	MOVQ 0(AX), R10          \
	MOVQ 8(AX), R11          \
	MOVQ aux+24(FP), AX      \
	MOVQ 0(AX), CX           \
	MOVQ 8(AX), DX

#define VARGS3 \
	VARGS2                   \
	MOVQ q+16(FP), AX        \
	MOVQ 16(AX), R12         \
	MOVQ aux+24(FP), AX      \
	MOVQ 16(AX), DI

#define VARGS4 \
	VARGS3                   \
	MOVQ q+16(FP), AX        \
	MOVQ 24(AX), R13         \
	MOVQ aux+24(FP), AX      \
	MOVQ 24(AX), AX

// VEND stores the end of the first row's blocks at 64(SP).
#define VEND(wbytes) \
	MOVQ  nb+32(FP), R8  \
	IMULQ $wbytes, R8    \
	ADDQ  SI, R8         \
	MOVQ  R8, 64(SP)

#define VCONSTQ8 \
	MOVL         $0x80808080, R8 \
	VMOVD        R8, X12         \
	VPBROADCASTD X12, Y12

#define VCONSTQ4 \
	MOVL         $0x0f0f0f0f, R8 \
	VMOVD        R8, X12         \
	VPBROADCASTD X12, Y12

// VSCALEW converts the four rows' block scales (halves at the block's
// start); VSCALE stores their products with a vector's block scale (the
// float at 32 bytes into its aux block).
#define VSCALEW \
	VPINSRW   $0, (SI), X15, X15        \
	VPINSRW   $1, (SI)(BX*1), X15, X15  \
	VPINSRW   $2, (R9), X15, X15        \
	VPINSRW   $3, (R9)(BX*1), X15, X15  \
	VCVTPH2PS X15, X15

#define VSCALE(areg, off) \
	VBROADCASTSS 32(areg), X14  \
	VMULPS       X14, X15, X14  \
	VMOVUPS      X14, off(SP)

// VLOADV loads a vector's quant block and its aux lane sums.
#define VLOADV(qreg, areg, yq, ya) \
	VMOVDQU (qreg), yq \
	VMOVDQU (areg), ya

// Row loads into Y8, unsigned: Q8_0 blocks are a half and 32 signed bytes
// (plus 128: the sign bit flipped); Q4_0 blocks a half and 16 bytes of
// nibbles, low nibbles first (ggml's order), taken as they are.
#define VQ8ROW(addr) \
	VPXOR addr, Y12, Y8

#define VQ4ROW(addr) \
	VMOVDQU     addr, X8          \
	VPSRLW      $4, X8, X13       \
	VINSERTI128 $1, X13, Y8, Y8   \
	VPAND       Y12, Y8, Y8

// VPAIR accumulates a vector's block (quants in yq, lane sums in ya)
// against the row in Y8, with the scale product at soff(SP).
#define VPAIR(yq, ya, soff, acc) \
	VMOVDQA          ya, Y9        \
	VPDPBUSD         yq, Y8, Y9    \
	VCVTDQ2PS        Y9, Y9        \
	VFMADD231PS.BCST soff(SP), Y9, acc

// VPREF asks for the cache lines of the same block of the next four rows,
// so that the tile after this one finds its rows in L1 (see tile_amd64.s).
#define VPREF \
	LEAQ       (SI)(BX*4), R8  \
	PREFETCHT0 (R8)            \
	PREFETCHT0 (R8)(BX*1)      \
	LEAQ       (R9)(BX*4), R8  \
	PREFETCHT0 (R8)            \
	PREFETCHT0 (R8)(BX*1)

#define VADV2(wbytes) \
	VPREF            \
	ADDQ $wbytes, SI \
	ADDQ $wbytes, R9 \
	ADDQ $32, R10    \
	ADDQ $32, R11    \
	ADDQ $64, CX     \
	ADDQ $64, DX

#define VADV3(wbytes) \
	VADV2(wbytes) \
	ADDQ $32, R12 \
	ADDQ $64, DI

#define VADV4(wbytes) \
	VADV3(wbytes) \
	ADDQ $32, R13 \
	ADDQ $64, AX

// VOUT sums acc's lanes in hsum_float_8's order into off(reg).
#define VOUT(acc, off, reg) \
	VMOVAPS      acc, Y13       \
	VEXTRACTF128 $1, Y13, X14   \
	VADDPS       X13, X14, X14  \
	VMOVHLPS     X14, X14, X15  \
	VADDPS       X15, X14, X14  \
	VMOVSHDUP    X14, X15       \
	VADDSS       X15, X14, X14  \
	MOVSS        X14, off(reg)

// func q8_0x4x4VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
TEXT ·q8_0x4x4VNNI(SB), NOSPLIT, $72-56
	VARGS4
	VCONSTQ8
	VEND(34)
	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23
	VPXORD Y24, Y24, Y24
	VPXORD Y25, Y25, Y25
	VPXORD Y26, Y26, Y26
	VPXORD Y27, Y27, Y27
	VPXORD Y28, Y28, Y28
	VPXORD Y29, Y29, Y29
	VPXORD Y30, Y30, Y30
	VPXORD Y31, Y31, Y31

q80v4loop:
	VSCALEW
	VSCALE(CX, 0)
	VSCALE(DX, 16)
	VSCALE(DI, 32)
	VSCALE(AX, 48)
	VLOADV(R10, CX, Y0, Y4)
	VLOADV(R11, DX, Y1, Y5)
	VLOADV(R12, DI, Y2, Y6)
	VLOADV(R13, AX, Y3, Y7)
	VQ8ROW(2(SI))
	VPAIR(Y0, Y4, 0, Y16)
	VPAIR(Y1, Y5, 16, Y20)
	VPAIR(Y2, Y6, 32, Y24)
	VPAIR(Y3, Y7, 48, Y28)
	VQ8ROW(2(SI)(BX*1))
	VPAIR(Y0, Y4, 4, Y17)
	VPAIR(Y1, Y5, 20, Y21)
	VPAIR(Y2, Y6, 36, Y25)
	VPAIR(Y3, Y7, 52, Y29)
	VQ8ROW(2(R9))
	VPAIR(Y0, Y4, 8, Y18)
	VPAIR(Y1, Y5, 24, Y22)
	VPAIR(Y2, Y6, 40, Y26)
	VPAIR(Y3, Y7, 56, Y30)
	VQ8ROW(2(R9)(BX*1))
	VPAIR(Y0, Y4, 12, Y19)
	VPAIR(Y1, Y5, 28, Y23)
	VPAIR(Y2, Y6, 44, Y27)
	VPAIR(Y3, Y7, 60, Y31)
	VADV4(34)
	CMPQ SI, 64(SP)
	JNE  q80v4loop

	MOVQ out+40(FP), AX
	MOVQ ostride+48(FP), R8
	VOUT(Y16, 0, AX)
	VOUT(Y17, 4, AX)
	VOUT(Y18, 8, AX)
	VOUT(Y19, 12, AX)
	ADDQ R8, AX
	VOUT(Y20, 0, AX)
	VOUT(Y21, 4, AX)
	VOUT(Y22, 8, AX)
	VOUT(Y23, 12, AX)
	ADDQ R8, AX
	VOUT(Y24, 0, AX)
	VOUT(Y25, 4, AX)
	VOUT(Y26, 8, AX)
	VOUT(Y27, 12, AX)
	ADDQ R8, AX
	VOUT(Y28, 0, AX)
	VOUT(Y29, 4, AX)
	VOUT(Y30, 8, AX)
	VOUT(Y31, 12, AX)
	VZEROUPPER
	RET

// func q8_0x4x3VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The pointers after the first 3 are ignored.
TEXT ·q8_0x4x3VNNI(SB), NOSPLIT, $72-56
	VARGS3
	VCONSTQ8
	VEND(34)
	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23
	VPXORD Y24, Y24, Y24
	VPXORD Y25, Y25, Y25
	VPXORD Y26, Y26, Y26
	VPXORD Y27, Y27, Y27

q80v3loop:
	VSCALEW
	VSCALE(CX, 0)
	VSCALE(DX, 16)
	VSCALE(DI, 32)
	VLOADV(R10, CX, Y0, Y4)
	VLOADV(R11, DX, Y1, Y5)
	VLOADV(R12, DI, Y2, Y6)
	VQ8ROW(2(SI))
	VPAIR(Y0, Y4, 0, Y16)
	VPAIR(Y1, Y5, 16, Y20)
	VPAIR(Y2, Y6, 32, Y24)
	VQ8ROW(2(SI)(BX*1))
	VPAIR(Y0, Y4, 4, Y17)
	VPAIR(Y1, Y5, 20, Y21)
	VPAIR(Y2, Y6, 36, Y25)
	VQ8ROW(2(R9))
	VPAIR(Y0, Y4, 8, Y18)
	VPAIR(Y1, Y5, 24, Y22)
	VPAIR(Y2, Y6, 40, Y26)
	VQ8ROW(2(R9)(BX*1))
	VPAIR(Y0, Y4, 12, Y19)
	VPAIR(Y1, Y5, 28, Y23)
	VPAIR(Y2, Y6, 44, Y27)
	VADV3(34)
	CMPQ SI, 64(SP)
	JNE  q80v3loop

	MOVQ out+40(FP), AX
	MOVQ ostride+48(FP), R8
	VOUT(Y16, 0, AX)
	VOUT(Y17, 4, AX)
	VOUT(Y18, 8, AX)
	VOUT(Y19, 12, AX)
	ADDQ R8, AX
	VOUT(Y20, 0, AX)
	VOUT(Y21, 4, AX)
	VOUT(Y22, 8, AX)
	VOUT(Y23, 12, AX)
	ADDQ R8, AX
	VOUT(Y24, 0, AX)
	VOUT(Y25, 4, AX)
	VOUT(Y26, 8, AX)
	VOUT(Y27, 12, AX)
	VZEROUPPER
	RET

// func q8_0x4x2VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The pointers after the first 2 are ignored.
TEXT ·q8_0x4x2VNNI(SB), NOSPLIT, $72-56
	VARGS2
	VCONSTQ8
	VEND(34)
	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23

q80v2loop:
	VSCALEW
	VSCALE(CX, 0)
	VSCALE(DX, 16)
	VLOADV(R10, CX, Y0, Y4)
	VLOADV(R11, DX, Y1, Y5)
	VQ8ROW(2(SI))
	VPAIR(Y0, Y4, 0, Y16)
	VPAIR(Y1, Y5, 16, Y20)
	VQ8ROW(2(SI)(BX*1))
	VPAIR(Y0, Y4, 4, Y17)
	VPAIR(Y1, Y5, 20, Y21)
	VQ8ROW(2(R9))
	VPAIR(Y0, Y4, 8, Y18)
	VPAIR(Y1, Y5, 24, Y22)
	VQ8ROW(2(R9)(BX*1))
	VPAIR(Y0, Y4, 12, Y19)
	VPAIR(Y1, Y5, 28, Y23)
	VADV2(34)
	CMPQ SI, 64(SP)
	JNE  q80v2loop

	MOVQ out+40(FP), AX
	MOVQ ostride+48(FP), R8
	VOUT(Y16, 0, AX)
	VOUT(Y17, 4, AX)
	VOUT(Y18, 8, AX)
	VOUT(Y19, 12, AX)
	ADDQ R8, AX
	VOUT(Y20, 0, AX)
	VOUT(Y21, 4, AX)
	VOUT(Y22, 8, AX)
	VOUT(Y23, 12, AX)
	VZEROUPPER
	RET

// func q4_0x4x4VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
TEXT ·q4_0x4x4VNNI(SB), NOSPLIT, $72-56
	VARGS4
	VCONSTQ4
	VEND(18)
	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23
	VPXORD Y24, Y24, Y24
	VPXORD Y25, Y25, Y25
	VPXORD Y26, Y26, Y26
	VPXORD Y27, Y27, Y27
	VPXORD Y28, Y28, Y28
	VPXORD Y29, Y29, Y29
	VPXORD Y30, Y30, Y30
	VPXORD Y31, Y31, Y31

q40v4loop:
	VSCALEW
	VSCALE(CX, 0)
	VSCALE(DX, 16)
	VSCALE(DI, 32)
	VSCALE(AX, 48)
	VLOADV(R10, CX, Y0, Y4)
	VLOADV(R11, DX, Y1, Y5)
	VLOADV(R12, DI, Y2, Y6)
	VLOADV(R13, AX, Y3, Y7)
	VQ4ROW(2(SI))
	VPAIR(Y0, Y4, 0, Y16)
	VPAIR(Y1, Y5, 16, Y20)
	VPAIR(Y2, Y6, 32, Y24)
	VPAIR(Y3, Y7, 48, Y28)
	VQ4ROW(2(SI)(BX*1))
	VPAIR(Y0, Y4, 4, Y17)
	VPAIR(Y1, Y5, 20, Y21)
	VPAIR(Y2, Y6, 36, Y25)
	VPAIR(Y3, Y7, 52, Y29)
	VQ4ROW(2(R9))
	VPAIR(Y0, Y4, 8, Y18)
	VPAIR(Y1, Y5, 24, Y22)
	VPAIR(Y2, Y6, 40, Y26)
	VPAIR(Y3, Y7, 56, Y30)
	VQ4ROW(2(R9)(BX*1))
	VPAIR(Y0, Y4, 12, Y19)
	VPAIR(Y1, Y5, 28, Y23)
	VPAIR(Y2, Y6, 44, Y27)
	VPAIR(Y3, Y7, 60, Y31)
	VADV4(18)
	CMPQ SI, 64(SP)
	JNE  q40v4loop

	MOVQ out+40(FP), AX
	MOVQ ostride+48(FP), R8
	VOUT(Y16, 0, AX)
	VOUT(Y17, 4, AX)
	VOUT(Y18, 8, AX)
	VOUT(Y19, 12, AX)
	ADDQ R8, AX
	VOUT(Y20, 0, AX)
	VOUT(Y21, 4, AX)
	VOUT(Y22, 8, AX)
	VOUT(Y23, 12, AX)
	ADDQ R8, AX
	VOUT(Y24, 0, AX)
	VOUT(Y25, 4, AX)
	VOUT(Y26, 8, AX)
	VOUT(Y27, 12, AX)
	ADDQ R8, AX
	VOUT(Y28, 0, AX)
	VOUT(Y29, 4, AX)
	VOUT(Y30, 8, AX)
	VOUT(Y31, 12, AX)
	VZEROUPPER
	RET

// func q4_0x4x3VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The pointers after the first 3 are ignored.
TEXT ·q4_0x4x3VNNI(SB), NOSPLIT, $72-56
	VARGS3
	VCONSTQ4
	VEND(18)
	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23
	VPXORD Y24, Y24, Y24
	VPXORD Y25, Y25, Y25
	VPXORD Y26, Y26, Y26
	VPXORD Y27, Y27, Y27

q40v3loop:
	VSCALEW
	VSCALE(CX, 0)
	VSCALE(DX, 16)
	VSCALE(DI, 32)
	VLOADV(R10, CX, Y0, Y4)
	VLOADV(R11, DX, Y1, Y5)
	VLOADV(R12, DI, Y2, Y6)
	VQ4ROW(2(SI))
	VPAIR(Y0, Y4, 0, Y16)
	VPAIR(Y1, Y5, 16, Y20)
	VPAIR(Y2, Y6, 32, Y24)
	VQ4ROW(2(SI)(BX*1))
	VPAIR(Y0, Y4, 4, Y17)
	VPAIR(Y1, Y5, 20, Y21)
	VPAIR(Y2, Y6, 36, Y25)
	VQ4ROW(2(R9))
	VPAIR(Y0, Y4, 8, Y18)
	VPAIR(Y1, Y5, 24, Y22)
	VPAIR(Y2, Y6, 40, Y26)
	VQ4ROW(2(R9)(BX*1))
	VPAIR(Y0, Y4, 12, Y19)
	VPAIR(Y1, Y5, 28, Y23)
	VPAIR(Y2, Y6, 44, Y27)
	VADV3(18)
	CMPQ SI, 64(SP)
	JNE  q40v3loop

	MOVQ out+40(FP), AX
	MOVQ ostride+48(FP), R8
	VOUT(Y16, 0, AX)
	VOUT(Y17, 4, AX)
	VOUT(Y18, 8, AX)
	VOUT(Y19, 12, AX)
	ADDQ R8, AX
	VOUT(Y20, 0, AX)
	VOUT(Y21, 4, AX)
	VOUT(Y22, 8, AX)
	VOUT(Y23, 12, AX)
	ADDQ R8, AX
	VOUT(Y24, 0, AX)
	VOUT(Y25, 4, AX)
	VOUT(Y26, 8, AX)
	VOUT(Y27, 12, AX)
	VZEROUPPER
	RET

// func q4_0x4x2VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The pointers after the first 2 are ignored.
TEXT ·q4_0x4x2VNNI(SB), NOSPLIT, $72-56
	VARGS2
	VCONSTQ4
	VEND(18)
	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23

q40v2loop:
	VSCALEW
	VSCALE(CX, 0)
	VSCALE(DX, 16)
	VLOADV(R10, CX, Y0, Y4)
	VLOADV(R11, DX, Y1, Y5)
	VQ4ROW(2(SI))
	VPAIR(Y0, Y4, 0, Y16)
	VPAIR(Y1, Y5, 16, Y20)
	VQ4ROW(2(SI)(BX*1))
	VPAIR(Y0, Y4, 4, Y17)
	VPAIR(Y1, Y5, 20, Y21)
	VQ4ROW(2(R9))
	VPAIR(Y0, Y4, 8, Y18)
	VPAIR(Y1, Y5, 24, Y22)
	VQ4ROW(2(R9)(BX*1))
	VPAIR(Y0, Y4, 12, Y19)
	VPAIR(Y1, Y5, 28, Y23)
	VADV2(18)
	CMPQ SI, 64(SP)
	JNE  q40v2loop

	MOVQ out+40(FP), AX
	MOVQ ostride+48(FP), R8
	VOUT(Y16, 0, AX)
	VOUT(Y17, 4, AX)
	VOUT(Y18, 8, AX)
	VOUT(Y19, 12, AX)
	ADDQ R8, AX
	VOUT(Y20, 0, AX)
	VOUT(Y21, 4, AX)
	VOUT(Y22, 8, AX)
	VOUT(Y23, 12, AX)
	VZEROUPPER
	RET

