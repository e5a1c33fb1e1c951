//go:build amd64 && !purego

#include "textflag.h"

// Kernels for Q8_0 and Q4_0 rows packed sixteen at a time (packed.go): one
// group of sixteen rows against eight, four, two or one vector, the rows in
// the lanes of 512-bit registers. For each block the group's eight 64-byte
// chunks (Q4_0: four chunks of nibbles, split into the low nibbles in
// Z0-Z3 and the high in Z4-Z7) go to Z0-Z7 and its sixteen row scales,
// converted, to Z8; then
// for each vector v its sum Z16+v starts at the block's total (minus 128
// (Q4_0: 8) times the vector block's quant sum, aux word 9), takes one vpdpbusd per
// chunk against four of the vector's quants broadcast (exact: the sixteen
// rows' integer dot products, one a lane), and Z24+v += float(sum) *
// (dw*dy), with dy broadcast from aux word 8. Each vector's arithmetic is
// the same in every kernel, so a result does not depend on the vectors
// beside it.
//
// Registers: SI the group's chunks (512 bytes a block, Q4_0 256), DX its
// scales (32 bytes a block), R9 32 times the block's index (the vectors' quants are at
// their pointer plus R9, their aux words at plus 2*R9), CX the blocks
// left, R10 and R11 the q and aux pointer arrays, R12 and R13 one vector's
// pointers, Z9 the scale products, Z10 (Q4_0, IQ4_NL) 0x0f in every byte,
// Z13 (IQ4_NL) the levels' table, Z11, Z12 and K1 (Q5_0) the fifth bits, 0x10
// in every byte and a mask.

// PBLOCK asks for the chunks PDIST bytes on into L2 and NDIST bytes on
// into L1, and for the scales PDIST/16 bytes on into L2. A group is one
// stream of addresses, which the hardware prefetchers alone, or software
// prefetches into L1 (whose few miss buffers they share with the loads),
// do not keep up with. Measured on AMD Zen 4 (BenchmarkMulRowsPackedMemory:
// 40 MB of rows, two runs each, ms a pass over them): eight vectors took
// 5.1 with every prefetch into L1 4 KiB ahead, 3.2 with the L2 ones alone,
// 2.6 with both (the file's rows through MulRows 5.5 to 6.1); one vector
// 3.6 to 3.8, 1.9 to 2.2 and 2.0 to 2.1 (MulRows 1.5 to 2.2).
#define PDIST 16384
#define NDIST 4096

// func q8_0P16xN(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
// PARGS loads the arguments; a block's chunks take wb bytes.
#define PARGS(wb) \
	MOVQ   p+0(FP), SI      \
	MOVQ   nb+8(FP), CX     \
	MOVQ   q+16(FP), R10    \
	MOVQ   aux+24(FP), R11  \
	IMUL3Q $wb, CX, DX      \
	ADDQ   SI, DX           \
	XORQ   R9, R9

#define PREF2(off) \
	PREFETCHT1 (PDIST+off)(SI) \
	PREFETCHT0 (NDIST+off)(SI)

// PBLOCK8 loads a Q8_0 block's chunks and scales, prefetching (see PDIST).
#define PBLOCK8 \
	PREF2(0)                     \
	PREF2(64)                    \
	PREF2(128)                   \
	PREF2(192)                   \
	PREF2(256)                   \
	PREF2(320)                   \
	PREF2(384)                   \
	PREF2(448)                   \
	PREFETCHT1 (PDIST/16)(DX)    \
	VMOVDQU64 0(SI), Z0          \
	VMOVDQU64 64(SI), Z1         \
	VMOVDQU64 128(SI), Z2        \
	VMOVDQU64 192(SI), Z3        \
	VMOVDQU64 256(SI), Z4        \
	VMOVDQU64 320(SI), Z5        \
	VMOVDQU64 384(SI), Z6        \
	VMOVDQU64 448(SI), Z7        \
	VCVTPH2PS (DX), Z8

// PNIB splits Q4_0 chunk c into its low nibbles (zlo) and high (zhi).
#define PNIB(off, zlo, zhi) \
	VMOVDQU64 off(SI), zlo     \
	VPSRLD    $4, zlo, zhi     \
	VPANDD    Z10, zlo, zlo    \
	VPANDD    Z10, zhi, zhi

// PBLOCK4 loads a Q4_0 block's chunks, split, and scales, prefetching (the
// chunk bytes a block takes are half Q8_0's, so the same distances reach
// twice as many blocks ahead).
#define PBLOCK4 \
	PREF2(0)                     \
	PREF2(64)                    \
	PREF2(128)                   \
	PREF2(192)                   \
	PREFETCHT1 (PDIST/8)(DX)     \
	PNIB(0, Z0, Z4)              \
	PNIB(64, Z1, Z5)             \
	PNIB(128, Z2, Z6)            \
	PNIB(192, Z3, Z7)            \
	VCVTPH2PS (DX), Z8

// PBLOCKNL is PBLOCK4 for IQ4_NL: each nibble becomes its level plus 128
// (vpshufb from the table in Z13).
#define PBLOCKNL \
	PBLOCK4               \
	VPSHUFB Z0, Z13, Z0   \
	VPSHUFB Z1, Z13, Z1   \
	VPSHUFB Z2, Z13, Z2   \
	VPSHUFB Z3, Z13, Z3   \
	VPSHUFB Z4, Z13, Z4   \
	VPSHUFB Z5, Z13, Z5   \
	VPSHUFB Z6, Z13, Z6   \
	VPSHUFB Z7, Z13, Z7

// iq4nlu is ggml's kvalues_iq4nl plus 128, as bytes.
DATA iq4nlu<>+0(SB)/8, $0x766a5d4f3f2d1801
DATA iq4nlu<>+8(SB)/8, $0xf1d9c5b5a6998d81
GLOBL iq4nlu<>(SB), RODATA|NOPTR, $16

#define PCONSTNL \
	PCONST4                         \
	VBROADCASTI32X4 iq4nlu<>(SB), Z13

// PBLOCK5 loads a Q5_0 block: its nibbles as PBLOCK4 (whose prefetches,
// with one more line, cover the 320 bytes), then each chunk's fifth bits
// from its mask, as 16 or 0, or-ed in.
#define PMASK(k, zk) \
	KMOVQ     (256+8*k)(SI), K1 \
	VPMOVM2B  K1, Z11           \
	VPANDD    Z12, Z11, Z11     \
	VPORD     Z11, zk, zk

#define PBLOCK5 \
	PREF2(256)          \
	PBLOCK4             \
	PMASK(0, Z0)        \
	PMASK(1, Z1)        \
	PMASK(2, Z2)        \
	PMASK(3, Z3)        \
	PMASK(4, Z4)        \
	PMASK(5, Z5)        \
	PMASK(6, Z6)        \
	PMASK(7, Z7)

#define PCONST5 \
	PCONST4                      \
	MOVL         $0x10101010, R8 \
	VPBROADCASTD R8, Z12

#define PCONST4 \
	MOVL         $0x0f0f0f0f, R8 \
	VPBROADCASTD R8, Z10

// PVEC runs vector v (its pointers at 8v in the arrays) against the block:
// integer sum in zi, float accumulator zf.
#define PVEC(v, zi, zf) \
	MOVQ             (8*v)(R10), R12       \
	MOVQ             (8*v)(R11), R13       \
	VPBROADCASTD     36(R13)(R9*2), zi     \
	VPDPBUSD.BCST    0(R12)(R9*1), Z0, zi  \
	VPDPBUSD.BCST    4(R12)(R9*1), Z1, zi  \
	VPDPBUSD.BCST    8(R12)(R9*1), Z2, zi  \
	VPDPBUSD.BCST    12(R12)(R9*1), Z3, zi \
	VPDPBUSD.BCST    16(R12)(R9*1), Z4, zi \
	VPDPBUSD.BCST    20(R12)(R9*1), Z5, zi \
	VPDPBUSD.BCST    24(R12)(R9*1), Z6, zi \
	VPDPBUSD.BCST    28(R12)(R9*1), Z7, zi \
	VCVTDQ2PS        zi, zi                \
	VMULPS.BCST      32(R13)(R9*2), Z8, Z9 \
	VFMADD231PS      Z9, zi, zf

// PVEC2 is PVEC with the block's sum in two chains, chunks 0-3 in zi and
// 4-7 in zj, added before the convert (integers: the same sum), for the
// kernels of one and two vectors, where one chain of eight vpdpbusd a
// block would leave the core waiting on their latency.
#define PVEC2(v, zi, zj, zf) \
	MOVQ             (8*v)(R10), R12       \
	MOVQ             (8*v)(R11), R13       \
	VPBROADCASTD     36(R13)(R9*2), zi     \
	VPXORD           zj, zj, zj            \
	VPDPBUSD.BCST    0(R12)(R9*1), Z0, zi  \
	VPDPBUSD.BCST    16(R12)(R9*1), Z4, zj \
	VPDPBUSD.BCST    4(R12)(R9*1), Z1, zi  \
	VPDPBUSD.BCST    20(R12)(R9*1), Z5, zj \
	VPDPBUSD.BCST    8(R12)(R9*1), Z2, zi  \
	VPDPBUSD.BCST    24(R12)(R9*1), Z6, zj \
	VPDPBUSD.BCST    12(R12)(R9*1), Z3, zi \
	VPDPBUSD.BCST    28(R12)(R9*1), Z7, zj \
	VPADDD           zj, zi, zi            \
	VCVTDQ2PS        zi, zi                \
	VMULPS.BCST      32(R13)(R9*2), Z8, Z9 \
	VFMADD231PS      Z9, zi, zf

// PNEXT moves on by a block of wb chunk bytes.
#define PNEXT(wb) \
	ADDQ $wb, SI \
	ADDQ $32, DX \
	ADDQ $32, R9 \
	DECQ CX

// POUT stores accumulator zf, the sixteen rows' results for the next
// vector, at R8 and moves R8 on by the output stride (AX).
#define POUT(zf) \
	VMOVUPS zf, (R8) \
	ADDQ    AX, R8

#define PEND \
	MOVQ out+32(FP), R8    \
	MOVQ ostride+40(FP), AX

// PTILEn is the whole kernel of n vectors against a group: WB is a
// block's chunk bytes, CONST sets up what BLOCK needs, and BLOCK loads a
// block into Z0-Z8. The kernels of the packed types differ only in those.
#define PTILE8(CONST, BLOCK, WB) \
	PARGS(WB)         \
	CONST                \
	VPXORD Z24, Z24, Z24 \
	VPXORD Z25, Z25, Z25 \
	VPXORD Z26, Z26, Z26 \
	VPXORD Z27, Z27, Z27 \
	VPXORD Z28, Z28, Z28 \
	VPXORD Z29, Z29, Z29 \
	VPXORD Z30, Z30, Z30 \
	VPXORD Z31, Z31, Z31 \
	TESTQ CX, CX         \
	JZ    done           \
loop:                 \
	BLOCK                \
	PVEC(0, Z16, Z24)    \
	PVEC(1, Z17, Z25)    \
	PVEC(2, Z18, Z26)    \
	PVEC(3, Z19, Z27)    \
	PVEC(4, Z20, Z28)    \
	PVEC(5, Z21, Z29)    \
	PVEC(6, Z22, Z30)    \
	PVEC(7, Z23, Z31)    \
	PNEXT(WB)            \
	JNZ   loop           \
done:                 \
	PEND                 \
	POUT(Z24)            \
	POUT(Z25)            \
	POUT(Z26)            \
	POUT(Z27)            \
	POUT(Z28)            \
	POUT(Z29)            \
	POUT(Z30)            \
	POUT(Z31)            \
	VZEROUPPER           \
	RET

#define PTILE4(CONST, BLOCK, WB) \
	PARGS(WB)         \
	CONST                \
	VPXORD Z24, Z24, Z24 \
	VPXORD Z25, Z25, Z25 \
	VPXORD Z26, Z26, Z26 \
	VPXORD Z27, Z27, Z27 \
	TESTQ CX, CX         \
	JZ    done           \
loop:                 \
	BLOCK                \
	PVEC(0, Z16, Z24)    \
	PVEC(1, Z17, Z25)    \
	PVEC(2, Z18, Z26)    \
	PVEC(3, Z19, Z27)    \
	PNEXT(WB)            \
	JNZ   loop           \
done:                 \
	PEND                 \
	POUT(Z24)            \
	POUT(Z25)            \
	POUT(Z26)            \
	POUT(Z27)            \
	VZEROUPPER           \
	RET

#define PTILE2(CONST, BLOCK, WB) \
	PARGS(WB)            \
	CONST                   \
	VPXORD Z24, Z24, Z24    \
	VPXORD Z25, Z25, Z25    \
	TESTQ CX, CX            \
	JZ    done              \
loop:                    \
	BLOCK                   \
	PVEC2(0, Z16, Z18, Z24) \
	PVEC2(1, Z17, Z19, Z25) \
	PNEXT(WB)               \
	JNZ   loop              \
done:                    \
	PEND                    \
	POUT(Z24)               \
	POUT(Z25)               \
	VZEROUPPER              \
	RET

#define PTILE1(CONST, BLOCK, WB) \
	PARGS(WB)            \
	CONST                   \
	VPXORD Z24, Z24, Z24    \
	TESTQ CX, CX            \
	JZ    done              \
loop:                    \
	BLOCK                   \
	PVEC2(0, Z16, Z18, Z24) \
	PNEXT(WB)               \
	JNZ   loop              \
done:                    \
	PEND                    \
	POUT(Z24)               \
	VZEROUPPER              \
	RET

#define PCONST8

// func q8_0P16x8(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q8_0P16x8(SB), NOSPLIT, $0-48
	PTILE8(PCONST8, PBLOCK8, 512)

// func q8_0P16x4(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q8_0P16x4(SB), NOSPLIT, $0-48
	PTILE4(PCONST8, PBLOCK8, 512)

// func q8_0P16x2(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q8_0P16x2(SB), NOSPLIT, $0-48
	PTILE2(PCONST8, PBLOCK8, 512)

// func q8_0P16x1(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q8_0P16x1(SB), NOSPLIT, $0-48
	PTILE1(PCONST8, PBLOCK8, 512)

// func q4_0P16x8(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q4_0P16x8(SB), NOSPLIT, $0-48
	PTILE8(PCONST4, PBLOCK4, 256)

// func q4_0P16x4(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q4_0P16x4(SB), NOSPLIT, $0-48
	PTILE4(PCONST4, PBLOCK4, 256)

// func q4_0P16x2(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q4_0P16x2(SB), NOSPLIT, $0-48
	PTILE2(PCONST4, PBLOCK4, 256)

// func q4_0P16x1(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q4_0P16x1(SB), NOSPLIT, $0-48
	PTILE1(PCONST4, PBLOCK4, 256)

// func iq4_nlP16x8(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·iq4_nlP16x8(SB), NOSPLIT, $0-48
	PTILE8(PCONSTNL, PBLOCKNL, 256)

// func iq4_nlP16x4(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·iq4_nlP16x4(SB), NOSPLIT, $0-48
	PTILE4(PCONSTNL, PBLOCKNL, 256)

// func iq4_nlP16x2(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·iq4_nlP16x2(SB), NOSPLIT, $0-48
	PTILE2(PCONSTNL, PBLOCKNL, 256)

// func iq4_nlP16x1(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·iq4_nlP16x1(SB), NOSPLIT, $0-48
	PTILE1(PCONSTNL, PBLOCKNL, 256)

// func q5_0P16x8(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q5_0P16x8(SB), NOSPLIT, $0-48
	PTILE8(PCONST5, PBLOCK5, 320)

// func q5_0P16x4(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q5_0P16x4(SB), NOSPLIT, $0-48
	PTILE4(PCONST5, PBLOCK5, 320)

// func q5_0P16x2(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q5_0P16x2(SB), NOSPLIT, $0-48
	PTILE2(PCONST5, PBLOCK5, 320)

// func q5_0P16x1(p unsafe.Pointer, nb int, q, aux *[8]unsafe.Pointer, out unsafe.Pointer, ostride int)
TEXT ·q5_0P16x1(SB), NOSPLIT, $0-48
	PTILE1(PCONST5, PBLOCK5, 320)
