//go:build amd64 && !purego

#include "textflag.h"
#include "kscales_amd64.h"

// The float kernels sum in llama.cpp's orders, so F32 and F16 models give
// its results to the last bit more often than not. Single vectors follow
// ggml_vec_dot_f32/f16 on AVX-512: four 16-lane accumulators over 64-value
// steps, folded (0+2, 1+3, then 0+1) and reduced as _mm512_reduce_add_ps
// does. Each 16-lane accumulator is a pair of 8-lane registers here.

// F32RED16 folds the eight accumulators Y0-Y7 (four 16-lane sums) and
// reduces them into X0.
#define F32RED16 \
	VADDPS       Y4, Y0, Y0 \
	VADDPS       Y5, Y1, Y1 \
	VADDPS       Y6, Y2, Y2 \
	VADDPS       Y7, Y3, Y3 \
	VADDPS       Y2, Y0, Y0 \
	VADDPS       Y3, Y1, Y1 \
	VADDPS       Y1, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X0, X1, X0 \
	VMOVHLPS     X0, X0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVSHDUP    X0, X1     \
	VADDSS       X1, X0, X0 \
	VZEROUPPER

#define ZERO8 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y4, Y4, Y4 \
	VXORPS Y5, Y5, Y5 \
	VXORPS Y6, Y6, Y6 \
	VXORPS Y7, Y7, Y7

// R4GROUPS runs the four-row kernels' loop: for each of n4 groups of four
// rows (SI, SI+BX, R8, R8+BX), ROWS accumulates one block of the four rows
// (WB bytes a row block) against the vector's block at DI (and its scale or
// lane sums at DX, DSTEP bytes a block) into Y0-Y3, PREFETCH asks for the
// rows ahead, and R4OUT stores the four sums. ARG names the Go argument at
// 24(FP): the vector's scales (d) or lane sums (aux). It stands here, before
// any TEXT, because go vet reads the argument names in a macro's text as
// those of the function the text sits in.
#define R4GROUPS(ARG, ROWS, PREFETCH, WB, DSTEP) \
group: \
	MOVQ q+16(FP), DI \
	MOVQ ARG+24(FP), DX \
	MOVQ nb+32(FP), CX \
	MOVQ SI, R10 \
	LEAQ (SI)(BX*2), R8 \
	LEAQ R4DIST(SI), R9 \
	R4ZERO \
loop: \
	ROWS \
	PREFETCH \
	ADDQ $WB, SI \
	ADDQ $WB, R8 \
	ADDQ $32, DI \
	ADDQ $DSTEP, DX \
	DECQ CX \
	JNZ  loop \
	R4OUT \
	ADDQ $16, R11 \
	LEAQ (R10)(BX*4), SI \
	DECQ R12 \
	JNZ  group \
	VZEROUPPER \
	RET

// The blocks of four rows the kernels below take, as ROWS.
#define R4ROWSVQ4 R4VLOOP(R4VQ4)
#define R4ROWSVQ8 R4VLOOP(R4VQ8)
#define R4ROWSAQ4 \
	VMOVDQU      (DI), Y4 \
	VBROADCASTSS (DX), Y5 \
	R4AQ4(0(SI), 2(SI), Y0, X6, Y6, Y7, Y8) \
	R4AQ4(0(SI)(BX*1), 2(SI)(BX*1), Y1, X9, Y9, Y10, Y11) \
	R4AQ4(0(R8), 2(R8), Y2, X6, Y6, Y7, Y8) \
	R4AQ4(0(R8)(BX*1), 2(R8)(BX*1), Y3, X9, Y9, Y10, Y11)
#define R4ROWSAQ8 \
	VMOVDQU      (DI), Y4 \
	VBROADCASTSS (DX), Y5 \
	R4AQ8(0(SI), 2(SI), Y0, X6, Y6, Y7, Y8) \
	R4AQ8(0(SI)(BX*1), 2(SI)(BX*1), Y1, X9, Y9, Y10, Y11) \
	R4AQ8(0(R8), 2(R8), Y2, X6, Y6, Y7, Y8) \
	R4AQ8(0(R8)(BX*1), 2(R8)(BX*1), Y3, X9, Y9, Y10, Y11)

// func dotF32AVX2(a, b unsafe.Pointer, n int) float32
// n is a multiple of 64.
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	ZERO8
	SHRQ $6, CX
	JZ   f32done

f32loop:
	VMOVUPS     0(SI), Y8
	VMOVUPS     32(SI), Y9
	VMOVUPS     64(SI), Y10
	VMOVUPS     96(SI), Y11
	VFMADD231PS 0(DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y11, Y3
	VMOVUPS     128(SI), Y12
	VMOVUPS     160(SI), Y13
	VMOVUPS     192(SI), Y14
	VMOVUPS     224(SI), Y15
	VFMADD231PS 128(DI), Y12, Y4
	VFMADD231PS 160(DI), Y13, Y5
	VFMADD231PS 192(DI), Y14, Y6
	VFMADD231PS 224(DI), Y15, Y7
	ADDQ        $256, SI
	ADDQ        $256, DI
	DECQ        CX
	JNZ         f32loop

f32done:
	F32RED16
	MOVSS X0, ret+24(FP)
	RET

// func dotF16AVX2(w, x unsafe.Pointer, n int) float32
// w holds n halves, x n float32; n is a multiple of 64.
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	ZERO8
	SHRQ $6, CX
	JZ   f16done

f16loop:
	VCVTPH2PS   0(SI), Y8
	VCVTPH2PS   16(SI), Y9
	VCVTPH2PS   32(SI), Y10
	VCVTPH2PS   48(SI), Y11
	VFMADD231PS 0(DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y11, Y3
	VCVTPH2PS   64(SI), Y12
	VCVTPH2PS   80(SI), Y13
	VCVTPH2PS   96(SI), Y14
	VCVTPH2PS   112(SI), Y15
	VFMADD231PS 128(DI), Y12, Y4
	VFMADD231PS 160(DI), Y13, Y5
	VFMADD231PS 192(DI), Y14, Y6
	VFMADD231PS 224(DI), Y15, Y7
	ADDQ        $128, SI
	ADDQ        $256, DI
	DECQ        CX
	JNZ         f16loop

f16done:
	F32RED16
	MOVSS X0, ret+24(FP)
	RET

// Four-vector float kernels follow tinyBLAS (llamafile_sgemm), which
// llama.cpp runs for batches: one 16-lane accumulator per output over
// 16-value steps, then _mm512_reduce_add_ps. Y(2t), Y(2t+1) hold token t's.

#define FLOAD4 \
	MOVQ 0(AX), R8   \
	MOVQ 8(AX), R9   \
	MOVQ 16(AX), R10 \
	MOVQ 24(AX), R11

#define FFMA4 \
	VFMADD231PS 0(R8), Y8, Y0   \
	VFMADD231PS 32(R8), Y9, Y1  \
	VFMADD231PS 0(R9), Y8, Y2   \
	VFMADD231PS 32(R9), Y9, Y3  \
	VFMADD231PS 0(R10), Y8, Y4  \
	VFMADD231PS 32(R10), Y9, Y5 \
	VFMADD231PS 0(R11), Y8, Y6  \
	VFMADD231PS 32(R11), Y9, Y7 \
	ADDQ $64, R8  \
	ADDQ $64, R9  \
	ADDQ $64, R10 \
	ADDQ $64, R11

// FOUT reduces token accumulators lo, hi into off(DX).
#define FOUT(lo, hi, xlo, off) \
	VADDPS       hi, lo, lo    \
	VEXTRACTF128 $1, lo, X8    \
	VADDPS       xlo, X8, X8   \
	VMOVHLPS     X8, X8, X9    \
	VADDPS       X9, X8, X8    \
	VMOVSHDUP    X8, X9        \
	VADDSS       X9, X8, X8    \
	MOVSS        X8, off(DX)

#define FSTORE4 \
	FOUT(Y0, Y1, X0, 0)  \
	FOUT(Y2, Y3, X2, 4)  \
	FOUT(Y4, Y5, X4, 8)  \
	FOUT(Y6, Y7, X6, 12) \
	VZEROUPPER

// func dotF32x4AVX2(w unsafe.Pointer, x *[4]unsafe.Pointer, n int, out *[4]float32)
// n is a multiple of 16.
TEXT ·dotF32x4AVX2(SB), NOSPLIT, $0-32
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), AX
	MOVQ n+16(FP), CX
	FLOAD4
	ZERO8
	SHRQ $4, CX
	JZ   f32x4done

f32x4loop:
	VMOVUPS 0(SI), Y8
	VMOVUPS 32(SI), Y9
	FFMA4
	ADDQ $64, SI
	DECQ CX
	JNZ  f32x4loop

f32x4done:
	MOVQ out+24(FP), DX
	FSTORE4
	RET

// func dotF16x4AVX2(w unsafe.Pointer, x *[4]unsafe.Pointer, n int, out *[4]float32)
// n is a multiple of 16.
TEXT ·dotF16x4AVX2(SB), NOSPLIT, $0-32
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), AX
	MOVQ n+16(FP), CX
	FLOAD4
	ZERO8
	SHRQ $4, CX
	JZ   f16x4done

f16x4loop:
	VCVTPH2PS 0(SI), Y8
	VCVTPH2PS 16(SI), Y9
	FFMA4
	ADDQ $32, SI
	DECQ CX
	JNZ  f16x4loop

f16x4done:
	MOVQ out+24(FP), DX
	FSTORE4
	RET

// HSUM8 sums Y0's lanes into X0 in ggml's hsum_float_8 order:
// (hi+lo), then lanes (0+2)+(1+3); then clears the upper state.
#define HSUM8 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X0, X1, X0 \
	VMOVHLPS     X0, X0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVSHDUP    X0, X1     \
	VADDSS       X1, X0, X0 \
	VZEROUPPER

// Q8BLOCK multiplies the signed bytes in wq by the 32 activation quants at
// q, sums them in pairs into 8 int32 lanes, converts to float and
// accumulates scale*sum into acc. Clobbers t1, t2. Y15 holds int16 ones.
// The sign trick (|w| times y with w's sign) lets the unsigned-by-signed
// vpmaddubsw multiply two signed vectors, as ggml does.
#define Q8BLOCK(wq, q, scale, acc, t1, t2) \
	VMOVDQU     q, t2              \
	VPSIGNB     wq, wq, t1         \
	VPSIGNB     wq, t2, t2         \
	VPMADDUBSW  t2, t1, t1         \
	VPMADDWD    Y15, t1, t1        \
	VCVTDQ2PS   t1, t1             \
	VFMADD231PS t1, scale, acc

// SCALE loads the half at off(SI), multiplies by the float at doff(DX) and
// broadcasts the product into ys (xs is its low half).
#define SCALE(off, doff, xs, ys) \
	MOVWLZX      off(SI), AX \
	VMOVD        AX, xs      \
	VCVTPH2PS    xs, xs      \
	VMULSS       doff(DX), xs, xs \
	VBROADCASTSS xs, ys

// func dotQ8_0AVX2(w, q, d unsafe.Pointer, nb int) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VXORPS Y0, Y0, Y0
	CMPQ CX, $2
	JLT  q8tail

q8loop2:
	SCALE(0, 0, X1, Y1)
	SCALE(34, 4, X9, Y9)
	VMOVDQU 2(SI), Y2
	VMOVDQU 36(SI), Y10
	Q8BLOCK(Y2, 0(DI), Y1, Y0, Y3, Y4)
	Q8BLOCK(Y10, 32(DI), Y9, Y0, Y11, Y12)
	ADDQ $68, SI
	ADDQ $64, DI
	ADDQ $8, DX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  q8loop2

q8tail:
	TESTQ CX, CX
	JZ    q8done
	SCALE(0, 0, X1, Y1)
	VMOVDQU 2(SI), Y2
	Q8BLOCK(Y2, 0(DI), Y1, Y0, Y3, Y4)

q8done:
	HSUM8
	MOVSS        X0, ret+32(FP)
	RET

// Q4UNPACK expands the 16 nibble bytes at off(SI) into 32 signed bytes in
// [-8, 7]: low nibbles give values 0-15, high nibbles 16-31 (ggml's order).
// Y14 holds 0x0f bytes, Y13 holds 8s.
#define Q4UNPACK(off, x, y, t) \
	VMOVDQU     off(SI), x     \
	VPSRLW      $4, x, t       \
	VINSERTI128 $1, t, y, y    \
	VPAND       Y14, y, y      \
	VPSUBB      Y13, y, y

// func dotQ4_0AVX2(w, q, d unsafe.Pointer, nb int) float32
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x08080808, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	VXORPS Y0, Y0, Y0
	CMPQ CX, $2
	JLT  q4tail

q4loop2:
	SCALE(0, 0, X1, Y1)
	SCALE(18, 4, X9, Y9)
	Q4UNPACK(2, X2, Y2, X5)
	Q4UNPACK(20, X10, Y10, X6)
	Q8BLOCK(Y2, 0(DI), Y1, Y0, Y3, Y4)
	Q8BLOCK(Y10, 32(DI), Y9, Y0, Y11, Y12)
	ADDQ $36, SI
	ADDQ $64, DI
	ADDQ $8, DX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  q4loop2

q4tail:
	TESTQ CX, CX
	JZ    q4done
	SCALE(0, 0, X1, Y1)
	Q4UNPACK(2, X2, Y2, X5)
	Q8BLOCK(Y2, 0(DI), Y1, Y0, Y3, Y4)

q4done:
	HSUM8
	MOVSS        X0, ret+32(FP)
	RET

// The four-vector kernels: one weight row against four activation vectors,
// so each weight block is loaded, unpacked and made absolute once for four
// tokens of a batch. Each token keeps its own accumulator and block order,
// so the results equal four single-vector calls bit for bit.

// TOK4 accumulates token t's block: y at (qreg), its scale at (dreg), |w|
// in Y4, w in Y5, the weight scale in X12; result into acc.
#define TOK4(qreg, dreg, acc) \
	VMOVDQU      (qreg), Y6      \
	VPSIGNB      Y5, Y6, Y6      \
	VPMADDUBSW   Y6, Y4, Y6      \
	VPMADDWD     Y15, Y6, Y6     \
	VCVTDQ2PS    Y6, Y6          \
	VMULSS       (dreg), X12, X7 \
	VBROADCASTSS X7, Y7          \
	VFMADD231PS  Y6, Y7, acc

// HSUMOUT sums the lanes of acc (hsum_float_8 order) into off(DX).
#define HSUMOUT(acc, xacc, off) \
	VEXTRACTF128 $1, acc, X8 \
	VADDPS       xacc, X8, X8 \
	VMOVHLPS     X8, X8, X9   \
	VADDPS       X9, X8, X8   \
	VMOVSHDUP    X8, X9       \
	VADDSS       X9, X8, X8   \
	MOVSS        X8, off(DX)

// LOAD4 takes the q pointers from the array at AX and the d pointers from
// the array at DX.
#define LOAD4 \
	MOVQ 0(AX), R8     \
	MOVQ 8(AX), R9     \
	MOVQ 16(AX), R10   \
	MOVQ 24(AX), R11   \
	MOVQ 0(DX), R12    \
	MOVQ 8(DX), R13    \
	MOVQ 16(DX), BX    \
	MOVQ 24(DX), DI    \
	MOVL $0x00010001, AX \
	VMOVD AX, X15        \
	VPBROADCASTD X15, Y15 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3

#define STEP4(wbytes) \
	TOK4(R8, R12, Y0)  \
	TOK4(R9, R13, Y1)  \
	TOK4(R10, BX, Y2)  \
	TOK4(R11, DI, Y3)  \
	ADDQ $wbytes, SI   \
	ADDQ $32, R8       \
	ADDQ $32, R9       \
	ADDQ $32, R10      \
	ADDQ $32, R11      \
	ADDQ $4, R12       \
	ADDQ $4, R13       \
	ADDQ $4, BX        \
	ADDQ $4, DI

// STORE4 writes the four sums to the array at DX.
#define STORE4 \
	HSUMOUT(Y0, X0, 0)    \
	HSUMOUT(Y1, X1, 4)    \
	HSUMOUT(Y2, X2, 8)    \
	HSUMOUT(Y3, X3, 12)   \
	VZEROUPPER

// func dotQ8_0x4AVX2(w unsafe.Pointer, q, d *[4]unsafe.Pointer, nb int, out *[4]float32)
TEXT ·dotQ8_0x4AVX2(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), AX
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	LOAD4

q8x4loop:
	MOVWLZX   0(SI), AX
	VMOVD     AX, X12
	VCVTPH2PS X12, X12
	VMOVDQU   2(SI), Y5
	VPSIGNB   Y5, Y5, Y4
	STEP4(34)
	DECQ CX
	JNZ  q8x4loop
	MOVQ out+32(FP), DX
	STORE4
	RET

// func dotQ4_0x4AVX2(w unsafe.Pointer, q, d *[4]unsafe.Pointer, nb int, out *[4]float32)
TEXT ·dotQ4_0x4AVX2(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), AX
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	LOAD4
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x08080808, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13

q4x4loop:
	MOVWLZX   0(SI), AX
	VMOVD     AX, X12
	VCVTPH2PS X12, X12
	Q4UNPACK(2, X5, Y5, X4)
	VPSIGNB   Y5, Y5, Y4
	STEP4(18)
	DECQ CX
	JNZ  q4x4loop
	MOVQ out+32(FP), DX
	STORE4
	RET

// The VNNI kernels (AVX512-VNNI on 256-bit vectors). vpdpbusd multiplies
// unsigned by signed bytes, so the weights are made unsigned (Q8_0: w+128
// by flipping the sign bit; Q4_0: the raw nibble, w+8) and the excess is
// taken off by starting each block's integer sum at -128 (or -8) times the
// activation's lane sums, which Vec precomputes in aux. The integer sums
// are exact, so the results equal the AVX2 kernels' bit for bit.

// func dotQ8_0VNNI(w, q, aux unsafe.Pointer, nb int) float32
TEXT ·dotQ8_0VNNI(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ aux+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVL $0x80808080, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VXORPS Y0, Y0, Y0

q8vloop:
	SCALE(0, 32, X1, Y1)
	VPXOR       2(SI), Y14, Y2
	VMOVDQU     (DX), Y5
	VPDPBUSD    (DI), Y2, Y5
	VCVTDQ2PS   Y5, Y5
	VFMADD231PS Y5, Y1, Y0
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $64, DX
	DECQ CX
	JNZ  q8vloop
	HSUM8
	MOVSS X0, ret+32(FP)
	RET

// func dotQ4_0VNNI(w, q, aux unsafe.Pointer, nb int) float32
TEXT ·dotQ4_0VNNI(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ aux+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VXORPS Y0, Y0, Y0

q4vloop:
	SCALE(0, 32, X1, Y1)
	VMOVDQU     2(SI), X2
	VPSRLW      $4, X2, X3
	VINSERTI128 $1, X3, Y2, Y2
	VPAND       Y14, Y2, Y2
	VMOVDQU     (DX), Y5
	VPDPBUSD    (DI), Y2, Y5
	VCVTDQ2PS   Y5, Y5
	VFMADD231PS Y5, Y1, Y0
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $64, DX
	DECQ CX
	JNZ  q4vloop
	HSUM8
	MOVSS X0, ret+32(FP)
	RET

// VTOK4 accumulates one token's block: unsigned weights in Y4, the weight
// scale in X12, the token's quants at (qreg) and aux block at (areg).
#define VTOK4(qreg, areg, acc) \
	VMOVDQU      (areg), Y6      \
	VPDPBUSD     (qreg), Y4, Y6  \
	VCVTDQ2PS    Y6, Y6          \
	VMULSS       32(areg), X12, X7 \
	VBROADCASTSS X7, Y7          \
	VFMADD231PS  Y6, Y7, acc

#define VSTEP4(wbytes) \
	VTOK4(R8, R12, Y0)  \
	VTOK4(R9, R13, Y1)  \
	VTOK4(R10, BX, Y2)  \
	VTOK4(R11, DI, Y3)  \
	ADDQ $wbytes, SI   \
	ADDQ $32, R8       \
	ADDQ $32, R9       \
	ADDQ $32, R10      \
	ADDQ $32, R11      \
	ADDQ $64, R12      \
	ADDQ $64, R13      \
	ADDQ $64, BX       \
	ADDQ $64, DI

// func dotQ8_0x4VNNI(w unsafe.Pointer, q, aux *[4]unsafe.Pointer, nb int, out *[4]float32)
TEXT ·dotQ8_0x4VNNI(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), AX
	MOVQ aux+16(FP), DX
	MOVQ nb+24(FP), CX
	LOAD4
	MOVL $0x80808080, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14

q8x4vloop:
	MOVWLZX   0(SI), AX
	VMOVD     AX, X12
	VCVTPH2PS X12, X12
	VPXOR     2(SI), Y14, Y4
	VSTEP4(34)
	DECQ CX
	JNZ  q8x4vloop
	MOVQ out+32(FP), DX
	STORE4
	RET

// func dotQ4_0x4VNNI(w unsafe.Pointer, q, aux *[4]unsafe.Pointer, nb int, out *[4]float32)
TEXT ·dotQ4_0x4VNNI(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), AX
	MOVQ aux+16(FP), DX
	MOVQ nb+24(FP), CX
	LOAD4
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14

q4x4vloop:
	MOVWLZX     0(SI), AX
	VMOVD       AX, X12
	VCVTPH2PS   X12, X12
	VMOVDQU     2(SI), X4
	VPSRLW      $4, X4, X5
	VINSERTI128 $1, X5, Y4, Y4
	VPAND       Y14, Y4, Y4
	VSTEP4(18)
	DECQ CX
	JNZ  q4x4vloop
	MOVQ out+32(FP), DX
	STORE4
	RET

// The one-vector row-group kernels (Q4_0, Q8_0): a decode step's product,
// four rows against one vector per loop, n4 groups of four consecutive rows
// (rowBytes apart) a call, the sums to out[0:4*n4]. The vector's block (quants, lane
// sums or scale) is loaded once per four rows, and the rows' four
// accumulators are independent chains, where the one-row kernels wait on
// one multiply-add chain, a call and a reduction per row. Each row's
// arithmetic is its one-row kernel's, in its order and with each
// operation's operands in the same places: the row's scale times the
// vector's, acc += float(sum) * that, one block after another, and
// hsum_float_8 at the end, done for the four rows at once in the same
// pairings. So every output equals Vec.Dot's bit for bit.
//
// Q4_0's nibbles are unpacked as the one-row kernels do, in fewer operations:
// the 16 bytes broadcast to both halves, the upper half's quadwords shifted
// right by four (the shift counts in R4SHIFT's register), and masked.
//
// Each block step asks for the cache lines R4DIST bytes ahead of the four
// rows' bytes into L2 (the rows of a group are consecutive, and a step
// moves through 72 of their bytes, 136 for Q8_0). Asking for the same
// block of the rows eight rows on, as the VNNI tiles' VADV does, left
// 576-wide Q4_0 rows from memory at the one-row kernel's 10 GB/s on AMD
// Zen 4 (BenchmarkDotRows, 64 MiB); 4, 8, 16 and 32 KiB ahead gave 13,
// 14.5, 14.3 and 16.9 GB/s (2 KiB: 8.7). In decode on two threads
// (enginebench, SmolLM2-135M Q4_0) 32 KiB gave about 280 tokens/s to
// 16 KiB's 250 and 8 KiB's 245; on one thread all three gave 200.

// R4SHIFT sets ys to the quadword shift counts {0, 0, 4, 4}; xt is scratch.
#define R4SHIFT(xs, ys, xt) \
	VPXOR        xs, xs, xs  \
	MOVL         $4, AX      \
	VMOVQ        AX, xt      \
	VPBROADCASTQ xt, xt      \
	VINSERTI128  $1, xt, ys, ys

// R4PREFETCH asks for the two cache lines at R9 into L2 and moves R9 on by
// 72 bytes, four rows' Q4_0 blocks: R9 walks the group's bytes R4DIST
// ahead. R4PREFETCH8 does the same for Q8_0's 136 bytes, three lines.
#define R4DIST 32768
#define R4PREFETCH \
	PREFETCHT1 (R9)   \
	PREFETCHT1 64(R9) \
	ADDQ       $72, R9

#define R4PREFETCH8 \
	PREFETCHT1 (R9)    \
	PREFETCHT1 64(R9)  \
	PREFETCHT1 128(R9) \
	ADDQ       $136, R9

// R4OUT reduces the accumulators Y0-Y3 (rows 0-3) in hsum_float_8's order
// and stores the four sums at (R11): X4-X6 scratch. A row's halves are
// added high plus low; then the pairs (0+2, 1+3) of two rows come from one
// addition of their quadword unpackings, and the two pair sums of four rows
// from one addition of their shuffles.
#define R4OUT \
	VEXTRACTF128 $1, Y0, X4 \
	VADDPS       X0, X4, X0 \
	VEXTRACTF128 $1, Y1, X4 \
	VADDPS       X1, X4, X1 \
	VEXTRACTF128 $1, Y2, X4 \
	VADDPS       X2, X4, X2 \
	VEXTRACTF128 $1, Y3, X4 \
	VADDPS       X3, X4, X3 \
	VUNPCKLPD    X1, X0, X4 \
	VUNPCKHPD    X1, X0, X5 \
	VADDPS       X5, X4, X4 \
	VUNPCKLPD    X3, X2, X5 \
	VUNPCKHPD    X3, X2, X6 \
	VADDPS       X6, X5, X5 \
	VSHUFPS      $0x88, X5, X4, X6 \
	VSHUFPS      $0xdd, X5, X4, X0 \
	VADDPS       X0, X6, X6 \
	VMOVUPS      X6, (R11)

// R4ZERO clears the accumulators.
#define R4ZERO \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3

// On the VNNI path each block's four row scales are converted and
// multiplied by the vector's at once: the four halves gathered into one
// quadword through AX and R13, converted, multiplied by the vector's scale
// in X6 (the weight's scale first, as the one-row kernels do), into X15;
// each row's product is then broadcast from its lane (VBROADCASTSS for row
// 0, VPERMPS by the lane indices in Y16-Y18 for rows 1-3). The products
// are the same floats the one-row kernels make, in fewer operations than
// a broadcast, conversion and multiplication per row.
#define R4VSCALES \
	MOVWLZX   0(SI), AX          \
	MOVWLZX   0(SI)(BX*1), R13   \
	SHLQ      $16, R13           \
	ORQ       R13, AX            \
	MOVWLZX   0(R8), R13         \
	SHLQ      $32, R13           \
	ORQ       R13, AX            \
	MOVWLZX   0(R8)(BX*1), R13   \
	SHLQ      $48, R13           \
	ORQ       R13, AX            \
	VMOVQ     AX, X15            \
	VCVTPH2PS X15, X15           \
	VMULPS    X6, X15, X15

// R4VIDX sets Y16-Y18 to the lane indices 1, 2 and 3; X9 is scratch.
#define R4VIDX \
	MOVL         $1, AX      \
	VMOVD        AX, X9      \
	VPBROADCASTD X9, Y16     \
	MOVL         $2, AX      \
	VMOVD        AX, X9      \
	VPBROADCASTD X9, Y17     \
	MOVL         $3, AX      \
	VMOVD        AX, X9      \
	VPBROADCASTD X9, Y18

// R4VLOOP is the VNNI loop body: the vector's quants into Y4, lane sums
// into Y5, scale into X6; the scale products; then ROW (R4VQ4 or R4VQ8)
// for each of the four rows, block data at 2 bytes in.
#define R4VLOOP(ROW) \
	VMOVDQU      (DI), Y4     \
	VMOVDQU      (DX), Y5     \
	VBROADCASTSS 32(DX), X6   \
	R4VSCALES                 \
	VBROADCASTSS X15, Y9      \
	ROW(2(SI), Y0, Y9, Y10, Y11) \
	VPERMPS      Y15, Y16, Y12 \
	ROW(2(SI)(BX*1), Y1, Y12, Y13, Y14) \
	VPERMPS      Y15, Y17, Y9 \
	ROW(2(R8), Y2, Y9, Y10, Y11) \
	VPERMPS      Y15, Y18, Y12 \
	ROW(2(R8)(BX*1), Y3, Y12, Y13, Y14)

// R4VQ4 accumulates one Q4_0 row's block (nibbles at qa, the scale
// product broadcast in ys) into acc, as dotQ4_0VNNI does: the vector's
// quants in Y4, lane sums in Y5; 0x0f bytes in Y7, the shift counts in Y8.
// tw and tf are scratch.
#define R4VQ4(qa, acc, ys, tw, tf) \
	VBROADCASTI128 qa, tw        \
	VPSRLVQ        Y8, tw, tw    \
	VPAND          Y7, tw, tw    \
	VMOVDQA        Y5, tf        \
	VPDPBUSD       Y4, tw, tf    \
	VCVTDQ2PS      tf, tf        \
	VFMADD231PS    tf, ys, acc

// func dotQ4_0R4VNNI(w unsafe.Pointer, rowBytes int, q, aux unsafe.Pointer, nb int, out unsafe.Pointer, n4 int)
TEXT ·dotQ4_0R4VNNI(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), BX
	MOVQ out+40(FP), R11
	MOVQ n4+48(FP), R12
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	R4SHIFT(X8, Y8, X9)
	R4VIDX
	R4GROUPS(aux, R4ROWSVQ4, R4PREFETCH, 18, 64)

// R4AQ4 accumulates one Q4_0 row's block (scale half at sa, nibbles at qa)
// into acc, as dotQ4_0AVX2 does: the vector's quants in Y4, its block scale
// broadcast in Y5; the shift counts in Y12, 8s in Y13, 0x0f bytes in Y14,
// int16 ones in Y15. xs/ys, tw and t2 are scratch.
#define R4AQ4(sa, qa, acc, xs, ys, tw, t2) \
	VPBROADCASTW   sa, xs        \
	VCVTPH2PS      xs, ys        \
	VMULPS         Y5, ys, ys    \
	VBROADCASTI128 qa, tw        \
	VPSRLVQ        Y12, tw, tw   \
	VPAND          Y14, tw, tw   \
	VPSUBB         Y13, tw, tw   \
	VPSIGNB        tw, Y4, t2    \
	VPSIGNB        tw, tw, tw    \
	VPMADDUBSW     t2, tw, tw    \
	VPMADDWD       Y15, tw, tw   \
	VCVTDQ2PS      tw, tw        \
	VFMADD231PS    tw, ys, acc

// func dotQ4_0R4AVX2(w unsafe.Pointer, rowBytes int, q, d unsafe.Pointer, nb int, out unsafe.Pointer, n4 int)
TEXT ·dotQ4_0R4AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), BX
	MOVQ out+40(FP), R11
	MOVQ n4+48(FP), R12
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x08080808, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	R4SHIFT(X12, Y12, X11)
	R4GROUPS(d, R4ROWSAQ4, R4PREFETCH, 18, 4)

// R4VQ8 accumulates one Q8_0 row's block (quants at qa, the scale product
// broadcast in ys) into acc, as dotQ8_0VNNI does: the vector's quants in
// Y4, lane sums in Y5; 0x80 bytes in Y7. tw and tf are scratch.
#define R4VQ8(qa, acc, ys, tw, tf) \
	VPXOR          qa, Y7, tw    \
	VMOVDQA        Y5, tf        \
	VPDPBUSD       Y4, tw, tf    \
	VCVTDQ2PS      tf, tf        \
	VFMADD231PS    tf, ys, acc

// func dotQ8_0R4VNNI(w unsafe.Pointer, rowBytes int, q, aux unsafe.Pointer, nb int, out unsafe.Pointer, n4 int)
TEXT ·dotQ8_0R4VNNI(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), BX
	MOVQ out+40(FP), R11
	MOVQ n4+48(FP), R12
	MOVL $0x80808080, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	R4VIDX
	R4GROUPS(aux, R4ROWSVQ8, R4PREFETCH8, 34, 64)

// R4AQ8 accumulates one Q8_0 row's block (scale half at sa, quants at qa)
// into acc, as dotQ8_0AVX2 does: the vector's quants in Y4, its block
// scale broadcast in Y5; int16 ones in Y15. xs/ys, tw and t2 are scratch.
#define R4AQ8(sa, qa, acc, xs, ys, tw, t2) \
	VPBROADCASTW   sa, xs        \
	VCVTPH2PS      xs, ys        \
	VMULPS         Y5, ys, ys    \
	VMOVDQU        qa, tw        \
	VPSIGNB        tw, Y4, t2    \
	VPSIGNB        tw, tw, tw    \
	VPMADDUBSW     t2, tw, tw    \
	VPMADDWD       Y15, tw, tw   \
	VCVTDQ2PS      tw, tw        \
	VFMADD231PS    tw, ys, acc

// func dotQ8_0R4AVX2(w unsafe.Pointer, rowBytes int, q, d unsafe.Pointer, nb int, out unsafe.Pointer, n4 int)
TEXT ·dotQ8_0R4AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), BX
	MOVQ out+40(FP), R11
	MOVQ n4+48(FP), R12
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	R4GROUPS(d, R4ROWSAQ8, R4PREFETCH8, 34, 4)

// func axpyAVX2(dst, src unsafe.Pointer, a float32, n int)
// dst[i] += a*src[i] for n a multiple of 8.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	VBROADCASTSS a+16(FP), Y0
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	JZ           axpydone

axpyloop:
	VMOVUPS     (DI), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	DECQ        CX
	JNZ         axpyloop

axpydone:
	VZEROUPPER
	RET

// func axpyF16AVX2(dst, src unsafe.Pointer, a float32, n int)
// dst[i] += a*half(src[i]) for n a multiple of 8.
TEXT ·axpyF16AVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	VBROADCASTSS a+16(FP), Y0
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	JZ           axpyhdone

axpyhloop:
	VCVTPH2PS   (SI), Y2
	VMOVUPS     (DI), Y1
	VFMADD231PS Y2, Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, DI
	ADDQ        $16, SI
	DECQ        CX
	JNZ         axpyhloop

axpyhdone:
	VZEROUPPER
	RET

// HSUMD sums the eight int32 lanes of Y0 into AX.
#define HSUMD \
	VEXTRACTI128 $1, Y0, X1 \
	VPADDD       X1, X0, X0 \
	VPSHUFD      $0x4e, X0, X1 \
	VPADDD       X1, X0, X0 \
	VPSHUFD      $0xb1, X0, X1 \
	VPADDD       X1, X0, X0 \
	VMOVD        X0, AX \
	VZEROUPPER

// Q4KSTEP does 64 values of a Q4_K super-block: the 32 bytes at SI give
// sub-block 2j (low nibbles) and 2j+1 (high), against 64 quants at DI,
// scaled by the 6-bit scales at R8 and 1(R8). Nibbles are unsigned, so
// vpmaddubsw needs no sign trick.
#define Q4KSTEP \
	VMOVDQU      (SI), Y1       \
	VPAND        Y15, Y1, Y2    \
	VPSRLW       $4, Y1, Y3     \
	VPAND        Y15, Y3, Y3    \
	VPMADDUBSW   (DI), Y2, Y6   \
	VPMADDUBSW   32(DI), Y3, Y7 \
	MOVBLZX      (R8), AX       \
	VMOVD        AX, X8         \
	VPBROADCASTW X8, Y8         \
	MOVBLZX      1(R8), AX      \
	VMOVD        AX, X9         \
	VPBROADCASTW X9, Y9         \
	VPMADDWD     Y8, Y6, Y6     \
	VPMADDWD     Y9, Y7, Y7     \
	VPADDD       Y6, Y0, Y0     \
	VPADDD       Y7, Y0, Y0     \
	ADDQ         $32, SI        \
	ADDQ         $64, DI        \
	ADDQ         $2, R8

// func q4kSumAVX2(qs, q8 unsafe.Pointer, sc *[8]uint8) int32
// Returns sum over the 8 sub-blocks of sc[j] * (nibbles . quants).
TEXT ·q4kSumAVX2(SB), NOSPLIT, $0-28
	MOVQ qs+0(FP), SI
	MOVQ q8+8(FP), DI
	MOVQ sc+16(FP), R8
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VPXOR Y0, Y0, Y0
	Q4KSTEP
	Q4KSTEP
	Q4KSTEP
	Q4KSTEP
	HSUMD
	MOVL AX, ret+24(FP)
	RET

// Q6KPART scales one 32-value part: unsigned 6-bit values in y, quants at
// off(DI), int16 scales for its two 16-value groups at soff(R8), soff+2(R8).
#define Q6KPART(y, off, soff) \
	VPMADDUBSW   off(DI), y, y    \
	MOVBLSX      soff(R8), AX     \
	VMOVD        AX, X8           \
	VPBROADCASTW X8, X8           \
	MOVBLSX      soff+1(R8), AX   \
	VMOVD        AX, X9           \
	VPBROADCASTW X9, X9           \
	VINSERTI128  $1, X9, Y8, Y8   \
	VPMADDWD     Y8, y, y         \
	VPADDD       y, Y0, Y0

// Q6KHALF does 128 values: ql at SI (64 bytes), qh at DX (32 bytes), quants
// at DI, scales at R8 (8 int16).
#define Q6KHALF \
	VMOVDQU  (SI), Y1          \
	VMOVDQU  32(SI), Y2        \
	VMOVDQU  (DX), Y3          \
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
	Q6KPART(Y4, 0, 0)          \
	Q6KPART(Y5, 32, 2)         \
	Q6KPART(Y6, 64, 4)         \
	Q6KPART(Y7, 96, 6)         \
	ADDQ $64, SI               \
	ADDQ $32, DX               \
	ADDQ $128, DI              \
	ADDQ $8, R8

// func q6kSumAVX2(blk, q8, bsums unsafe.Pointer) int32
// Returns the super-block's integer dot product: the sum over its 16
// groups of scale * (unsigned 6-bit values . quants), less 32 * scale *
// (the group's quant sum, from bsums) for the values' offset of 32.
TEXT ·q6kSumAVX2(SB), NOSPLIT, $0-28
	MOVQ blk+0(FP), SI
	MOVQ q8+8(FP), DI
	MOVQ bsums+16(FP), R9
	LEAQ 192(SI), R8
	LEAQ 128(SI), DX
	VPMOVSXBW   (R8), Y10
	VPMADDWD    (R9), Y10, Y11
	VPSLLD      $5, Y11, Y11
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x30303030, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VPXOR Y0, Y0, Y0
	VPSUBD Y11, Y0, Y0
	Q6KHALF
	Q6KHALF
	HSUMD
	MOVL AX, ret+24(FP)
	RET

// func toF16AVX2(dst, src unsafe.Pointer, n int)
// dst[i] = half(src[i]), round to nearest even, for n a multiple of 8.
TEXT ·toF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   tof16done

tof16loop:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, X1
	VMOVDQU   X1, (DI)
	ADDQ      $32, SI
	ADDQ      $16, DI
	DECQ      CX
	JNZ       tof16loop

tof16done:
	VZEROUPPER
	RET

// func roundF16AVX2(x unsafe.Pointer, n int)
// x[i] = float(half(x[i])) for n a multiple of 8.
TEXT ·roundF16AVX2(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	JZ   rf16done

rf16loop:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, X1
	VCVTPH2PS X1, Y0
	VMOVUPS   Y0, (SI)
	ADDQ      $32, SI
	DECQ      CX
	JNZ       rf16loop

rf16done:
	VZEROUPPER
	RET

DATA q8perm<>+0(SB)/4, $0
DATA q8perm<>+4(SB)/4, $4
DATA q8perm<>+8(SB)/4, $1
DATA q8perm<>+12(SB)/4, $5
DATA q8perm<>+16(SB)/4, $2
DATA q8perm<>+20(SB)/4, $6
DATA q8perm<>+24(SB)/4, $3
DATA q8perm<>+28(SB)/4, $7
GLOBL q8perm<>(SB), RODATA|NOPTR, $32

// func quantQ8_0AVX2(x, q, d, aux unsafe.Pointer, nb int, off int32)
// ggml's x86 quantize_row_q8_0 for nb blocks of 32: d = half(amax/127),
// q = round-half-even(x * 127/amax). With aux non-nil it also writes, per
// block, each 4-quant lane's sum times -off, d's bits and the lanes' total
// (words 0-7, 8 and 9 of 16).
TEXT ·quantQ8_0AVX2(SB), NOSPLIT, $0-44
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ aux+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVL off+40(FP), AX
	NEGL AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13          // -off per lane
	MOVL $0x7fffffff, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15          // abs mask
	MOVL $0x42fe0000, AX           // 127.0
	VMOVD AX, X14
	MOVL $0x01010101, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12          // ones (bytes)
	MOVL $0x00010001, AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11          // ones (words)
	VMOVDQU q8perm<>(SB), Y10
	TESTQ CX, CX
	JZ    q8qdone

q8qloop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS  Y15, Y0, Y4
	VANDPS  Y15, Y1, Y5
	VMAXPS  Y5, Y4, Y4
	VANDPS  Y15, Y2, Y5
	VMAXPS  Y5, Y4, Y4
	VANDPS  Y15, Y3, Y5
	VMAXPS  Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS  X5, X4, X4
	VMOVHLPS X4, X4, X5
	VMAXPS  X5, X4, X4
	VMOVSHDUP X4, X5
	VMAXSS  X5, X4, X4             // amax
	VDIVSS  X14, X4, X5            // amax/127
	VCVTPS2PH $0, X5, X5
	VCVTPH2PS X5, X5
	VMOVSS  X5, (DX)
	VXORPS  X6, X6, X6
	VUCOMISS X6, X4
	JEQ     q8qzero
	VDIVSS  X4, X14, X6            // 127/amax
q8qzero:
	VBROADCASTSS X6, Y6
	VMULPS  Y6, Y0, Y0
	VMULPS  Y6, Y1, Y1
	VMULPS  Y6, Y2, Y2
	VMULPS  Y6, Y3, Y3
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD    Y0, Y10, Y0
	VMOVDQU   Y0, (DI)
	TESTQ     R8, R8
	JZ        q8qnext
	VPMADDUBSW Y0, Y12, Y1          // pairs of quants (ones are unsigned)
	VPMADDWD   Y11, Y1, Y1          // lanes of four
	VPMULLD    Y13, Y1, Y1
	VMOVDQU    Y1, (R8)
	VMOVSS     X5, 32(R8)
	VEXTRACTI128 $1, Y1, X2         // word 9: the lanes' total
	VPADDD     X2, X1, X2
	VPSHUFD    $0x4e, X2, X3
	VPADDD     X3, X2, X2
	VPSHUFD    $0xb1, X2, X3
	VPADDD     X3, X2, X2
	VMOVD      X2, 36(R8)
	ADDQ       $64, R8

q8qnext:
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q8qloop

q8qdone:
	VZEROUPPER
	RET

// Shuffle masks that broadcast int16 word k of each 128-bit lane.
DATA q4kmask<>+0(SB)/8, $0x0100010001000100
DATA q4kmask<>+8(SB)/8, $0x0100010001000100
DATA q4kmask<>+16(SB)/8, $0x0100010001000100
DATA q4kmask<>+24(SB)/8, $0x0100010001000100
DATA q4kmask<>+32(SB)/8, $0x0302030203020302
DATA q4kmask<>+40(SB)/8, $0x0302030203020302
DATA q4kmask<>+48(SB)/8, $0x0302030203020302
DATA q4kmask<>+56(SB)/8, $0x0302030203020302
DATA q4kmask<>+64(SB)/8, $0x0504050405040504
DATA q4kmask<>+72(SB)/8, $0x0504050405040504
DATA q4kmask<>+80(SB)/8, $0x0504050405040504
DATA q4kmask<>+88(SB)/8, $0x0504050405040504
DATA q4kmask<>+96(SB)/8, $0x0706070607060706
DATA q4kmask<>+104(SB)/8, $0x0706070607060706
DATA q4kmask<>+112(SB)/8, $0x0706070607060706
DATA q4kmask<>+120(SB)/8, $0x0706070607060706
DATA q4kmask<>+128(SB)/8, $0x0908090809080908
DATA q4kmask<>+136(SB)/8, $0x0908090809080908
DATA q4kmask<>+144(SB)/8, $0x0908090809080908
DATA q4kmask<>+152(SB)/8, $0x0908090809080908
DATA q4kmask<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA q4kmask<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA q4kmask<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA q4kmask<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA q4kmask<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA q4kmask<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA q4kmask<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA q4kmask<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA q4kmask<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA q4kmask<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA q4kmask<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA q4kmask<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL q4kmask<>(SB), RODATA|NOPTR, $256

// Q4KROWSTEP does 64 values (sub-blocks 2j, 2j+1) with the scales
// broadcast by the masks at moff and moff+32.
#define Q4KROWSTEP(off, qoff, moff) \
	VMOVDQU      off(SI), Y1              \
	VPAND        Y15, Y1, Y2              \
	VPSRLW       $4, Y1, Y3               \
	VPAND        Y15, Y3, Y3              \
	VPMADDUBSW   qoff(DI), Y2, Y6         \
	VPMADDUBSW   qoff+32(DI), Y3, Y7      \
	VPSHUFB      q4kmask<>+moff(SB), Y12, Y8    \
	VPSHUFB      q4kmask<>+moff+32(SB), Y12, Y9 \
	VPMADDWD     Y8, Y6, Y6               \
	VPMADDWD     Y9, Y7, Y7               \
	VPADDD       Y6, Y0, Y0               \
	VPADDD       Y7, Y0, Y0

// HSUMDY sums the int32 lanes of y (x its low half) into reg; clobbers X1.
#define HSUMDY(y, x, reg) \
	VEXTRACTI128 $1, y, X1 \
	VPADDD       X1, x, x  \
	VPSHUFD      $0x4e, x, X1 \
	VPADDD       X1, x, x  \
	VPSHUFD      $0xb1, x, X1 \
	VPADDD       X1, x, x  \
	VMOVD        x, reg

// func q4kRowAVX2(row, q8, d, bsums unsafe.Pointer, nb int) float32
// A whole Q4_K row against a Q8_K vector, the arithmetic of dotQ4KGo in
// the same order: per super-block, sumi = sum of scale * (nibbles . quants),
// summ = sum of min * (quant sums), then s += d*vd*sumi - dmin*vd*summ.
TEXT ·q4kRowAVX2(SB), NOSPLIT, $0-44
	MOVQ row+0(FP), SI
	MOVQ q8+8(FP), DI
	MOVQ d+16(FP), R9
	MOVQ bsums+24(FP), R10
	MOVQ nb+32(FP), CX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x00010001, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VXORPS X13, X13, X13
	TESTQ CX, CX
	JZ    q4krdone

q4krloop:
	K4SCALES
	K4MINSUM(Y10, X10)
	VPXOR       Y0, Y0, Y0
	Q4KROWSTEP(16, 0, 0)
	Q4KROWSTEP(48, 64, 64)
	Q4KROWSTEP(80, 128, 128)
	Q4KROWSTEP(112, 192, 192)
	HSUMDY(Y0, X0, AX)
	KROWEND(SI, 0, 2, R8, X13)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, R9
	ADDQ $32, R10
	DECQ CX
	JNZ  q4krloop

q4krdone:
	VZEROUPPER
	MOVSS X13, ret+40(FP)
	RET

// func q6kRowAVX2(row, q8, d, bsums unsafe.Pointer, nb int) float32
// A whole Q6_K row against a Q8_K vector: q6kSumAVX2 per super-block, then
// s += dx*vd*sumi, the arithmetic of dotQ6KGo in the same order.
TEXT ·q6kRowAVX2(SB), NOSPLIT, $0-44
	MOVQ row+0(FP), R11
	MOVQ q8+8(FP), DI
	MOVQ d+16(FP), R12
	MOVQ bsums+24(FP), R9
	MOVQ nb+32(FP), CX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x30303030, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VXORPS X13, X13, X13
	TESTQ CX, CX
	JZ    q6krdone

q6krloop:
	MOVQ      R11, SI
	LEAQ      192(R11), R8
	LEAQ      128(R11), DX
	VPMOVSXBW (R8), Y10
	VPMADDWD  (R9), Y10, Y11
	VPSLLD    $5, Y11, Y11
	VPXOR     Y0, Y0, Y0
	VPSUBD    Y11, Y0, Y0
	Q6KHALF
	Q6KHALF
	HSUMDY(Y0, X0, AX)
	MOVWLZX    208(R11), BX
	VMOVD      BX, X1
	VCVTPH2PS  X1, X1
	VMULSS     (R12), X1, X1
	VCVTSI2SSL AX, X3, X3
	VMULSS     X3, X1, X1
	VADDSS     X1, X13, X13
	ADDQ $210, R11
	ADDQ $4, R12
	ADDQ $32, R9
	DECQ CX
	JNZ  q6krloop

q6krdone:
	VZEROUPPER
	MOVSS X13, ret+40(FP)
	RET

// func dotQ5_0AVX2(w, q, d unsafe.Pointer, nb int) float32
// As dotQ4_0AVX2, one block at a time: the nibbles get their fifth bits
// from qh, expanded to bytes (0xff where the bit is set, by shuffling each
// qh byte to its 8 lanes and testing one bit per lane); a clear bit ORs in
// 0xf0, which as a signed byte is the nibble less 16, a set one leaves the
// nibble, which is (nibble+16)-16. ggml's order: fmadd per block, hsum.
TEXT ·dotQ5_0AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU q5shuf<>(SB), Y13
	MOVQ $0x7fbfdfeff7fbfdfe, AX
	VMOVQ AX, X12
	VPBROADCASTQ X12, Y12
	VPCMPEQB Y11, Y11, Y11
	MOVL $0xf0f0f0f0, AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	VXORPS Y0, Y0, Y0
	TESTQ CX, CX
	JZ    q5done

q5loop:
	SCALE(0, 0, X1, Y1)
	VMOVDQU      6(SI), X2
	VPSRLW       $4, X2, X5
	VINSERTI128  $1, X5, Y2, Y2
	VPAND        Y14, Y2, Y2
	VPBROADCASTD 2(SI), Y5
	VPSHUFB      Y13, Y5, Y5
	VPOR         Y12, Y5, Y5
	VPCMPEQB     Y11, Y5, Y5
	VPANDN       Y10, Y5, Y5
	VPOR         Y5, Y2, Y2
	Q8BLOCK(Y2, 0(DI), Y1, Y0, Y3, Y4)
	ADDQ $22, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q5loop

q5done:
	HSUM8
	MOVSS        X0, ret+32(FP)
	RET

// q5shuf sends qh byte k to lanes 8k..8k+7.
DATA q5shuf<>+0(SB)/8, $0x0000000000000000
DATA q5shuf<>+8(SB)/8, $0x0101010101010101
DATA q5shuf<>+16(SB)/8, $0x0202020202020202
DATA q5shuf<>+24(SB)/8, $0x0303030303030303
GLOBL q5shuf<>(SB), RODATA|NOPTR, $32

// Q5KROWSTEP is Q4KROWSTEP with the fifth bits (Q5KVALUES): bits 2j and
// 2j+1 of each qh byte (the low two bits of Y4, shifted down by two per
// step) add 16 to the low and high nibbles. Y10 holds 0x01 bytes.
#define Q5KROWSTEP(off, qoff, moff) \
	Q5KVALUES(off, Y10)                   \
	VPMADDUBSW   qoff(DI), Y2, Y6         \
	VPMADDUBSW   qoff+32(DI), Y3, Y7      \
	VPSHUFB      q4kmask<>+moff(SB), Y12, Y8    \
	VPSHUFB      q4kmask<>+moff+32(SB), Y12, Y9 \
	VPMADDWD     Y8, Y6, Y6               \
	VPMADDWD     Y9, Y7, Y7               \
	VPADDD       Y6, Y0, Y0               \
	VPADDD       Y7, Y0, Y0

// func q5kRowAVX2(row, q8, d, bsums unsafe.Pointer, nb int) float32
// A whole Q5_K row against a Q8_K vector: q4kRowAVX2 with the fifth bits
// (qh, 32 bytes after the scales; the nibbles after them), the arithmetic
// of dotQ5KGo in the same order.
TEXT ·q5kRowAVX2(SB), NOSPLIT, $0-44
	MOVQ row+0(FP), SI
	MOVQ q8+8(FP), DI
	MOVQ d+16(FP), R9
	MOVQ bsums+24(FP), R10
	MOVQ nb+32(FP), CX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x00010001, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x01010101, AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	VXORPS X13, X13, X13
	TESTQ CX, CX
	JZ    q5krdone

q5krloop:
	K4SCALES
	K4MINSUM(Y5, X5)
	VMOVDQU     16(SI), Y4
	VPXOR       Y0, Y0, Y0
	Q5KROWSTEP(48, 0, 0)
	Q5KROWSTEP(80, 64, 64)
	Q5KROWSTEP(112, 128, 128)
	Q5KROWSTEP(144, 192, 192)
	HSUMDY(Y0, X0, AX)
	KROWEND(SI, 0, 2, R8, X13)
	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $4, R9
	ADDQ $32, R10
	DECQ CX
	JNZ  q5krloop

q5krdone:
	VZEROUPPER
	MOVSS X13, ret+40(FP)
	RET

// The Q4_1/Q5_1 kernels against Q8_1 activations, in ggml's order: per
// block, fmadd of d_w*d_a times the unsigned-by-signed pair sums into one
// 8-lane accumulator, and m_w*s_a added into a scalar; the result is the
// accumulator's hsum_float_8 plus that scalar. R8 walks the activation's
// per-block sums, X8 holds the scalar.

// MINTERM adds the block's min (the half at 2(SI)) times the sum at (R8).
#define MINTERM \
	MOVWLZX   2(SI), AX   \
	VMOVD     AX, X6      \
	VCVTPH2PS X6, X6      \
	VMULSS    (R8), X6, X6 \
	VADDSS    X6, X8, X8

// USBLOCK multiplies the unsigned bytes in Y2 by the 32 quants at (DI),
// sums them in pairs into 8 int32 lanes and accumulates scale Y1 times
// their float values into Y0. Y15 holds int16 ones.
#define USBLOCK \
	VPMADDUBSW  (DI), Y2, Y3 \
	VPMADDWD    Y15, Y3, Y3  \
	VCVTDQ2PS   Y3, Y3       \
	VFMADD231PS Y3, Y1, Y0

// func dotQ4_1AVX2(w, q, d, s unsafe.Pointer, nb int) float32
TEXT ·dotQ4_1AVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ s+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VXORPS Y0, Y0, Y0
	VXORPS X8, X8, X8
	TESTQ CX, CX
	JZ    q41done

q41loop:
	MINTERM
	SCALE(0, 0, X1, Y1)
	VMOVDQU     4(SI), X2
	VPSRLW      $4, X2, X5
	VINSERTI128 $1, X5, Y2, Y2
	VPAND       Y14, Y2, Y2
	USBLOCK
	ADDQ $20, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, R8
	DECQ CX
	JNZ  q41loop

q41done:
	HSUM8
	VADDSS X8, X0, X0
	MOVSS  X0, ret+40(FP)
	RET

// func dotQ5_1AVX2(w, q, d, s unsafe.Pointer, nb int) float32
// The fifth bits expand as in dotQ5_0AVX2 and add 16 where set.
TEXT ·dotQ5_1AVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ s+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU q5shuf<>(SB), Y13
	MOVQ $0x7fbfdfeff7fbfdfe, AX
	VMOVQ AX, X12
	VPBROADCASTQ X12, Y12
	VPCMPEQB Y11, Y11, Y11
	MOVL $0x10101010, AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	VXORPS Y0, Y0, Y0
	VXORPS X8, X8, X8
	TESTQ CX, CX
	JZ    q51done

q51loop:
	MINTERM
	SCALE(0, 0, X1, Y1)
	VMOVDQU      8(SI), X2
	VPSRLW       $4, X2, X5
	VINSERTI128  $1, X5, Y2, Y2
	VPAND        Y14, Y2, Y2
	VPBROADCASTD 4(SI), Y5
	VPSHUFB      Y13, Y5, Y5
	VPOR         Y12, Y5, Y5
	VPCMPEQB     Y11, Y5, Y5
	VPAND        Y10, Y5, Y5
	VPOR         Y5, Y2, Y2
	USBLOCK
	ADDQ $24, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, R8
	DECQ CX
	JNZ  q51loop

q51done:
	HSUM8
	VADDSS X8, X0, X0
	MOVSS  X0, ret+40(FP)
	RET

// iq4vals is ggml's kvalues_iq4nl, the IQ4 levels, for vpshufb lookups.
DATA iq4vals<>+0(SB)/8, $0xf6eaddcfbfad9881
DATA iq4vals<>+8(SB)/8, $0x7159453526190d01
GLOBL iq4vals<>(SB), RODATA|NOPTR, $16

// IQ4LOOK turns the 16 index bytes at off(SI) into 32 signed levels in y:
// low nibbles give values 0-15, high nibbles 16-31. X14 holds 0x0f bytes,
// X13 the levels.
#define IQ4LOOK(off, x, y, t) \
	VMOVDQU     off(SI), x  \
	VPSRLW      $4, x, t    \
	VPAND       X14, t, t   \
	VPAND       X14, x, x   \
	VPSHUFB     x, X13, x   \
	VPSHUFB     t, X13, t   \
	VINSERTI128 $1, t, y, y

#define IQ4CONSTS \
	MOVL $0x00010001, AX       \
	VMOVD AX, X15              \
	VPBROADCASTD X15, Y15      \
	MOVL $0x0f0f0f0f, AX       \
	VMOVD AX, X14              \
	VPBROADCASTD X14, X14      \
	VMOVDQU iq4vals<>(SB), X13

// func dotIQ4NLAVX2(w, q, d unsafe.Pointer, npairs int) float32
// ggml's order: blocks in pairs, even ones into one accumulator and odd
// ones into another, added before hsum_float_8 (an odd last block is
// added by the caller, as ggml adds it in scalar code).
TEXT ·dotIQ4NLAVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ npairs+24(FP), CX
	IQ4CONSTS
	VXORPS Y0, Y0, Y0
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JZ    iq4nldone

iq4nlloop:
	SCALE(0, 0, X1, Y1)
	SCALE(18, 4, X9, Y9)
	IQ4LOOK(2, X2, Y2, X5)
	IQ4LOOK(20, X10, Y10, X6)
	Q8BLOCK(Y2, 0(DI), Y1, Y0, Y3, Y4)
	Q8BLOCK(Y10, 32(DI), Y9, Y7, Y11, Y12)
	ADDQ $36, SI
	ADDQ $64, DI
	ADDQ $8, DX
	DECQ CX
	JNZ  iq4nlloop

iq4nldone:
	VADDPS Y7, Y0, Y0
	HSUM8
	MOVSS  X0, ret+32(FP)
	RET

// IQ4XSSUB does one 32-value sub-block of an IQ4_XS super-block: levels
// from the 16 bytes at SI, times the quants at DI (the sign trick), pair
// sums times the int16 scale at R8, into Y0's int32 lanes.
#define IQ4XSSUB \
	IQ4LOOK(0, X2, Y2, X5)    \
	VPSIGNB      Y2, Y2, Y3   \
	VMOVDQU      (DI), Y4     \
	VPSIGNB      Y2, Y4, Y4   \
	VPMADDUBSW   Y4, Y3, Y3   \
	VPBROADCASTW (R8), Y8     \
	VPMADDWD     Y8, Y3, Y3   \
	VPADDD       Y3, Y0, Y0   \
	ADDQ         $16, SI      \
	ADDQ         $32, DI      \
	ADDQ         $2, R8

// func iq4xsRowAVX2(row, q8, d unsafe.Pointer, nb int) float32
// A whole IQ4_XS row against a Q8_K vector, the arithmetic of dotIQ4XSGo
// in the same order: per super-block, the eight 6-bit scales less 32
// (iq4XSScale) go to the frame as int16 for IQ4XSSUB, then
// s += d*vd*sumi. R11 walks the row; X12 holds s (X13-X15 are
// IQ4CONSTS's).
TEXT ·iq4xsRowAVX2(SB), NOSPLIT, $16-36
	MOVQ row+0(FP), R11
	MOVQ q8+8(FP), DI
	MOVQ d+16(FP), R9
	MOVQ nb+24(FP), CX
	IQ4CONSTS
	VXORPS X12, X12, X12
	TESTQ CX, CX
	JZ    iq4xsrdone

iq4xsrloop:
	MOVWLZX 2(R11), BX
	MOVBLZX 4(R11), AX
	SHRL    $0, AX
	ANDL    $0xf, AX
	MOVL    BX, DX
	SHRL    $0, DX
	ANDL    $3, DX
	SHLL    $4, DX
	ORL     DX, AX
	SUBL    $32, AX
	MOVW    AX, 0(SP)
	MOVBLZX 4(R11), AX
	SHRL    $4, AX
	ANDL    $0xf, AX
	MOVL    BX, DX
	SHRL    $2, DX
	ANDL    $3, DX
	SHLL    $4, DX
	ORL     DX, AX
	SUBL    $32, AX
	MOVW    AX, 2(SP)
	MOVBLZX 5(R11), AX
	SHRL    $0, AX
	ANDL    $0xf, AX
	MOVL    BX, DX
	SHRL    $4, DX
	ANDL    $3, DX
	SHLL    $4, DX
	ORL     DX, AX
	SUBL    $32, AX
	MOVW    AX, 4(SP)
	MOVBLZX 5(R11), AX
	SHRL    $4, AX
	ANDL    $0xf, AX
	MOVL    BX, DX
	SHRL    $6, DX
	ANDL    $3, DX
	SHLL    $4, DX
	ORL     DX, AX
	SUBL    $32, AX
	MOVW    AX, 6(SP)
	MOVBLZX 6(R11), AX
	SHRL    $0, AX
	ANDL    $0xf, AX
	MOVL    BX, DX
	SHRL    $8, DX
	ANDL    $3, DX
	SHLL    $4, DX
	ORL     DX, AX
	SUBL    $32, AX
	MOVW    AX, 8(SP)
	MOVBLZX 6(R11), AX
	SHRL    $4, AX
	ANDL    $0xf, AX
	MOVL    BX, DX
	SHRL    $10, DX
	ANDL    $3, DX
	SHLL    $4, DX
	ORL     DX, AX
	SUBL    $32, AX
	MOVW    AX, 10(SP)
	MOVBLZX 7(R11), AX
	SHRL    $0, AX
	ANDL    $0xf, AX
	MOVL    BX, DX
	SHRL    $12, DX
	ANDL    $3, DX
	SHLL    $4, DX
	ORL     DX, AX
	SUBL    $32, AX
	MOVW    AX, 12(SP)
	MOVBLZX 7(R11), AX
	SHRL    $4, AX
	ANDL    $0xf, AX
	MOVL    BX, DX
	SHRL    $14, DX
	ANDL    $3, DX
	SHLL    $4, DX
	ORL     DX, AX
	SUBL    $32, AX
	MOVW    AX, 14(SP)
	LEAQ  8(R11), SI
	LEAQ  0(SP), R8
	VPXOR Y0, Y0, Y0
	IQ4XSSUB
	IQ4XSSUB
	IQ4XSSUB
	IQ4XSSUB
	IQ4XSSUB
	IQ4XSSUB
	IQ4XSSUB
	IQ4XSSUB
	HSUMDY(Y0, X0, AX)
	MOVWLZX    0(R11), BX
	VMOVD      BX, X1
	VCVTPH2PS  X1, X1
	VMULSS     (R9), X1, X1
	VCVTSI2SSL AX, X3, X3
	VMULSS     X3, X1, X1
	VADDSS     X1, X12, X12
	ADDQ $136, R11
	ADDQ $4, R9
	DECQ CX
	JNZ  iq4xsrloop

iq4xsrdone:
	VZEROUPPER
	MOVSS X12, ret+32(FP)
	RET

// Q2KHALF does 128 values of a Q2_K super-block: 32 bytes at SI whose bit
// pairs 2j give the 32 values 32j..32j+31, against quants at DI, with the
// 4-bit scales (one byte each, two per part) at R8. Y15 holds 0x03 bytes.
#define Q2KHALF \
	VMOVDQU (SI), Y1        \
	VPAND   Y15, Y1, Y4     \
	VPSRLW  $2, Y1, Y5      \
	VPAND   Y15, Y5, Y5     \
	VPSRLW  $4, Y1, Y6      \
	VPAND   Y15, Y6, Y6     \
	VPSRLW  $6, Y1, Y7      \
	VPAND   Y15, Y7, Y7     \
	Q6KPART(Y4, 0, 0)       \
	Q6KPART(Y5, 32, 2)      \
	Q6KPART(Y6, 64, 4)      \
	Q6KPART(Y7, 96, 6)      \
	ADDQ $32, SI            \
	ADDQ $128, DI           \
	ADDQ $8, R8

// func q2kRowAVX2(row, q8, d, bsums unsafe.Pointer, nb int) float32
// A whole Q2_K row against a Q8_K vector, the arithmetic of dotQ2KGo in
// the same order: per super-block, the 4-bit scales (low nibbles) go to
// the frame for Q2KHALF, summ = sum of min (high nibbles) * group quant
// sum, then s += d*vd*sumi - dmin*vd*summ. R11 walks the row.
TEXT ·q2kRowAVX2(SB), NOSPLIT, $16-44
	MOVQ row+0(FP), R11
	MOVQ q8+8(FP), DI
	MOVQ d+16(FP), R9
	MOVQ bsums+24(FP), R10
	MOVQ nb+32(FP), CX
	MOVL $0x03030303, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, X14
	VXORPS X13, X13, X13
	TESTQ CX, CX
	JZ    q2krdone

q2krloop:
	VMOVDQU   (R11), X10
	VPAND     X14, X10, X11
	VMOVDQU   X11, 0(SP)
	VPSRLW    $4, X10, X10
	VPAND     X14, X10, X10
	VPMOVZXBW X10, Y10
	VPMADDWD  (R10), Y10, Y10
	HSUMDY(Y10, X10, R12)
	LEAQ      16(R11), SI
	LEAQ      0(SP), R8
	VPXOR     Y0, Y0, Y0
	Q2KHALF
	Q2KHALF
	HSUMDY(Y0, X0, AX)
	KROWEND(R11, 80, 82, R12, X13)
	ADDQ $84, R11
	ADDQ $4, R9
	ADDQ $32, R10
	DECQ CX
	JNZ  q2krloop

q2krdone:
	VZEROUPPER
	MOVSS X13, ret+40(FP)
	RET

// Q3KPART does 32 values of a Q3_K super-block: the low bits are bit pair
// 2j of the 32 qs bytes in Y1, the high bit is bit k of the hmask bytes in
// Y10; a clear high bit subtracts 4, as a second vpmaddubsw. The scales
// (signed bytes, two per part) at soff(R8). Y15: 0x03 bytes, Y13: 0x01.
#define Q3KPART(shift, k, off, soff) \
	VPSRLW       $shift, Y1, Y4   \
	VPAND        Y15, Y4, Y4      \
	VPSRLW       $k, Y10, Y5      \
	VPANDN       Y13, Y5, Y5      \
	VPSLLW       $2, Y5, Y5       \
	VPMADDUBSW   off(DI), Y4, Y4  \
	VPMADDUBSW   off(DI), Y5, Y5  \
	VPSUBW       Y5, Y4, Y4       \
	MOVBLSX      soff(R8), AX     \
	VMOVD        AX, X8           \
	VPBROADCASTW X8, X8           \
	MOVBLSX      soff+1(R8), AX   \
	VMOVD        AX, X9           \
	VPBROADCASTW X9, X9           \
	VINSERTI128  $1, X9, Y8, Y8   \
	VPMADDWD     Y8, Y4, Y4       \
	VPADDD       Y4, Y0, Y0

// func q3kRowAVX2(row, q8, d unsafe.Pointer, nb int) float32
// A whole Q3_K row against a Q8_K vector, the arithmetic of dotQ3KGo in
// the same order: per super-block, the sixteen 6-bit scales less 32
// (q3KScales: low nibbles of bytes 0-7, then their high nibbles, with
// bit pairs of bytes 8-11 above them) go to the frame for Q3KPART, then
// s += d*vd*sumi. R11 walks the row; X12 holds s, X14 0x0f bytes, X7
// 0x20 bytes.
TEXT ·q3kRowAVX2(SB), NOSPLIT, $16-36
	MOVQ row+0(FP), R11
	MOVQ q8+8(FP), DI
	MOVQ d+16(FP), R9
	MOVQ nb+24(FP), CX
	MOVL $0x03030303, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x01010101, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, X14
	MOVL $0x20202020, AX
	VMOVD AX, X7
	VPBROADCASTD X7, X7
	VXORPS X12, X12, X12
	TESTQ CX, CX
	JZ    q3krdone

q3krloop:
	Q3KSCALES(R11)
	VMOVDQU     X2, 0(SP)
	LEAQ        0(SP), R8
	VPXOR       Y0, Y0, Y0
	VMOVDQU     (R11), Y10
	VMOVDQU     32(R11), Y1
	Q3KPART(0, 0, 0, 0)
	Q3KPART(2, 1, 32, 2)
	Q3KPART(4, 2, 64, 4)
	Q3KPART(6, 3, 96, 6)
	VMOVDQU     64(R11), Y1
	Q3KPART(0, 4, 128, 8)
	Q3KPART(2, 5, 160, 10)
	Q3KPART(4, 6, 192, 12)
	Q3KPART(6, 7, 224, 14)
	HSUMDY(Y0, X0, AX)
	MOVWLZX    108(R11), BX
	VMOVD      BX, X1
	VCVTPH2PS  X1, X1
	VMULSS     (R9), X1, X1
	VCVTSI2SSL AX, X3, X3
	VMULSS     X3, X1, X1
	VADDSS     X1, X12, X12
	ADDQ $110, R11
	ADDQ $256, DI
	ADDQ $4, R9
	DECQ CX
	JNZ  q3krloop

q3krdone:
	VZEROUPPER
	MOVSS X12, ret+32(FP)
	RET

// BF16LOAD widens 8 bfloat16 at off(SI) to float32 (a 16-bit shift) and
// accumulates their products with the 8 floats at xoff(DI) into acc.
#define BF16LOAD(off, xoff, t, acc) \
	VPMOVZXWD   off(SI), t      \
	VPSLLD      $16, t, t       \
	VFMADD231PS xoff(DI), t, acc

// func dotBF16AVX2(w, x unsafe.Pointer, n int) float32
// n is a multiple of 32. ggml_vec_dot_bf16's AVX2 order: four 8-lane
// accumulators over 32-value steps, folded (0+2)+(1+3), then hsum.
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

bf16loop:
	BF16LOAD(0, 0, Y4, Y0)
	BF16LOAD(16, 32, Y5, Y1)
	BF16LOAD(32, 64, Y6, Y2)
	BF16LOAD(48, 96, Y7, Y3)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JNZ  bf16loop

	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y1, Y0, Y0
	HSUM8
	MOVSS X0, ret+24(FP)
	RET

// func dotsF16AVX2(k unsafe.Pointer, stride int, x unsafe.Pointer, m, n int, out unsafe.Pointer)
// out[p] = dotF16AVX2(k + p*stride, x, m) for p < n (m a multiple of 64,
// stride in bytes): the same loop and reduction per row, without a call
// per row (attention's scores, one row per cached position).
TEXT ·dotsF16AVX2(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), R8
	MOVQ stride+8(FP), R9
	MOVQ x+16(FP), R10
	MOVQ m+24(FP), R11
	SHRQ $6, R11
	MOVQ n+32(FP), DX
	MOVQ out+40(FP), R12
	TESTQ DX, DX
	JZ    dotsdone
	TESTQ R11, R11
	JZ    dotsdone

dotsrow:
	MOVQ R8, SI
	MOVQ R10, DI
	MOVQ R11, CX
	ZERO8

dotsloop:
	VCVTPH2PS   0(SI), Y8
	VCVTPH2PS   16(SI), Y9
	VCVTPH2PS   32(SI), Y10
	VCVTPH2PS   48(SI), Y11
	VFMADD231PS 0(DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y11, Y3
	VCVTPH2PS   64(SI), Y12
	VCVTPH2PS   80(SI), Y13
	VCVTPH2PS   96(SI), Y14
	VCVTPH2PS   112(SI), Y15
	VFMADD231PS 128(DI), Y12, Y4
	VFMADD231PS 160(DI), Y13, Y5
	VFMADD231PS 192(DI), Y14, Y6
	VFMADD231PS 224(DI), Y15, Y7
	ADDQ        $128, SI
	ADDQ        $256, DI
	DECQ        CX
	JNZ         dotsloop

	F32RED16
	MOVSS X0, (R12)
	ADDQ  $4, R12
	ADDQ  R9, R8
	DECQ  DX
	JNZ   dotsrow

dotsdone:
	RET

// func axpysF16AVX2(dst, src unsafe.Pointer, stride int, a unsafe.Pointer, n, m int)
// For p < n in order, dst[i] += a[p] * half(src + p*stride)[i] for i < m
// (m a multiple of 64, stride in bytes): axpyF16AVX2's multiply-add per
// value and position, with 64 values of dst held in registers across the
// positions (attention's weighted sum of the V cache).
TEXT ·axpysF16AVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), R8
	MOVQ stride+16(FP), R9
	MOVQ a+24(FP), R10
	MOVQ n+32(FP), R11
	MOVQ m+40(FP), R12
	SHRQ $6, R12
	JZ   axpysdone

axpyscol:
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	MOVQ    R8, SI
	MOVQ    R10, AX
	MOVQ    R11, CX
	TESTQ   CX, CX
	JZ      axpysstore

axpyspos:
	VBROADCASTSS (AX), Y8
	VCVTPH2PS    0(SI), Y9
	VCVTPH2PS    16(SI), Y10
	VCVTPH2PS    32(SI), Y11
	VCVTPH2PS    48(SI), Y12
	VFMADD231PS  Y9, Y8, Y0
	VFMADD231PS  Y10, Y8, Y1
	VFMADD231PS  Y11, Y8, Y2
	VFMADD231PS  Y12, Y8, Y3
	VCVTPH2PS    64(SI), Y13
	VCVTPH2PS    80(SI), Y14
	VCVTPH2PS    96(SI), Y15
	VCVTPH2PS    112(SI), Y9
	VFMADD231PS  Y13, Y8, Y4
	VFMADD231PS  Y14, Y8, Y5
	VFMADD231PS  Y15, Y8, Y6
	VFMADD231PS  Y9, Y8, Y7
	ADDQ         $4, AX
	ADDQ         R9, SI
	DECQ         CX
	JNZ          axpyspos

axpysstore:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ    $256, DI
	ADDQ    $128, R8
	DECQ    R12
	JNZ     axpyscol

axpysdone:
	VZEROUPPER
	RET
