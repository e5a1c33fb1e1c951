// Shared pieces of the whole-row super-block kernels (dot_amd64.s) and
// the K-quant tiles (tilek_amd64.s).

// K4SCALES unpacks the eight 6-bit scales and eight 6-bit mins of a Q4_K
// or Q5_K super-block at SI (12 bytes from 4(SI)) as ggml does, four at a
// time: the scales as int16 words in X12's low half and Y12's high half
// (the same eight in each), the mins as bytes in R13 (mins 0-3) and R8
// (4-7). Clobbers AX, BX, DX, R11, R12.
#define K4SCALES \
	MOVL 4(SI), AX                 \
	MOVL 8(SI), BX                 \
	MOVL 12(SI), DX                \
	MOVL AX, R11                   \
	ANDL $0x3f3f3f3f, R11          \
	MOVL DX, R12                   \
	ANDL $0x0f0f0f0f, R12          \
	MOVL AX, R13                   \
	SHRL $6, R13                   \
	ANDL $0x03030303, R13          \
	SHLL $4, R13                   \
	ORL  R13, R12                  \
	MOVL BX, R13                   \
	ANDL $0x3f3f3f3f, R13          \
	MOVL DX, R8                    \
	SHRL $4, R8                    \
	ANDL $0x0f0f0f0f, R8           \
	MOVL BX, AX                    \
	SHRL $6, AX                    \
	ANDL $0x03030303, AX           \
	SHLL $4, AX                    \
	ORL  AX, R8                    \
	VMOVD       R11, X12           \
	VPINSRD     $1, R12, X12, X12  \
	VPMOVZXBW   X12, X12           \
	VINSERTI128 $1, X12, Y12, Y12

// K4MINSUM sets R8 to summ, the sum over the eight sub-blocks of min *
// (the activation's two group sums at (R10), int16), with K4SCALES's mins
// in R13 and R8 and int16 ones in Y14. Clobbers Y11, t (x its low half)
// and X1 (HSUMDY, from dot_amd64.s).
#define K4MINSUM(t, x) \
	VMOVD       R13, X11          \
	VPINSRD     $1, R8, X11, X11  \
	VPMOVZXBD   X11, Y11          \
	VMOVDQU     (R10), t          \
	VPMADDWD    Y14, t, t         \
	VPMULLD     Y11, t, t         \
	HSUMDY(t, x, R8)

// KROWEND finishes a super-block of a whole-row kernel in the portable
// kernels' order: acc += d*vd*sumi - dmin*vd*summ, with the halves d and
// dmin at doff(base) and moff(base), vd at (R9), sumi in AX and summ in
// summ. Clobbers BX, X1-X3 and X6.
#define KROWEND(base, doff, moff, summ, acc) \
	MOVWLZX    doff(base), BX  \
	VMOVD      BX, X1          \
	VCVTPH2PS  X1, X1          \
	VMULSS     (R9), X1, X1    \
	VCVTSI2SSL AX, X3, X3      \
	VMULSS     X3, X1, X1      \
	MOVWLZX    moff(base), BX  \
	VMOVD      BX, X2          \
	VCVTPH2PS  X2, X2          \
	VMULSS     (R9), X2, X2    \
	VCVTSI2SSL summ, X6, X6    \
	VMULSS     X6, X2, X2      \
	VSUBSS     X2, X1, X1      \
	VADDSS     X1, acc, acc

// Q5KVALUES makes 64 five-bit values of a Q5_K super-block: the low
// nibbles of the 32 bytes at off(SI) in Y2 and the high ones in Y3, each
// with 16 added where bit 2j (Y2) or 2j+1 (Y3) of its qh byte is set: the
// low two bits of Y4, which it shifts down by two for the next call. ones
// holds 0x01 bytes; Y15 0x0f bytes. Clobbers Y1 and Y5.
#define Q5KVALUES(off, ones) \
	VMOVDQU      off(SI), Y1    \
	VPAND        Y15, Y1, Y2    \
	VPSRLW       $4, Y1, Y3     \
	VPAND        Y15, Y3, Y3    \
	VPAND        ones, Y4, Y5   \
	VPSLLW       $4, Y5, Y5     \
	VPOR         Y5, Y2, Y2     \
	VPSRLW       $1, Y4, Y5     \
	VPAND        ones, Y5, Y5   \
	VPSLLW       $4, Y5, Y5     \
	VPOR         Y5, Y3, Y3     \
	VPSRLW       $2, Y4, Y4

// Q3KSCALES unpacks the sixteen 6-bit scales of the Q3_K super-block at
// base, less 32, into X2's bytes (q3KScales): the low nibbles of scale
// bytes 0-7 (at 96(base)), then their high nibbles, each with a bit pair
// of bytes 8-11 above it. X14 holds 0x0f bytes and X7 0x20 bytes.
// Clobbers AX, DX and X3.
#define Q3KSCALES(base) \
	VMOVQ       96(base), X2             \
	VPSRLW      $4, X2, X3               \
	VPUNPCKLQDQ X3, X2, X2               \
	VPAND       X14, X2, X2              \
	MOVL        104(base), AX            \
	MOVL        AX, DX                   \
	ANDL        $0x03030303, DX          \
	VMOVD       DX, X3                   \
	MOVL        AX, DX                   \
	SHRL        $2, DX                   \
	ANDL        $0x03030303, DX          \
	VPINSRD     $1, DX, X3, X3           \
	MOVL        AX, DX                   \
	SHRL        $4, DX                   \
	ANDL        $0x03030303, DX          \
	VPINSRD     $2, DX, X3, X3           \
	SHRL        $6, AX                   \
	ANDL        $0x03030303, AX          \
	VPINSRD     $3, AX, X3, X3           \
	VPSLLW      $4, X3, X3               \
	VPOR        X3, X2, X2               \
	VPSUBB      X7, X2, X2
