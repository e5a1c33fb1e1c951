//go:build amd64 && !purego

#include "textflag.h"
#include "kscales_amd64.h"

// Register-tiled Q4_K and Q6_K kernels: four rows by three vectors. Each
// row is first unpacked, super-block by super-block, into a group layout
// that the tile kernels read for every vector (see tilek_amd64.go):
//
//	row r at r*544: W, 256 unsigned bytes (the 4-bit values, or the 6-bit
//	values before their offset of 32), 32 per sub-block in the order the
//	activation quants run; SC, eight 32-byte vectors of int16 scales, the
//	one vpmaddwd multiplies each sub-block's vpmaddubsw pairs by; M, 16
//	int16 (Q4_K: the eight mins, each twice; Q6_K: the 16 scales), which
//	vpmaddwd multiplies by the vector's bsums
//	at 2176: the four rows' super-block scales as float32 (d), at 2192
//	their mins' scales (dmin, Q4_K only)
//
// and a group takes 2240 bytes a super-block. The integer sums are exact,
// so their order does not matter; the float part of each pair is the
// one-vector kernels' (q4kRowAVX2, q6kRowAVX2) lane by lane, same
// operations, same operand order, so every result equals Vec.Dot's.

// tkq4mask entry k broadcasts int16 word k of each 128-bit lane; tkq6mask
// entry s broadcasts word 2s in the low lane and 2s+1 in the high lane.
DATA tkq4mask<>+0(SB)/8, $0x0100010001000100
DATA tkq4mask<>+8(SB)/8, $0x0100010001000100
DATA tkq4mask<>+16(SB)/8, $0x0100010001000100
DATA tkq4mask<>+24(SB)/8, $0x0100010001000100
DATA tkq4mask<>+32(SB)/8, $0x0302030203020302
DATA tkq4mask<>+40(SB)/8, $0x0302030203020302
DATA tkq4mask<>+48(SB)/8, $0x0302030203020302
DATA tkq4mask<>+56(SB)/8, $0x0302030203020302
DATA tkq4mask<>+64(SB)/8, $0x0504050405040504
DATA tkq4mask<>+72(SB)/8, $0x0504050405040504
DATA tkq4mask<>+80(SB)/8, $0x0504050405040504
DATA tkq4mask<>+88(SB)/8, $0x0504050405040504
DATA tkq4mask<>+96(SB)/8, $0x0706070607060706
DATA tkq4mask<>+104(SB)/8, $0x0706070607060706
DATA tkq4mask<>+112(SB)/8, $0x0706070607060706
DATA tkq4mask<>+120(SB)/8, $0x0706070607060706
DATA tkq4mask<>+128(SB)/8, $0x0908090809080908
DATA tkq4mask<>+136(SB)/8, $0x0908090809080908
DATA tkq4mask<>+144(SB)/8, $0x0908090809080908
DATA tkq4mask<>+152(SB)/8, $0x0908090809080908
DATA tkq4mask<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA tkq4mask<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA tkq4mask<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA tkq4mask<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA tkq4mask<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA tkq4mask<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA tkq4mask<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA tkq4mask<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA tkq4mask<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA tkq4mask<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA tkq4mask<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA tkq4mask<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL tkq4mask<>(SB), RODATA|NOPTR, $256

DATA tkq6mask<>+0(SB)/8, $0x0100010001000100
DATA tkq6mask<>+8(SB)/8, $0x0100010001000100
DATA tkq6mask<>+16(SB)/8, $0x0302030203020302
DATA tkq6mask<>+24(SB)/8, $0x0302030203020302
DATA tkq6mask<>+32(SB)/8, $0x0504050405040504
DATA tkq6mask<>+40(SB)/8, $0x0504050405040504
DATA tkq6mask<>+48(SB)/8, $0x0706070607060706
DATA tkq6mask<>+56(SB)/8, $0x0706070607060706
DATA tkq6mask<>+64(SB)/8, $0x0908090809080908
DATA tkq6mask<>+72(SB)/8, $0x0908090809080908
DATA tkq6mask<>+80(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA tkq6mask<>+88(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA tkq6mask<>+96(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA tkq6mask<>+104(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA tkq6mask<>+112(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA tkq6mask<>+120(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL tkq6mask<>(SB), RODATA|NOPTR, $128


// KROW multiplies one row's sub-block (W and SC at off(SI)(AX*1)) by the
// three vectors' quants at (R8), (R9), (R10) plus AX, into a0, a1, a2.
#define KROW(off, a0, a1, a2) \
	VMOVDQU    off(SI)(AX*1), Y12     \
	VMOVDQU    off+256(SI)(AX*1), Y13 \
	VPMADDUBSW (R8)(AX*1), Y12, Y14   \
	VPMADDWD   Y13, Y14, Y14          \
	VPADDD     Y14, a0, a0            \
	VPMADDUBSW (R9)(AX*1), Y12, Y15   \
	VPMADDWD   Y13, Y15, Y15          \
	VPADDD     Y15, a1, a1            \
	VPMADDUBSW (R10)(AX*1), Y12, Y14  \
	VPMADDWD   Y13, Y14, Y14          \
	VPADDD     Y14, a2, a2

// KTILE sets up the tile kernels' registers: the group at SI, the
// vectors' quants at R8-R10, scales at R11-R13, bsums at DI, BX, DX, the
// super-block count in CX; the float sums at 0, 16 and 32(SP) start at 0.
#define KTILE \
	MOVQ u+0(FP), SI       \
	MOVQ q8+8(FP), AX      \
	MOVQ 0(AX), R8         \
	MOVQ 8(AX), R9         \
	MOVQ 16(AX), R10       \
	MOVQ d+16(FP), AX      \
	MOVQ 0(AX), R11        \
	MOVQ 8(AX), R12        \
	MOVQ 16(AX), R13       \
	MOVQ bs+24(FP), AX     \
	MOVQ 0(AX), DI         \
	MOVQ 8(AX), BX         \
	MOVQ 16(AX), DX        \
	MOVQ nb+32(FP), CX     \
	VXORPS  X0, X0, X0     \
	VMOVUPS X0, 0(SP)      \
	VMOVUPS X0, 16(SP)     \
	VMOVUPS X0, 32(SP)

// KSUMS zeroes the twelve accumulators (Y0-Y11: row r, vector t in
// Y(3r+t)) and sums the super-block's eight sub-blocks into them.
#define KSUMS(inner) \
	VPXOR Y0, Y0, Y0    \
	VPXOR Y1, Y1, Y1    \
	VPXOR Y2, Y2, Y2    \
	VPXOR Y3, Y3, Y3    \
	VPXOR Y4, Y4, Y4    \
	VPXOR Y5, Y5, Y5    \
	VPXOR Y6, Y6, Y6    \
	VPXOR Y7, Y7, Y7    \
	VPXOR Y8, Y8, Y8    \
	VPXOR Y9, Y9, Y9    \
	VPXOR Y10, Y10, Y10 \
	VPXOR Y11, Y11, Y11 \
	XORQ  AX, AX        \
inner:                  \
	KROW(0, Y0, Y1, Y2)      \
	KROW(544, Y3, Y4, Y5)    \
	KROW(1088, Y6, Y7, Y8)   \
	KROW(1632, Y9, Y10, Y11) \
	ADDQ $32, AX             \
	CMPQ AX, $256            \
	JNE  inner

// RED4 sums the lanes of each of the four rows' accumulators into the
// four int32 lanes of X12 (row r in lane r). Clobbers Y13.
#define RED4(a0, a1, a2, a3) \
	VPHADDD      a1, a0, Y12   \
	VPHADDD      a3, a2, Y13   \
	VPHADDD      Y13, Y12, Y12 \
	VEXTRACTI128 $1, Y12, X13  \
	VPADDD       X13, X12, X12

// KADD adds the four terms in X14 to the float sums at acc(SP), sum first
// as the one-vector kernels' VADDSS has it.
#define KADD(acc) \
	VMOVUPS acc(SP), X13 \
	VADDPS  X14, X13, X13 \
	VMOVUPS X13, acc(SP)

// KSTORE writes the float sums to out, out+ostride, out+2*ostride.
#define KSTORE \
	MOVQ    out+40(FP), AX     \
	MOVQ    ostride+48(FP), CX \
	VMOVUPS 0(SP), X0          \
	VMOVUPS X0, (AX)           \
	ADDQ    CX, AX             \
	VMOVUPS 16(SP), X0         \
	VMOVUPS X0, (AX)           \
	ADDQ    CX, AX             \
	VMOVUPS 32(SP), X0         \
	VMOVUPS X0, (AX)

// Q4KPAIR finishes vector t's four pairs (its accumulators a0-a3, bsums at
// bs, scale at dv): summ from the mins, then per row
// s += d*vd*sumi - dmin*vd*summ, as q4kRowAVX2 does.
#define Q4KPAIR(a0, a1, a2, a3, bs, dv, acc) \
	RED4(a0, a1, a2, a3)            \
	VCVTDQ2PS    X12, X15           \
	VMOVDQU      (bs), Y12          \
	VPMADDWD     512(SI), Y12, a0   \
	VPMADDWD     1056(SI), Y12, a1  \
	VPMADDWD     1600(SI), Y12, a2  \
	VPMADDWD     2144(SI), Y12, a3  \
	RED4(a0, a1, a2, a3)            \
	VCVTDQ2PS    X12, X12           \
	VBROADCASTSS (dv), X13          \
	VMOVUPS      2176(SI), X14      \
	VMULPS       X13, X14, X14      \
	VMULPS       X15, X14, X14      \
	VMOVUPS      2192(SI), X15      \
	VMULPS       X13, X15, X15      \
	VMULPS       X12, X15, X15      \
	VSUBPS       X15, X14, X14      \
	KADD(acc)

// Q6KPAIR finishes vector t's four pairs: takes 32*scale*bsum off each
// row's sum for the values' offset, then per row s += d*vd*sumi, as
// q6kRowAVX2 does.
#define Q6KPAIR(a0, a1, a2, a3, bs, dv, acc) \
	VMOVDQU      (bs), Y12          \
	VPMADDWD     512(SI), Y12, Y13  \
	VPSLLD       $5, Y13, Y13       \
	VPSUBD       Y13, a0, a0        \
	VPMADDWD     1056(SI), Y12, Y13 \
	VPSLLD       $5, Y13, Y13       \
	VPSUBD       Y13, a1, a1        \
	VPMADDWD     1600(SI), Y12, Y13 \
	VPSLLD       $5, Y13, Y13       \
	VPSUBD       Y13, a2, a2        \
	VPMADDWD     2144(SI), Y12, Y13 \
	VPSLLD       $5, Y13, Y13       \
	VPSUBD       Y13, a3, a3        \
	RED4(a0, a1, a2, a3)            \
	VCVTDQ2PS    X12, X12           \
	VBROADCASTSS (dv), X13          \
	VMOVUPS      2176(SI), X14      \
	VMULPS       X13, X14, X14      \
	VMULPS       X12, X14, X14      \
	KADD(acc)

// K4SHUF broadcasts four sub-blocks' scales from Y12 with the mask at
// tkq4mask+moff and stores them at doff(DI).
#define K4SHUF(moff, doff) \
	VPSHUFB tkq4mask<>+moff(SB), Y12, Y8 \
	VMOVDQU Y8, doff(DI)

// K4TILESCALES writes the scales and mins of the Q4_K or Q5_K
// super-block at SI to the tile layout at DI: the 6-bit scales (K4SCALES,
// as q4kRowAVX2 unpacks them) broadcast as the tile's vpmaddwd takes them,
// and the mins as int16 pairs, min j in words 2j and 2j+1.
#define K4TILESCALES \
	K4SCALES                               \
	K4SHUF(0, 256)                         \
	K4SHUF(32, 288)                        \
	K4SHUF(64, 320)                        \
	K4SHUF(96, 352)                        \
	K4SHUF(128, 384)                       \
	K4SHUF(160, 416)                       \
	K4SHUF(192, 448)                       \
	K4SHUF(224, 480)                       \
	VMOVD     R13, X11                     \
	VPINSRD   $1, R8, X11, X11             \
	VPMOVZXBD X11, Y11                     \
	VPSLLD    $16, Y11, Y10                \
	VPOR      Y10, Y11, Y11                \
	VMOVDQU   Y11, 512(DI)

// K4NIBBLES writes the 64 nibbles of the 32 bytes at off(SI) as bytes:
// the low ones (sub-block 2j) at doff(DI), the high ones at doff+32(DI).
#define K4NIBBLES(off, doff) \
	VMOVDQU off(SI), Y1     \
	VPAND   Y15, Y1, Y2     \
	VPSRLW  $4, Y1, Y3      \
	VPAND   Y15, Y3, Y3     \
	VMOVDQU Y2, doff(DI)    \
	VMOVDQU Y3, doff+32(DI)

// KTILEDD writes a super-block's d and dmin (the halves at dsrc and msrc)
// as floats to (R9) and 16(R9).
#define KTILEDD(dsrc, msrc) \
	MOVWLZX   dsrc, AX     \
	VMOVD     AX, X1       \
	VCVTPH2PS X1, X1       \
	VMOVSS    X1, (R9)     \
	MOVWLZX   msrc, AX     \
	VMOVD     AX, X1       \
	VCVTPH2PS X1, X1       \
	VMOVSS    X1, 16(R9)

// func q4kUnpackAVX2(dst, dd, src unsafe.Pointer, nb int)
// Unpacks one Q4_K row of nb super-blocks: W, SC and M at dst, d and dmin
// at dd and dd+16, both advancing 2240 bytes a super-block.
TEXT ·q4kUnpackAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ dd+8(FP), R9
	MOVQ src+16(FP), SI
	MOVQ nb+24(FP), CX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	TESTQ CX, CX
	JZ    q4kudone

q4kuloop:
	K4TILESCALES
	// Nibbles: low halves are sub-block 2j, high halves 2j+1.
	K4NIBBLES(16, 0)
	K4NIBBLES(48, 64)
	K4NIBBLES(80, 128)
	K4NIBBLES(112, 192)
	KTILEDD(0(SI), 2(SI))
	ADDQ $144, SI
	ADDQ $2240, DI
	ADDQ $2240, R9
	DECQ CX
	JNZ  q4kuloop

q4kudone:
	VZEROUPPER
	RET

// func q5kUnpackAVX2(dst, dd, src unsafe.Pointer, nb int)
// Unpacks one Q5_K row of nb super-blocks into Q4_K's tile layout, the
// values with their fifth bits (Q5KVALUES, 0 to 31, which vpmaddubsw takes
// as Q4_K's nibbles), so q4kTileAVX2 runs them. Y14 holds 0x01 bytes.
TEXT ·q5kUnpackAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ dd+8(FP), R9
	MOVQ src+16(FP), SI
	MOVQ nb+24(FP), CX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x01010101, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	TESTQ CX, CX
	JZ    q5kudone

q5kuloop:
	K4TILESCALES
	VMOVDQU 16(SI), Y4
	Q5KVALUES(48, Y14)
	VMOVDQU Y2, 0(DI)
	VMOVDQU Y3, 32(DI)
	Q5KVALUES(80, Y14)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	Q5KVALUES(112, Y14)
	VMOVDQU Y2, 128(DI)
	VMOVDQU Y3, 160(DI)
	Q5KVALUES(144, Y14)
	VMOVDQU Y2, 192(DI)
	VMOVDQU Y3, 224(DI)
	KTILEDD(0(SI), 2(SI))
	ADDQ $176, SI
	ADDQ $2240, DI
	ADDQ $2240, R9
	DECQ CX
	JNZ  q5kuloop

q5kudone:
	VZEROUPPER
	RET

// Q6KUNPACK writes the four 32-value parts of one 128-value half (ql at
// lo(R11), qh at hi(R11)) to doff(DI), as q6kSumAVX2's Q6KHALF makes them.
#define Q6KUNPACK(lo, hi, doff) \
	VMOVDQU  lo(R11), Y1       \
	VMOVDQU  lo+32(R11), Y2    \
	VMOVDQU  hi(R11), Y3       \
	VPAND    Y15, Y1, Y4       \
	VPSLLW   $4, Y3, Y5        \
	VPAND    Y14, Y5, Y5       \
	VPOR     Y5, Y4, Y4        \
	VPAND    Y15, Y2, Y5       \
	VPSLLW   $2, Y3, Y6        \
	VPAND    Y14, Y6, Y6       \
	VPOR     Y6, Y5, Y5        \
	VPSRLW   $4, Y1, Y6        \
	VPAND    Y15, Y6, Y6       \
	VPAND    Y14, Y3, Y7       \
	VPOR     Y7, Y6, Y6        \
	VPSRLW   $4, Y2, Y7        \
	VPAND    Y15, Y7, Y7       \
	VPSRLW   $2, Y3, Y10       \
	VPAND    Y14, Y10, Y10     \
	VPOR     Y10, Y7, Y7       \
	VMOVDQU  Y4, doff(DI)      \
	VMOVDQU  Y5, doff+32(DI)   \
	VMOVDQU  Y6, doff+64(DI)   \
	VMOVDQU  Y7, doff+96(DI)

// K6TILESCALES writes sixteen signed byte scales at src (memory or an X
// register), one per 16 values, to the tile layout at DI as Q6_K's: M as
// int16 at 512(DI), and SC (K6TILESC). Clobbers Y8-Y10.
#define K6TILESCALES(src) \
	VPMOVSXBW  src, Y10                      \
	VMOVDQU    Y10, 512(DI)                  \
	K6TILESC

// K6TILESC writes SC from the sixteen int16 scales in Y10, one per 16
// values: part s takes scale 2s for its first 16 values and 2s+1 for the
// rest. Clobbers Y8 and Y9.
#define K6TILESC \
	VPERM2I128 $0x00, Y10, Y10, Y9           \
	K6SHUF(0, 256)                           \
	K6SHUF(32, 288)                          \
	K6SHUF(64, 320)                          \
	K6SHUF(96, 352)                          \
	VPERM2I128 $0x11, Y10, Y10, Y9           \
	K6SHUF(0, 384)                           \
	K6SHUF(32, 416)                          \
	K6SHUF(64, 448)                          \
	K6SHUF(96, 480)

// K6SHUF broadcasts a part's two scales from Y9 with the mask at
// tkq6mask+moff and stores them at doff(DI).
#define K6SHUF(moff, doff) \
	VPSHUFB tkq6mask<>+moff(SB), Y9, Y8 \
	VMOVDQU Y8, doff(DI)

// K6TILED writes the super-block's d (the half at src) as a float to (R9).
#define K6TILED(src) \
	MOVWLZX   src, AX      \
	VMOVD     AX, X1       \
	VCVTPH2PS X1, X1       \
	VMOVSS    X1, (R9)

// func q6kUnpackAVX2(dst, dd, src unsafe.Pointer, nb int)
// Unpacks one Q6_K row of nb super-blocks: W, SC and M at dst, d at dd,
// both advancing 2240 bytes a super-block.
TEXT ·q6kUnpackAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ dd+8(FP), R9
	MOVQ src+16(FP), R11
	MOVQ nb+24(FP), CX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x30303030, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	TESTQ CX, CX
	JZ    q6kudone

q6kuloop:
	Q6KUNPACK(0, 128, 0)
	Q6KUNPACK(64, 160, 128)
	K6TILESCALES(192(R11))
	K6TILED(208(R11))
	ADDQ $210, R11
	ADDQ $2240, DI
	ADDQ $2240, R9
	DECQ CX
	JNZ  q6kuloop

q6kudone:
	VZEROUPPER
	RET

// Q3KUNPACKPART writes 32 values of a Q3_K super-block as the Q6_K tile
// takes them, plus 32: the low bits are bit pair shift/2 of the qs bytes
// in Y1, the high bit is bit k of the hmask bytes in Y10 (value + 4 =
// low + 4*high, as q3KValues makes it). Y15 holds 0x03 bytes, Y13 0x01,
// Y12 28 (0x1c).
#define Q3KUNPACKPART(shift, k, doff) \
	VPSRLW  $shift, Y1, Y4 \
	VPAND   Y15, Y4, Y4    \
	VPSRLW  $k, Y10, Y5    \
	VPAND   Y13, Y5, Y5    \
	VPSLLW  $2, Y5, Y5     \
	VPOR    Y5, Y4, Y4     \
	VPADDB  Y12, Y4, Y4    \
	VMOVDQU Y4, doff(DI)

// func q3kUnpackAVX2(dst, dd, src unsafe.Pointer, nb int)
// Unpacks one Q3_K row of nb super-blocks into Q6_K's tile layout, so
// q6kTileAVX2 runs it: the values plus 32 (Q6_K's offset, which the tile
// takes off with the scales times the vector's bsums), the sixteen scales
// as Q6_K's, and d.
TEXT ·q3kUnpackAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ dd+8(FP), R9
	MOVQ src+16(FP), R11
	MOVQ nb+24(FP), CX
	MOVL $0x03030303, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x01010101, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x1c1c1c1c, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, X14
	MOVL $0x20202020, AX
	VMOVD AX, X7
	VPBROADCASTD X7, X7
	TESTQ CX, CX
	JZ    q3kudone

q3kuloop:
	Q3KSCALES(R11)
	K6TILESCALES(X2)
	K6TILED(108(R11))
	VMOVDQU (R11), Y10
	VMOVDQU 32(R11), Y1
	Q3KUNPACKPART(0, 0, 0)
	Q3KUNPACKPART(2, 1, 32)
	Q3KUNPACKPART(4, 2, 64)
	Q3KUNPACKPART(6, 3, 96)
	VMOVDQU 64(R11), Y1
	Q3KUNPACKPART(0, 4, 128)
	Q3KUNPACKPART(2, 5, 160)
	Q3KUNPACKPART(4, 6, 192)
	Q3KUNPACKPART(6, 7, 224)
	ADDQ $110, R11
	ADDQ $2240, DI
	ADDQ $2240, R9
	DECQ CX
	JNZ  q3kuloop

q3kudone:
	VZEROUPPER
	RET

// Q2KUNPACKPART writes 32 values of a Q2_K super-block, bit pair shift/2
// of the qs bytes in Y1, as bytes to doff(DI). Y15 holds 0x03 bytes.
#define Q2KUNPACKPART(shift, doff) \
	VPSRLW  $shift, Y1, Y4 \
	VPAND   Y15, Y4, Y4    \
	VMOVDQU Y4, doff(DI)

// func q2kUnpackAVX2(dst, dd, src unsafe.Pointer, nb int)
// Unpacks one Q2_K row of nb super-blocks into Q4_K's tile layout, so
// q4kTileAVX2 runs it: the 2-bit values as bytes; SC from the sixteen
// 4-bit scales, one per 16 values, as Q6_K's (K6TILESC); M, the sixteen
// 4-bit mins, one per 16 values where Q4_K has each of its eight twice;
// d and dmin.
TEXT ·q2kUnpackAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ dd+8(FP), R9
	MOVQ src+16(FP), R11
	MOVQ nb+24(FP), CX
	MOVL $0x03030303, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, X14
	TESTQ CX, CX
	JZ    q2kudone

q2kuloop:
	VMOVDQU   (R11), X2
	VPAND     X14, X2, X3
	VPMOVZXBW X3, Y10
	K6TILESC
	VPSRLW    $4, X2, X3
	VPAND     X14, X3, X3
	VPMOVZXBW X3, Y10
	VMOVDQU   Y10, 512(DI)
	VMOVDQU   16(R11), Y1
	Q2KUNPACKPART(0, 0)
	Q2KUNPACKPART(2, 32)
	Q2KUNPACKPART(4, 64)
	Q2KUNPACKPART(6, 96)
	VMOVDQU   48(R11), Y1
	Q2KUNPACKPART(0, 128)
	Q2KUNPACKPART(2, 160)
	Q2KUNPACKPART(4, 192)
	Q2KUNPACKPART(6, 224)
	KTILEDD(80(R11), 82(R11))
	ADDQ $84, R11
	ADDQ $2240, DI
	ADDQ $2240, R9
	DECQ CX
	JNZ  q2kuloop

q2kudone:
	VZEROUPPER
	RET

// func q4kTileAVX2(u unsafe.Pointer, q8, d, bs *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// Four unpacked Q4_K rows (a group at u) against three Q8_K vectors: sets
// the four floats at out+t*ostride to the rows' dot products with vector t.
TEXT ·q4kTileAVX2(SB), NOSPLIT, $48-56
	KTILE

q4ktloop:
	KSUMS(q4ktinner)
	Q4KPAIR(Y0, Y3, Y6, Y9, DI, R11, 0)
	Q4KPAIR(Y1, Y4, Y7, Y10, BX, R12, 16)
	Q4KPAIR(Y2, Y5, Y8, Y11, DX, R13, 32)
	ADDQ $2240, SI
	ADDQ $256, R8
	ADDQ $256, R9
	ADDQ $256, R10
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $32, DI
	ADDQ $32, BX
	ADDQ $32, DX
	DECQ CX
	JNZ  q4ktloop
	KSTORE
	VZEROUPPER
	RET

// func q6kTileAVX2(u unsafe.Pointer, q8, d, bs *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)
// As q4kTileAVX2, for four unpacked Q6_K rows.
TEXT ·q6kTileAVX2(SB), NOSPLIT, $48-56
	KTILE

q6ktloop:
	KSUMS(q6ktinner)
	Q6KPAIR(Y0, Y3, Y6, Y9, DI, R11, 0)
	Q6KPAIR(Y1, Y4, Y7, Y10, BX, R12, 16)
	Q6KPAIR(Y2, Y5, Y8, Y11, DX, R13, 32)
	ADDQ $2240, SI
	ADDQ $256, R8
	ADDQ $256, R9
	ADDQ $256, R10
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $32, DI
	ADDQ $32, BX
	ADDQ $32, DX
	DECQ CX
	JNZ  q6ktloop
	KSTORE
	VZEROUPPER
	RET
