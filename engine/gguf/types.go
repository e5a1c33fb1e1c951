package gguf

import (
	"fmt"
	"math/bits"
)

// Type is a ggml tensor element type. The numeric values are the ids stored in GGUF files and
// must never be renumbered.
type Type uint32

// The ggml tensor types. Ids 4, 5 and 31 to 33, 36 to 38 belonged to formats that llama.cpp
// removed; files using them are rejected as ErrUnknownType.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
)

type typeTraits struct {
	name       string
	blockSize  uint64 // elements per block
	blockBytes uint64 // bytes per block
}

// traits mirrors ggml's type_traits table (blck_size, type_size).
var traits = map[Type]typeTraits{
	F32:     {"F32", 1, 4},
	F16:     {"F16", 1, 2},
	Q4_0:    {"Q4_0", 32, 18},
	Q4_1:    {"Q4_1", 32, 20},
	Q5_0:    {"Q5_0", 32, 22},
	Q5_1:    {"Q5_1", 32, 24},
	Q8_0:    {"Q8_0", 32, 34},
	Q8_1:    {"Q8_1", 32, 36},
	Q2_K:    {"Q2_K", 256, 84},
	Q3_K:    {"Q3_K", 256, 110},
	Q4_K:    {"Q4_K", 256, 144},
	Q5_K:    {"Q5_K", 256, 176},
	Q6_K:    {"Q6_K", 256, 210},
	Q8_K:    {"Q8_K", 256, 292},
	IQ2_XXS: {"IQ2_XXS", 256, 66},
	IQ2_XS:  {"IQ2_XS", 256, 74},
	IQ3_XXS: {"IQ3_XXS", 256, 98},
	IQ1_S:   {"IQ1_S", 256, 50},
	IQ4_NL:  {"IQ4_NL", 32, 18},
	IQ3_S:   {"IQ3_S", 256, 110},
	IQ2_S:   {"IQ2_S", 256, 82},
	IQ4_XS:  {"IQ4_XS", 256, 136},
	I8:      {"I8", 1, 1},
	I16:     {"I16", 1, 2},
	I32:     {"I32", 1, 4},
	I64:     {"I64", 1, 8},
	F64:     {"F64", 1, 8},
	IQ1_M:   {"IQ1_M", 256, 56},
	BF16:    {"BF16", 1, 2},
	TQ1_0:   {"TQ1_0", 256, 54},
	TQ2_0:   {"TQ2_0", 256, 66},
	MXFP4:   {"MXFP4", 32, 17},
}

// Valid reports whether t is a tensor type this package knows the layout of.
func (t Type) Valid() bool {
	_, ok := traits[t]
	return ok
}

// String returns ggml's name for the type, such as "Q4_K".
func (t Type) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("Type(%d)", uint32(t))
}

// BlockSize is the number of elements packed into one block (1 for plain types).
// It is 0 for unknown types.
func (t Type) BlockSize() int { return int(traits[t].blockSize) }

// BlockBytes is the number of bytes one block occupies. It is 0 for unknown types.
func (t Type) BlockBytes() int { return int(traits[t].blockBytes) }

// RowBytes returns the byte size of n contiguous elements of type t. n must be a multiple of the
// block size.
func (t Type) RowBytes(n uint64) (uint64, error) {
	tr, ok := traits[t]
	if !ok {
		return 0, fmt.Errorf("%w: %d", ErrUnknownType, uint32(t))
	}
	if n%tr.blockSize != 0 {
		return 0, fmt.Errorf("%w: %d elements of %s is not a whole number of %d-element blocks",
			ErrInvalidShape, n, tr.name, tr.blockSize)
	}
	hi, lo := bits.Mul64(n/tr.blockSize, tr.blockBytes)
	if hi != 0 || lo > maxSize {
		return 0, ErrShapeOverflow
	}
	return lo, nil
}

// maxSize bounds every computed size so that it also fits an int on 64-bit platforms and
// offset+size never wraps.
const maxSize = 1<<62 - 1

// TensorBytes returns the byte size of a tensor of type t with the given ggml dimensions
// (dims[0] is the contiguous, innermost dimension and must be a multiple of the block size).
func (t Type) TensorBytes(dims []uint64) (uint64, error) {
	if !t.Valid() {
		return 0, fmt.Errorf("%w: %d", ErrUnknownType, uint32(t))
	}
	if len(dims) > MaxDims {
		return 0, fmt.Errorf("%w: %d dimensions, at most %d", ErrInvalidShape, len(dims), MaxDims)
	}
	if len(dims) == 0 {
		return t.RowBytes(1)
	}
	rows := uint64(1)
	for _, d := range dims[1:] {
		hi, lo := bits.Mul64(rows, d)
		if hi != 0 || lo > maxSize {
			return 0, ErrShapeOverflow
		}
		rows = lo
	}
	if dims[0] > maxSize {
		return 0, ErrShapeOverflow
	}
	row, err := t.RowBytes(dims[0])
	if err != nil {
		return 0, err
	}
	hi, lo := bits.Mul64(row, rows)
	if hi != 0 || lo > maxSize {
		return 0, ErrShapeOverflow
	}
	return lo, nil
}

// MaxDims is ggml's GGML_MAX_DIMS: tensors have at most four dimensions.
const MaxDims = 4

// ValueType is the type tag of a metadata value.
type ValueType uint32

// Metadata value types, as numbered in the GGUF specification.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32",
	"float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (v ValueType) String() string {
	if int(v) < len(valueTypeNames) {
		return valueTypeNames[v]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(v))
}

// fixedSize is the encoded size of a scalar value type; strings report their minimum (the
// length prefix) so that counts can be bounded by the bytes left.
func (v ValueType) fixedSize() (size int, ok bool) {
	switch v {
	case TypeUint8, TypeInt8, TypeBool:
		return 1, true
	case TypeUint16, TypeInt16:
		return 2, true
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4, true
	case TypeUint64, TypeInt64, TypeFloat64, TypeString:
		return 8, true
	}
	return 0, false
}
