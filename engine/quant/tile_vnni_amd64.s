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
// The blocks go in chunks of up to VCHUNKN. For each chunk a first pass
// writes the sixteen products of the scales of every block to the stack
// (vector t row r at 16t+4r, 64 bytes a block); the tile's loop then
// broadcasts each pair's product from there into its multiply-add.
// Storing a block's products in the loop and loading them back at once, as
// the AVX2 tiles do, made these kernels about 1.3 times slower on AMD Zen 4
// than the same loop without the stores (the four-byte loads from a
// sixteen-byte store just made seem to wait for it to leave the store
// queue); this pass recovers most of that (an experiment with the products
// in registers, wrong results, was still 15 to 20 % faster).
//
// Registers: Y16+4t+r accumulates vector t against row r; Y0-Y3 hold the
// vectors' quant blocks, Y4-Y7 their aux lanes, Y8 the row's unsigned
// block, Y9 the pair's sum, Y12 the constant (0x80 bytes for Q8_0, 0x0f for
// Q4_0, unused by the q4_0U tiles of unpacked Q4_0 rows), X13-X15 scratch. Rows are at SI, SI+BX, R8 and R8+BX (BX =
// rowBytes, R8 = SI+2*BX, also scratch). Within a chunk R9 is 32 times the
// block's index: the vectors' quant blocks are at R10-R13 plus R9, their
// aux blocks at DX, DI, AX, CX plus 2*R9, the products at 2*R9(SP); those
// bases move on by a chunk at its end. VEND(SP) holds 32 times the chunk's
// blocks, VLEFT(SP) the blocks after it, VSAVE(SP) R10 in the first pass.

#define VCHUNKN 16
#define VEND (64*VCHUNKN)
#define VLEFT (64*VCHUNKN+8)
#define VSAVE (64*VCHUNKN+16)
// The frame is 64*VCHUNKN+24 bytes (written out in the TEXT lines).

// VARGSn loads the arguments (w unsafe.Pointer, rowBytes int,
// q, aux *[4]unsafe.Pointer, nb int, ...) for n vectors.
#define VARGS2 \
	MOVQ w+0(FP), SI         \
	MOVQ rowBytes+8(FP), BX  \
	MOVQ nb+32(FP), R8       \
	MOVQ R8, VLEFT(SP)       \
	MOVQ q+16(FP), R8        \
	MOVQ 0(R8), R10          \
	MOVQ 8(R8), R11          \
	MOVQ 16(R8), R12         \
	MOVQ 24(R8), R13         \
	MOVQ aux+24(FP), R8      \
	MOVQ 0(R8), DX           \
	MOVQ 8(R8), DI

#define VARGS3 \
	VARGS2                   \
	MOVQ 16(R8), AX

#define VARGS4 \
	VARGS3                   \
	MOVQ 24(R8), CX

#define VCONSTQ8 \
	MOVL         $0x80808080, R8 \
	VMOVD        R8, X12         \
	VPBROADCASTD X12, Y12

#define VCONSTQ4 \
	MOVL         $0x0f0f0f0f, R8 \
	VMOVD        R8, X12         \
	VPBROADCASTD X12, Y12

// VCHUNK takes the next chunk's blocks off VLEFT, sets VEND, and starts
// the first pass: R8 walks the rows, R10 (saved) points at the third.
#define VCHUNK \
	MOVQ   VLEFT(SP), R8      \
	MOVQ   $VCHUNKN, R9       \
	CMPQ   R8, R9             \
	CMOVQLT R8, R9            \
	SUBQ   R9, R8             \
	MOVQ   R8, VLEFT(SP)      \
	SHLQ   $5, R9             \
	MOVQ   R9, VEND(SP)       \
	MOVQ   R10, VSAVE(SP)     \
	MOVQ   SI, R8             \
	XORQ   R9, R9

// VPREW converts the four rows' block scales (halves at the block's start).
#define VPREW \
	LEAQ      (R8)(BX*2), R10           \
	VPINSRW   $0, (R8), X15, X15        \
	VPINSRW   $1, (R8)(BX*1), X15, X15  \
	VPINSRW   $2, (R10), X15, X15       \
	VPINSRW   $3, (R10)(BX*1), X15, X15 \
	VCVTPH2PS X15, X15

// VPREV stores a vector's products: the rows' scales times its block's
// scale, the float 32 bytes into its aux block.
#define VPREV(areg, off) \
	VMULPS.BCST 32(areg)(R9*2), X15, X14 \
	VMOVUPS     X14, off(SP)(R9*2)

#define VPRENEXT(wbytes) \
	ADDQ $wbytes, R8  \
	ADDQ $32, R9      \
	CMPQ R9, VEND(SP)

#define VPREDONE \
	MOVQ VSAVE(SP), R10 \
	XORQ R9, R9

// VLOADV loads a vector's quant block and its aux lanes.
#define VLOADV(qreg, areg, yq, ya) \
	VMOVDQU (qreg)(R9*1), yq \
	VMOVDQU (areg)(R9*2), ya

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

// VPAIR accumulates a vector's block (quants in yq, aux lanes in ya)
// against the row in Y8, with the scale product at soff(SP)(R9*2).
#define VPAIR(yq, ya, soff, acc) \
	VMOVDQA          ya, Y9        \
	VPDPBUSD         yq, Y8, Y9    \
	VCVTDQ2PS        Y9, Y9        \
	VFMADD231PS.BCST soff(SP)(R9*2), Y9, acc

// VADV asks for the cache lines of the same block of the rows eight to
// eleven rows on, into L2, and moves to the next block, comparing R9 with
// VEND. Four concurrent row streams are more than the hardware prefetcher
// follows (without these prefetches a decode step of four sequences took
// 1.6 times as long); measured on Zen 4 in decode steps of four and eight
// sequences, with the rows coming from memory, asking eight rows ahead into
// L2 beat four rows ahead into L1, as the AVX2 tiles do, by 1.4 and 1.1
// times, and twelve or sixteen rows ahead gained nothing more.
#define VADV(wbytes) \
	LEAQ       (SI)(BX*8), R8  \
	PREFETCHT1 (R8)            \
	PREFETCHT1 (R8)(BX*1)      \
	PREFETCHT1 (R8)(BX*2)      \
	LEAQ       (R8)(BX*2), R8  \
	PREFETCHT1 (R8)(BX*1)      \
	ADDQ       $wbytes, SI     \
	ADDQ       $32, R9         \
	CMPQ       R9, VEND(SP)

// VNEXTCHUNKn moves the vectors' bases past the chunk (R9 = 32 times its
// blocks) and tests whether blocks are left.
#define VNEXTCHUNK2 \
	ADDQ R9, R10          \
	ADDQ R9, R11          \
	ADDQ R9, R12          \
	ADDQ R9, R13          \
	LEAQ (DX)(R9*2), DX   \
	LEAQ (DI)(R9*2), DI   \
	LEAQ (AX)(R9*2), AX   \
	LEAQ (CX)(R9*2), CX   \
	CMPQ VLEFT(SP), $0

#define VNEXTCHUNK3 VNEXTCHUNK2
#define VNEXTCHUNK4 VNEXTCHUNK2

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

// VTILEn is the whole kernel of n vectors against four rows: CONST sets
// Y12 for ROW, which loads a row block into Y8 unsigned, and ADV moves on
// by WB, the bytes of a row block. The Q8_0, Q4_0 and unpacked-Q4_0 tiles
// below differ only in those.
#define VTILE4(CONST, ROW, ADV, WB) \
	VARGS4 \
	CONST \
	VPXORD Y16, Y16, Y16 \
	VPXORD Y17, Y17, Y17 \
	VPXORD Y18, Y18, Y18 \
	VPXORD Y19, Y19, Y19 \
	VPXORD Y20, Y20, Y20 \
	VPXORD Y21, Y21, Y21 \
	VPXORD Y22, Y22, Y22 \
	VPXORD Y23, Y23, Y23 \
	VPXORD Y24, Y24, Y24 \
	VPXORD Y25, Y25, Y25 \
	VPXORD Y26, Y26, Y26 \
	VPXORD Y27, Y27, Y27 \
	VPXORD Y28, Y28, Y28 \
	VPXORD Y29, Y29, Y29 \
	VPXORD Y30, Y30, Y30 \
	VPXORD Y31, Y31, Y31 \
chunk: \
	VCHUNK \
pre: \
	VPREW \
	VPREV(DX, 0) \
	VPREV(DI, 16) \
	VPREV(AX, 32) \
	VPREV(CX, 48) \
	VPRENEXT(WB) \
	JNE  pre \
	VPREDONE \
loop: \
	LEAQ (SI)(BX*2), R8 \
	VLOADV(R10, DX, Y0, Y4) \
	VLOADV(R11, DI, Y1, Y5) \
	VLOADV(R12, AX, Y2, Y6) \
	VLOADV(R13, CX, Y3, Y7) \
	ROW(2(SI)) \
	VPAIR(Y0, Y4, 0, Y16) \
	VPAIR(Y1, Y5, 16, Y20) \
	VPAIR(Y2, Y6, 32, Y24) \
	VPAIR(Y3, Y7, 48, Y28) \
	ROW(2(SI)(BX*1)) \
	VPAIR(Y0, Y4, 4, Y17) \
	VPAIR(Y1, Y5, 20, Y21) \
	VPAIR(Y2, Y6, 36, Y25) \
	VPAIR(Y3, Y7, 52, Y29) \
	ROW(2(R8)) \
	VPAIR(Y0, Y4, 8, Y18) \
	VPAIR(Y1, Y5, 24, Y22) \
	VPAIR(Y2, Y6, 40, Y26) \
	VPAIR(Y3, Y7, 56, Y30) \
	ROW(2(R8)(BX*1)) \
	VPAIR(Y0, Y4, 12, Y19) \
	VPAIR(Y1, Y5, 28, Y23) \
	VPAIR(Y2, Y6, 44, Y27) \
	VPAIR(Y3, Y7, 60, Y31) \
	ADV(WB) \
	JNE  loop \
	VNEXTCHUNK4 \
	JNZ  chunk \
	MOVQ out+40(FP), AX \
	MOVQ ostride+48(FP), R8 \
	VOUT(Y16, 0, AX) \
	VOUT(Y17, 4, AX) \
	VOUT(Y18, 8, AX) \
	VOUT(Y19, 12, AX) \
	ADDQ R8, AX \
	VOUT(Y20, 0, AX) \
	VOUT(Y21, 4, AX) \
	VOUT(Y22, 8, AX) \
	VOUT(Y23, 12, AX) \
	ADDQ R8, AX \
	VOUT(Y24, 0, AX) \
	VOUT(Y25, 4, AX) \
	VOUT(Y26, 8, AX) \
	VOUT(Y27, 12, AX) \
	ADDQ R8, AX \
	VOUT(Y28, 0, AX) \
	VOUT(Y29, 4, AX) \
	VOUT(Y30, 8, AX) \
	VOUT(Y31, 12, AX) \
	VZEROUPPER \
	RET

#define VTILE3(CONST, ROW, ADV, WB) \
	VARGS3 \
	CONST \
	VPXORD Y16, Y16, Y16 \
	VPXORD Y17, Y17, Y17 \
	VPXORD Y18, Y18, Y18 \
	VPXORD Y19, Y19, Y19 \
	VPXORD Y20, Y20, Y20 \
	VPXORD Y21, Y21, Y21 \
	VPXORD Y22, Y22, Y22 \
	VPXORD Y23, Y23, Y23 \
	VPXORD Y24, Y24, Y24 \
	VPXORD Y25, Y25, Y25 \
	VPXORD Y26, Y26, Y26 \
	VPXORD Y27, Y27, Y27 \
chunk: \
	VCHUNK \
pre: \
	VPREW \
	VPREV(DX, 0) \
	VPREV(DI, 16) \
	VPREV(AX, 32) \
	VPRENEXT(WB) \
	JNE  pre \
	VPREDONE \
loop: \
	LEAQ (SI)(BX*2), R8 \
	VLOADV(R10, DX, Y0, Y4) \
	VLOADV(R11, DI, Y1, Y5) \
	VLOADV(R12, AX, Y2, Y6) \
	ROW(2(SI)) \
	VPAIR(Y0, Y4, 0, Y16) \
	VPAIR(Y1, Y5, 16, Y20) \
	VPAIR(Y2, Y6, 32, Y24) \
	ROW(2(SI)(BX*1)) \
	VPAIR(Y0, Y4, 4, Y17) \
	VPAIR(Y1, Y5, 20, Y21) \
	VPAIR(Y2, Y6, 36, Y25) \
	ROW(2(R8)) \
	VPAIR(Y0, Y4, 8, Y18) \
	VPAIR(Y1, Y5, 24, Y22) \
	VPAIR(Y2, Y6, 40, Y26) \
	ROW(2(R8)(BX*1)) \
	VPAIR(Y0, Y4, 12, Y19) \
	VPAIR(Y1, Y5, 28, Y23) \
	VPAIR(Y2, Y6, 44, Y27) \
	ADV(WB) \
	JNE  loop \
	VNEXTCHUNK3 \
	JNZ  chunk \
	MOVQ out+40(FP), AX \
	MOVQ ostride+48(FP), R8 \
	VOUT(Y16, 0, AX) \
	VOUT(Y17, 4, AX) \
	VOUT(Y18, 8, AX) \
	VOUT(Y19, 12, AX) \
	ADDQ R8, AX \
	VOUT(Y20, 0, AX) \
	VOUT(Y21, 4, AX) \
	VOUT(Y22, 8, AX) \
	VOUT(Y23, 12, AX) \
	ADDQ R8, AX \
	VOUT(Y24, 0, AX) \
	VOUT(Y25, 4, AX) \
	VOUT(Y26, 8, AX) \
	VOUT(Y27, 12, AX) \
	VZEROUPPER \
	RET

#define VTILE2(CONST, ROW, ADV, WB) \
	VARGS2 \
	CONST \
	VPXORD Y16, Y16, Y16 \
	VPXORD Y17, Y17, Y17 \
	VPXORD Y18, Y18, Y18 \
	VPXORD Y19, Y19, Y19 \
	VPXORD Y20, Y20, Y20 \
	VPXORD Y21, Y21, Y21 \
	VPXORD Y22, Y22, Y22 \
	VPXORD Y23, Y23, Y23 \
chunk: \
	VCHUNK \
pre: \
	VPREW \
	VPREV(DX, 0) \
	VPREV(DI, 16) \
	VPRENEXT(WB) \
	JNE  pre \
	VPREDONE \
loop: \
	LEAQ (SI)(BX*2), R8 \
	VLOADV(R10, DX, Y0, Y4) \
	VLOADV(R11, DI, Y1, Y5) \
	ROW(2(SI)) \
	VPAIR(Y0, Y4, 0, Y16) \
	VPAIR(Y1, Y5, 16, Y20) \
	ROW(2(SI)(BX*1)) \
	VPAIR(Y0, Y4, 4, Y17) \
	VPAIR(Y1, Y5, 20, Y21) \
	ROW(2(R8)) \
	VPAIR(Y0, Y4, 8, Y18) \
	VPAIR(Y1, Y5, 24, Y22) \
	ROW(2(R8)(BX*1)) \
	VPAIR(Y0, Y4, 12, Y19) \
	VPAIR(Y1, Y5, 28, Y23) \
	ADV(WB) \
	JNE  loop \
	VNEXTCHUNK2 \
	JNZ  chunk \
	MOVQ out+40(FP), AX \
	MOVQ ostride+48(FP), R8 \
	VOUT(Y16, 0, AX) \
	VOUT(Y17, 4, AX) \
	VOUT(Y18, 8, AX) \
	VOUT(Y19, 12, AX) \
	ADDQ R8, AX \
	VOUT(Y20, 0, AX) \
	VOUT(Y21, 4, AX) \
	VOUT(Y22, 8, AX) \
	VOUT(Y23, 12, AX) \
	VZEROUPPER \
	RET

// VNOCONST is the unpacked Q4_0 tiles' CONST: their rows need no constant.
#define VNOCONST

// func q8_0x4x4VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
TEXT ·q8_0x4x4VNNI(SB), $1048-56
	VTILE4(VCONSTQ8, VQ8ROW, VADV, 34)

// func q8_0x4x3VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The pointers after the first 3 are ignored.
TEXT ·q8_0x4x3VNNI(SB), $1048-56
	VTILE3(VCONSTQ8, VQ8ROW, VADV, 34)

// func q8_0x4x2VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The pointers after the first 2 are ignored.
TEXT ·q8_0x4x2VNNI(SB), $1048-56
	VTILE2(VCONSTQ8, VQ8ROW, VADV, 34)

// func q4_0x4x4VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
TEXT ·q4_0x4x4VNNI(SB), $1048-56
	VTILE4(VCONSTQ4, VQ4ROW, VADV, 18)

// func q4_0x4x3VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The pointers after the first 3 are ignored.
TEXT ·q4_0x4x3VNNI(SB), $1048-56
	VTILE3(VCONSTQ4, VQ4ROW, VADV, 18)

// func q4_0x4x2VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The pointers after the first 2 are ignored.
TEXT ·q4_0x4x2VNNI(SB), $1048-56
	VTILE2(VCONSTQ4, VQ4ROW, VADV, 18)

// The q4_0U tiles, for Q4_0 rows unpacked by unpackQ4_0VNNI: the Q8_0
// tiles' loop, with each row block (nibbles, already unsigned) loaded as it
// is rather than XORed, so the integer sums and the float steps are the
// Q4_0 tiles' own, against vectors prepared for Q4_0 (their lane sums hold
// the correction for the nibbles' offset of 8).

// VU8ROW loads an unpacked Q4_0 row block: the bytes VQ4ROW makes.
#define VU8ROW(addr) \
	VMOVDQU addr, Y8

// VUADV moves to the next block as VADV does, without its prefetches: the
// rows are four, in a buffer that unpackQ4_0VNNI just wrote, so rows eight
// on are not there.
#define VUADV(wbytes) \
	ADDQ $wbytes, SI \
	ADDQ $32, R9     \
	CMPQ R9, VEND(SP)

// func unpackQ4_0VNNI(dst, src unsafe.Pointer, nb int)
// Rewrites nb Q4_0 blocks (a half and 16 bytes of nibbles) as Q8_0-layout
// blocks: the same half and the 32 unsigned bytes VQ4ROW makes (low
// nibbles, then high nibbles, 0 to 15), for the q4_0Ux4x tiles.
TEXT ·unpackQ4_0VNNI(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX
	TESTQ CX, CX
	JZ   u4unpackdone
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X12
	VPBROADCASTD X12, Y12

u4unpackloop:
	MOVWLZX     (SI), AX
	MOVW        AX, (DI)
	VMOVDQU     2(SI), X8
	VPSRLW      $4, X8, X13
	VINSERTI128 $1, X13, Y8, Y8
	VPAND       Y12, Y8, Y8
	VMOVDQU     Y8, 2(DI)
	ADDQ        $18, SI
	ADDQ        $34, DI
	DECQ        CX
	JNZ         u4unpackloop

u4unpackdone:
	VZEROUPPER
	RET

// func q4_0Ux4x4VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
TEXT ·q4_0Ux4x4VNNI(SB), $1048-56
	VTILE4(VNOCONST, VU8ROW, VUADV, 34)

// func q4_0Ux4x3VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The pointers after the first 3 are ignored.
TEXT ·q4_0Ux4x3VNNI(SB), $1048-56
	VTILE3(VNOCONST, VU8ROW, VUADV, 34)

// func q4_0Ux4x2VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// The pointers after the first 2 are ignored.
TEXT ·q4_0Ux4x2VNNI(SB), $1048-56
	VTILE2(VNOCONST, VU8ROW, VUADV, 34)
