//go:build amd64 && !purego

#include "textflag.h"

// func dotF32AVX2(a, b unsafe.Pointer, n int) float32
// n is a multiple of 32.
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SHRQ $5, CX
	JZ   f32done

f32loop:
	VMOVUPS     0(SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS 0(DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	DECQ        CX
	JNZ         f32loop

f32done:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+24(FP)
	RET

// func dotF16AVX2(w, x unsafe.Pointer, n int) float32
// w holds n halves, x n float32; n is a multiple of 32.
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SHRQ $5, CX
	JZ   f16done

f16loop:
	VCVTPH2PS   0(SI), Y4
	VCVTPH2PS   16(SI), Y5
	VCVTPH2PS   32(SI), Y6
	VCVTPH2PS   48(SI), Y7
	VFMADD231PS 0(DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $64, SI
	ADDQ        $128, DI
	DECQ        CX
	JNZ         f16loop

f16done:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+24(FP)
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
	VPSLLD      $7, Y5, Y5
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
	VPSLLD      $3, Y5, Y5
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
#define VTOK4(qreg, areg, shift, acc) \
	VMOVDQU      (areg), Y6      \
	VPSLLD       $shift, Y6, Y6  \
	VPDPBUSD     (qreg), Y4, Y6  \
	VCVTDQ2PS    Y6, Y6          \
	VMULSS       32(areg), X12, X7 \
	VBROADCASTSS X7, Y7          \
	VFMADD231PS  Y6, Y7, acc

#define VSTEP4(wbytes, shift) \
	VTOK4(R8, R12, shift, Y0)  \
	VTOK4(R9, R13, shift, Y1)  \
	VTOK4(R10, BX, shift, Y2)  \
	VTOK4(R11, DI, shift, Y3)  \
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
	VSTEP4(34, 7)
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
	VSTEP4(18, 3)
	DECQ CX
	JNZ  q4x4vloop
	MOVQ out+32(FP), DX
	STORE4
	RET

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
