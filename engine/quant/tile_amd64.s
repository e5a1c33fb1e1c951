//go:build amd64 && !purego

#include "textflag.h"

// Register-tiled Q8_0/Q4_0 kernels: four weight rows against two or three
// activation vectors at once, every (row, vector) pair with its own 8-lane
// accumulator in a register. Each weight block is loaded, unpacked and made
// absolute once per tile instead of once per pair, the four rows' scales are
// converted together, and the products of the weight and activation scales
// are computed four at a time and broadcast from the stack, so a pair costs
// five vector operations a block (sign, vpmaddubsw, vpmaddwd, convert,
// multiply-add) against seven or more in the one- and four-vector kernels.
//
// A pair's arithmetic is the one-vector kernel's, in its order: the same
// 8-lane integer sums per block (exact), acc += float(sum) * (dw*dy) with
// one multiply-add per block, and hsum_float_8 at the end, so every output
// equals dotQ8_0AVX2's (and dotQ8_0VNNI's) bit for bit.
//
// Registers: Y0-Y11 accumulate, Y(4t+r) for vector t and row r; Y12 holds a
// row's signed block, Y13 its absolute value, Y14 and Y15 are scratch. Rows
// are at SI, SI+BX, R9 and R9+BX (BX = rowBytes, R9 = SI+2*BX); the
// vectors' quants at R10, R11, R12 and their scales at R13, DX, DI. The
// products of the scales, vector t row r, are at 16t+4r(SP).

DATA tones16<>+0(SB)/8, $0x0001000100010001
DATA tones16<>+8(SB)/8, $0x0001000100010001
DATA tones16<>+16(SB)/8, $0x0001000100010001
DATA tones16<>+24(SB)/8, $0x0001000100010001
GLOBL tones16<>(SB), RODATA|NOPTR, $32

DATA tmask4<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA tmask4<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA tmask4<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA tmask4<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL tmask4<>(SB), RODATA|NOPTR, $32

DATA teights<>+0(SB)/8, $0x0808080808080808
DATA teights<>+8(SB)/8, $0x0808080808080808
DATA teights<>+16(SB)/8, $0x0808080808080808
DATA teights<>+24(SB)/8, $0x0808080808080808
GLOBL teights<>(SB), RODATA|NOPTR, $32

// TSCALES converts the four rows' block scales (halves at the block's
// start) and stores their products with each vector's block scale.
#define TSCALEW \
	VPINSRW   $0, (SI), X15, X15        \
	VPINSRW   $1, (SI)(BX*1), X15, X15  \
	VPINSRW   $2, (R9), X15, X15        \
	VPINSRW   $3, (R9)(BX*1), X15, X15  \
	VCVTPH2PS X15, X15

#define TSCALE(dreg, off) \
	VBROADCASTSS (dreg), X14    \
	VMULPS       X15, X14, X14  \
	VMOVUPS      X14, off(SP)

// TPAIR accumulates vector t's block against the row in Y12/Y13.
#define TPAIR(qreg, soff, acc) \
	VMOVDQU      (qreg), Y14             \
	VPSIGNB      Y12, Y14, Y14           \
	VPMADDUBSW   Y14, Y13, Y14           \
	VPMADDWD     tones16<>(SB), Y14, Y14 \
	VCVTDQ2PS    Y14, Y14                \
	VBROADCASTSS soff(SP), Y15           \
	VFMADD231PS  Y14, Y15, acc

// Row loads: Q8_0 blocks are a half and 32 signed bytes; Q4_0 blocks a
// half and 16 bytes of nibbles, low nibbles first (ggml's order), less 8.
#define TQ8ROW(addr) \
	VMOVDQU addr, Y12        \
	VPSIGNB Y12, Y12, Y13

#define TQ4ROW(addr) \
	VMOVDQU     addr, X12             \
	VPSRLW      $4, X12, X14          \
	VINSERTI128 $1, X14, Y12, Y12     \
	VPAND       tmask4<>(SB), Y12, Y12 \
	VPSUBB      teights<>(SB), Y12, Y12 \
	VPSIGNB     Y12, Y12, Y13

// TARGS loads the arguments shared by the tile kernels:
// (w unsafe.Pointer, rowBytes int, q, d *[3]unsafe.Pointer, nb int, ...).
#define TARGS \
	MOVQ w+0(FP), SI         \
	MOVQ rowBytes+8(FP), BX  \
	LEAQ (SI)(BX*2), R9      \
	MOVQ q+16(FP), AX        \
	MOVQ 0(AX), R10          \
	MOVQ 8(AX), R11          \
	MOVQ 16(AX), R12         \
	MOVQ d+24(FP), AX        \
	MOVQ 0(AX), R13          \
	MOVQ 8(AX), DX           \
	MOVQ 16(AX), DI          \
	MOVQ nb+32(FP), CX       \
	LEAQ (SI)(BX*1), AX      \
	LEAQ (R9)(BX*1), R8

#define TZERO(a) VXORPS a, a, a

// TOUT sums acc's lanes in hsum_float_8's order into off(reg).
#define TOUT(acc, xacc, off, reg) \
	VEXTRACTF128 $1, acc, X14  \
	VADDPS       xacc, X14, X14 \
	VMOVHLPS     X14, X14, X15  \
	VADDPS       X15, X14, X14  \
	VMOVSHDUP    X14, X15       \
	VADDSS       X15, X14, X14  \
	MOVSS        X14, off(reg)

// TADV moves to the next block, and asks for the cache lines of the same
// block of the next four rows (AX = SI+BX, R8 = R9+BX): the tile after this
// one finds its rows in L1. Four concurrent row streams are more than the
// hardware prefetcher follows; without this, a tile whose rows come from
// memory ran at about two thirds of the speed of one whose rows are cached.
#define TADV(wbytes) \
	PREFETCHT0 (SI)(BX*4)     \
	PREFETCHT0 (AX)(BX*4)     \
	PREFETCHT0 (R9)(BX*4)     \
	PREFETCHT0 (R8)(BX*4)     \
	ADDQ $wbytes, AX \
	ADDQ $wbytes, R8 \
	ADDQ $wbytes, SI \
	ADDQ $wbytes, R9 \
	ADDQ $32, R10    \
	ADDQ $32, R11    \
	ADDQ $32, R12    \
	ADDQ $4, R13     \
	ADDQ $4, DX      \
	ADDQ $4, DI

// TSTORE3/TSTORE2 write vector t's four sums at out + t*ostride.
#define TSTORE4(reg, a0, x0, a1, x1, a2, x2, a3, x3) \
	TOUT(a0, x0, 0, reg)  \
	TOUT(a1, x1, 4, reg)  \
	TOUT(a2, x2, 8, reg)  \
	TOUT(a3, x3, 12, reg)

// func q8_0x4x3AVX2(w unsafe.Pointer, rowBytes int, q, d *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
TEXT ·q8_0x4x3AVX2(SB), NOSPLIT, $48-56
	TARGS
	TZERO(Y0)
	TZERO(Y1)
	TZERO(Y2)
	TZERO(Y3)
	TZERO(Y4)
	TZERO(Y5)
	TZERO(Y6)
	TZERO(Y7)
	TZERO(Y8)
	TZERO(Y9)
	TZERO(Y10)
	TZERO(Y11)

q8t3loop:
	TSCALEW
	TSCALE(R13, 0)
	TSCALE(DX, 16)
	TSCALE(DI, 32)
	TQ8ROW(2(SI))
	TPAIR(R10, 0, Y0)
	TPAIR(R11, 16, Y4)
	TPAIR(R12, 32, Y8)
	TQ8ROW(2(SI)(BX*1))
	TPAIR(R10, 4, Y1)
	TPAIR(R11, 20, Y5)
	TPAIR(R12, 36, Y9)
	TQ8ROW(2(R9))
	TPAIR(R10, 8, Y2)
	TPAIR(R11, 24, Y6)
	TPAIR(R12, 40, Y10)
	TQ8ROW(2(R9)(BX*1))
	TPAIR(R10, 12, Y3)
	TPAIR(R11, 28, Y7)
	TPAIR(R12, 44, Y11)
	TADV(34)
	DECQ CX
	JNZ  q8t3loop
	MOVQ out+40(FP), AX
	MOVQ ostride+48(FP), R8
	TSTORE4(AX, Y0, X0, Y1, X1, Y2, X2, Y3, X3)
	ADDQ R8, AX
	TSTORE4(AX, Y4, X4, Y5, X5, Y6, X6, Y7, X7)
	ADDQ R8, AX
	TSTORE4(AX, Y8, X8, Y9, X9, Y10, X10, Y11, X11)
	VZEROUPPER
	RET

// func q4_0x4x3AVX2(w unsafe.Pointer, rowBytes int, q, d *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
TEXT ·q4_0x4x3AVX2(SB), NOSPLIT, $48-56
	TARGS
	TZERO(Y0)
	TZERO(Y1)
	TZERO(Y2)
	TZERO(Y3)
	TZERO(Y4)
	TZERO(Y5)
	TZERO(Y6)
	TZERO(Y7)
	TZERO(Y8)
	TZERO(Y9)
	TZERO(Y10)
	TZERO(Y11)

q4t3loop:
	TSCALEW
	TSCALE(R13, 0)
	TSCALE(DX, 16)
	TSCALE(DI, 32)
	TQ4ROW(2(SI))
	TPAIR(R10, 0, Y0)
	TPAIR(R11, 16, Y4)
	TPAIR(R12, 32, Y8)
	TQ4ROW(2(SI)(BX*1))
	TPAIR(R10, 4, Y1)
	TPAIR(R11, 20, Y5)
	TPAIR(R12, 36, Y9)
	TQ4ROW(2(R9))
	TPAIR(R10, 8, Y2)
	TPAIR(R11, 24, Y6)
	TPAIR(R12, 40, Y10)
	TQ4ROW(2(R9)(BX*1))
	TPAIR(R10, 12, Y3)
	TPAIR(R11, 28, Y7)
	TPAIR(R12, 44, Y11)
	TADV(18)
	DECQ CX
	JNZ  q4t3loop

	MOVQ out+40(FP), AX
	MOVQ ostride+48(FP), R8
	TSTORE4(AX, Y0, X0, Y1, X1, Y2, X2, Y3, X3)
	ADDQ R8, AX
	TSTORE4(AX, Y4, X4, Y5, X5, Y6, X6, Y7, X7)
	ADDQ R8, AX
	TSTORE4(AX, Y8, X8, Y9, X9, Y10, X10, Y11, X11)
	VZEROUPPER
	RET

// func q8_0x4x2AVX2(w unsafe.Pointer, rowBytes int, q, d *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The third pointers are ignored.
TEXT ·q8_0x4x2AVX2(SB), NOSPLIT, $48-56
	TARGS
	TZERO(Y0)
	TZERO(Y1)
	TZERO(Y2)
	TZERO(Y3)
	TZERO(Y4)
	TZERO(Y5)
	TZERO(Y6)
	TZERO(Y7)

q8t2loop:
	TSCALEW
	TSCALE(R13, 0)
	TSCALE(DX, 16)
	TQ8ROW(2(SI))
	TPAIR(R10, 0, Y0)
	TPAIR(R11, 16, Y4)
	TQ8ROW(2(SI)(BX*1))
	TPAIR(R10, 4, Y1)
	TPAIR(R11, 20, Y5)
	TQ8ROW(2(R9))
	TPAIR(R10, 8, Y2)
	TPAIR(R11, 24, Y6)
	TQ8ROW(2(R9)(BX*1))
	TPAIR(R10, 12, Y3)
	TPAIR(R11, 28, Y7)
	TADV(34)
	DECQ CX
	JNZ  q8t2loop
	MOVQ out+40(FP), AX
	MOVQ ostride+48(FP), R8
	TSTORE4(AX, Y0, X0, Y1, X1, Y2, X2, Y3, X3)
	ADDQ R8, AX
	TSTORE4(AX, Y4, X4, Y5, X5, Y6, X6, Y7, X7)
	VZEROUPPER
	RET

// func q4_0x4x2AVX2(w unsafe.Pointer, rowBytes int, q, d *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
TEXT ·q4_0x4x2AVX2(SB), NOSPLIT, $48-56
	TARGS
	TZERO(Y0)
	TZERO(Y1)
	TZERO(Y2)
	TZERO(Y3)
	TZERO(Y4)
	TZERO(Y5)
	TZERO(Y6)
	TZERO(Y7)

q4t2loop:
	TSCALEW
	TSCALE(R13, 0)
	TSCALE(DX, 16)
	TQ4ROW(2(SI))
	TPAIR(R10, 0, Y0)
	TPAIR(R11, 16, Y4)
	TQ4ROW(2(SI)(BX*1))
	TPAIR(R10, 4, Y1)
	TPAIR(R11, 20, Y5)
	TQ4ROW(2(R9))
	TPAIR(R10, 8, Y2)
	TPAIR(R11, 24, Y6)
	TQ4ROW(2(R9)(BX*1))
	TPAIR(R10, 12, Y3)
	TPAIR(R11, 28, Y7)
	TADV(18)
	DECQ CX
	JNZ  q4t2loop

	MOVQ out+40(FP), AX
	MOVQ ostride+48(FP), R8
	TSTORE4(AX, Y0, X0, Y1, X1, Y2, X2, Y3, X3)
	ADDQ R8, AX
	TSTORE4(AX, Y4, X4, Y5, X5, Y6, X6, Y7, X7)
	VZEROUPPER
	RET

// func unpackQ4_0AVX2(dst, src unsafe.Pointer, nb int)
// Rewrites nb Q4_0 blocks (a half and 16 bytes of nibbles) as Q8_0 blocks
// (the same half and 32 signed bytes: low nibbles less 8, then high
// nibbles less 8), the bytes TQ4ROW makes, so the Q8_0 tiles give the
// Q4_0 tiles' results.
TEXT ·unpackQ4_0AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX
	TESTQ CX, CX
	JZ   unpackdone

unpackloop:
	MOVWLZX     (SI), AX
	MOVW        AX, (DI)
	VMOVDQU     2(SI), X12
	VPSRLW      $4, X12, X14
	VINSERTI128 $1, X14, Y12, Y12
	VPAND       tmask4<>(SB), Y12, Y12
	VPSUBB      teights<>(SB), Y12, Y12
	VMOVDQU     Y12, 2(DI)
	ADDQ        $18, SI
	ADDQ        $34, DI
	DECQ        CX
	JNZ         unpackloop

unpackdone:
	VZEROUPPER
	RET
