// Package quant holds ggml's tensor block formats (F32, F16, BF16, Q8_0,
// Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS) and
// the dot-product kernels the transformer's matrix products run on.
package quant

import (
	"errors"
	"fmt"

	"github.com/chorus-ai/chorus/engine/gguf"
)

// Type is a ggml tensor element type; the values are ggml's own, as
// package gguf numbers them, so that a GGUF file's type field converts with
// a plain cast.
type Type uint32

// The ggml types this package understands, numbered by package gguf.
const (
	F32    = Type(gguf.F32)
	F16    = Type(gguf.F16)
	Q4_0   = Type(gguf.Q4_0)
	Q4_1   = Type(gguf.Q4_1)
	Q5_0   = Type(gguf.Q5_0)
	Q5_1   = Type(gguf.Q5_1)
	Q8_0   = Type(gguf.Q8_0)
	Q8_1   = Type(gguf.Q8_1)
	Q2_K   = Type(gguf.Q2_K)
	Q3_K   = Type(gguf.Q3_K)
	Q4_K   = Type(gguf.Q4_K)
	Q5_K   = Type(gguf.Q5_K)
	Q6_K   = Type(gguf.Q6_K)
	Q8_K   = Type(gguf.Q8_K)
	IQ4_NL = Type(gguf.IQ4_NL)
	IQ4_XS = Type(gguf.IQ4_XS)
	BF16   = Type(gguf.BF16)
)

// NumTypes bounds the Type values of this package, for tables indexed by type.
const NumTypes = 31

// ErrUnsupported reports a tensor type this package has no kernels for.
var ErrUnsupported = errors.New("quant: unsupported tensor type")

// ErrShape reports a length that is not a whole number of blocks.
var ErrShape = errors.New("quant: length is not a multiple of the block size")

// Block sizes as ggml defines them (QK8_0, QK4_0, QK_K).
const (
	QK8_0 = 32
	QK4_0 = 32
	QK_K  = 256
)

// Byte sizes of one block (ggml-common.h).
const (
	blockQ8_0  = 2 + QK8_0                     // f16 d, int8 qs[32]
	blockQ4_0  = 2 + QK4_0/2                   // f16 d, uint8 qs[16]
	blockQ4_K  = 2 + 2 + 12 + QK_K/2           // f16 d, f16 dmin, scales[12], qs[128]
	blockQ6_K  = QK_K/2 + QK_K/4 + QK_K/16 + 2 // ql[128], qh[64], int8 scales[16], f16 d
	blockQ4_1  = 2 + 2 + 16                    // f16 d, f16 m, uint8 qs[16]
	blockQ5_0  = 2 + 4 + 16                    // f16 d, uint8 qh[4], qs[16]
	blockQ5_1  = 2 + 2 + 4 + 16                // f16 d, f16 m, uint8 qh[4], qs[16]
	blockQ2_K  = QK_K/16 + QK_K/4 + 2 + 2      // scales[16], qs[64], f16 d, f16 dmin
	blockQ3_K  = QK_K/8 + QK_K/4 + 12 + 2      // hmask[32], qs[64], scales[12], f16 d
	blockQ5_K  = 2 + 2 + 12 + QK_K/8 + QK_K/2  // f16 d, f16 dmin, scales[12], qh[32], qs[128]
	blockIQ4NL = 2 + 16                        // f16 d, uint8 qs[16]
	blockIQ4XS = 2 + 2 + QK_K/64 + QK_K/2      // f16 d, uint16 scales_h, scales_l[4], qs[128]
)

var typeNames = map[Type]string{
	F32: "F32", F16: "F16", BF16: "BF16", Q4_0: "Q4_0", Q4_1: "Q4_1", Q5_0: "Q5_0",
	Q5_1: "Q5_1", Q8_0: "Q8_0", Q8_1: "Q8_1", Q2_K: "Q2_K", Q3_K: "Q3_K", Q4_K: "Q4_K",
	Q5_K: "Q5_K", Q6_K: "Q6_K", Q8_K: "Q8_K", IQ4_NL: "IQ4_NL", IQ4_XS: "IQ4_XS",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Supported reports whether weights of type t can be dequantized and used in dot products.
func (t Type) Supported() bool {
	switch t {
	case F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS:
		return true
	}
	return false
}

// BlockLen is the number of values in one block of t.
func (t Type) BlockLen() int {
	switch t {
	case F32, F16, BF16:
		return 1
	case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL:
		return 32
	case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_XS:
		return QK_K
	}
	return 0
}

// BlockBytes is the encoded size of one block of t.
func (t Type) BlockBytes() int {
	switch t {
	case F32:
		return 4
	case F16, BF16:
		return 2
	case Q4_1:
		return blockQ4_1
	case Q5_0:
		return blockQ5_0
	case Q5_1:
		return blockQ5_1
	case Q8_1:
		return 4 + QK8_0
	case Q2_K:
		return blockQ2_K
	case Q3_K:
		return blockQ3_K
	case Q5_K:
		return blockQ5_K
	case IQ4_NL:
		return blockIQ4NL
	case IQ4_XS:
		return blockIQ4XS
	case Q4_0:
		return blockQ4_0
	case Q8_0:
		return blockQ8_0
	case Q4_K:
		return blockQ4_K
	case Q6_K:
		return blockQ6_K
	case Q8_K:
		return 4 + QK_K + 2*QK_K/16
	}
	return 0
}

// RowBytes is the encoded size of n values of type t, or an error when n is
// not a whole number of blocks or t is unknown.
func (t Type) RowBytes(n int) (int, error) {
	bl := t.BlockLen()
	if bl == 0 {
		return 0, fmt.Errorf("%w: %v", ErrUnsupported, t)
	}
	if n < 0 || n%bl != 0 {
		return 0, fmt.Errorf("%w: %d values of %v (block of %d)", ErrShape, n, t, bl)
	}
	return n / bl * t.BlockBytes(), nil
}
