//go:build amd64 && !purego

#include "textflag.h"

// Constants of ggml_v_expf, each broadcast to 8 lanes.
#define C8(off, v) \
	DATA expc<>+off+0(SB)/4, v \
	DATA expc<>+off+4(SB)/4, v \
	DATA expc<>+off+8(SB)/4, v \
	DATA expc<>+off+12(SB)/4, v \
	DATA expc<>+off+16(SB)/4, v \
	DATA expc<>+off+20(SB)/4, v \
	DATA expc<>+off+24(SB)/4, v \
	DATA expc<>+off+28(SB)/4, v

C8(0, $0x4b400000)   // r = 0x1.8p23
C8(32, $0x3fb8aa3b)  // 0x1.715476p+0
C8(64, $0x3f317200)  // 0x1.62e4p-1
C8(96, $0x35bfbe8e)  // 0x1.7f7d1cp-20
C8(128, $0x3c072010) // 0x1.0e4020p-7
C8(160, $0x3d2b9f17) // 0x1.573e2ep-5
C8(192, $0x3e2aaf33) // 0x1.555e66p-3
C8(224, $0x3efffedb) // 0x1.fffdb6p-2
C8(256, $0x3f7ffff6) // 0x1.ffffecp-1
C8(288, $0x3f800000) // 1
C8(320, $0xc2fc0000) // -126: below, 2^n is not a normal float
C8(352, $0x42fe0000) // 127
C8(384, $0x0000007f) // exponent bias
C8(416, $0x80000000) // sign bit
GLOBL expc<>(SB), RODATA|NOPTR, $448

// LOADC puts the polynomial constants in Y6-Y15.
#define LOADC \
	VMOVUPS expc<>+0(SB), Y15   \
	VMOVUPS expc<>+32(SB), Y14  \
	VMOVUPS expc<>+64(SB), Y13  \
	VMOVUPS expc<>+96(SB), Y12  \
	VMOVUPS expc<>+128(SB), Y11 \
	VMOVUPS expc<>+160(SB), Y10 \
	VMOVUPS expc<>+192(SB), Y9  \
	VMOVUPS expc<>+224(SB), Y8  \
	VMOVUPS expc<>+256(SB), Y7  \
	VMOVUPS expc<>+288(SB), Y6

// EXPF replaces Y0 with expf of each lane, ggml_v_expf's operations in
// order; lanes whose 2^n would leave the normal range jump to slow.
#define EXPF(slow) \
	VMOVAPS      Y15, Y1                    \
	VFMADD231PS  Y14, Y0, Y1                \
	VSUBPS       Y15, Y1, Y1                \
	VCMPPS       $1, expc<>+320(SB), Y1, Y2 \
	VMOVUPS      expc<>+352(SB), Y3         \
	VCMPPS       $1, Y1, Y3, Y3             \
	VORPS        Y3, Y2, Y2                 \
	VMOVMSKPS    Y2, AX                     \
	TESTL        AX, AX                     \
	JNZ          slow                       \
	VMOVAPS      Y0, Y2                     \
	VFNMADD231PS Y13, Y1, Y2                \
	VFNMADD231PS Y12, Y1, Y2                \
	VMULPS       Y2, Y2, Y3                 \
	VMOVAPS      Y10, Y4                    \
	VFMADD231PS  Y11, Y2, Y4                \
	VMOVAPS      Y8, Y5                     \
	VFMADD231PS  Y9, Y2, Y5                 \
	VFMADD231PS  Y3, Y4, Y5                 \
	VMOVAPS      Y6, Y4                     \
	VFMADD231PS  Y7, Y2, Y4                 \
	VFMADD231PS  Y3, Y5, Y4                 \
	VCVTPS2DQ    Y1, Y5                     \
	VPADDD       expc<>+384(SB), Y5, Y5     \
	VPSLLD       $23, Y5, Y5                \
	VMULPS       Y5, Y4, Y0

// func expSubAVX2(dst, src unsafe.Pointer, sub float32, n int) int
// dst[i] = expf(src[i] - sub) for whole groups of 8 while every lane stays
// in the fast range; returns how many values it did.
TEXT ·expSubAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	XORQ         DX, DX
	LOADC
	TESTQ        CX, CX
	JZ           expdone

exploop:
	VBROADCASTSS sub+16(FP), Y1
	VMOVUPS      (SI)(DX*4), Y0
	VSUBPS       Y1, Y0, Y0
	EXPF(expdone)
	VMOVUPS      Y0, (DI)(DX*4)
	ADDQ         $8, DX
	DECQ         CX
	JNZ          exploop

expdone:
	VZEROUPPER
	MOVQ DX, ret+32(FP)
	RET

// func siluMulAVX2(dst, gate, up unsafe.Pointer, n int) int
// dst[i] = g[i]/(1+expf(-g[i])) * u[i], as ggml's silu then mul; same
// contract as expSubAVX2.
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-40
	MOVQ  dst+0(FP), DI
	MOVQ  gate+8(FP), SI
	MOVQ  up+16(FP), BX
	MOVQ  n+24(FP), CX
	SHRQ  $3, CX
	XORQ  DX, DX
	LOADC
	TESTQ CX, CX
	JZ    silupdone

siluloop:
	VMOVUPS (SI)(DX*4), Y0
	VXORPS  expc<>+416(SB), Y0, Y0
	EXPF(silupdone)
	VADDPS  Y6, Y0, Y0
	VMOVUPS (SI)(DX*4), Y1
	VDIVPS  Y0, Y1, Y1
	VMULPS  (BX)(DX*4), Y1, Y1
	VMOVUPS Y1, (DI)(DX*4)
	ADDQ    $8, DX
	DECQ    CX
	JNZ     siluloop

silupdone:
	VZEROUPPER
	MOVQ DX, ret+32(FP)
	RET
