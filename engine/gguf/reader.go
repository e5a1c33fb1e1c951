package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// Magic is "GGUF" read as a little-endian uint32.
const Magic = 0x46554747

// DefaultAlignment applies when a file has no general.alignment key.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that overrides DefaultAlignment.
const KeyAlignment = "general.alignment"

// TensorInfo describes one tensor. Dims are in ggml order: Dims[0] is the contiguous (innermost)
// dimension, so a [rows][cols] matrix has Dims = {cols, rows}.
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   Type
	Offset uint64 // from the start of the data section
	Size   uint64 // bytes, computed from Dims and Type
}

// Elements is the number of elements in the tensor.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d // bounded by the checks done while parsing
	}
	return n
}

// File is a parsed GGUF file. Tensor data are views into the underlying bytes (the memory
// mapping for Open), valid until Close.
type File struct {
	Version   uint32
	Alignment uint64
	DataStart uint64 // file offset of the data section

	md      metadata
	tensors []TensorInfo
	byName  map[string]int
	data    []byte
	unmap   func() error
}

// Tensors returns the tensor infos in file order. The slice must not be modified.
func (f *File) Tensors() []TensorInfo { return f.tensors }

// Tensor returns the info of the named tensor and a zero-copy view of its bytes.
func (f *File) Tensor(name string) (TensorInfo, []byte, error) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, nil, fmt.Errorf("%w: tensor %q", ErrNotFound, name)
	}
	if f.data == nil {
		return TensorInfo{}, nil, ErrClosed
	}
	t := f.tensors[i]
	start := f.DataStart + t.Offset
	return t, f.data[start : start+t.Size : start+t.Size], nil
}

// Close releases the memory mapping, if any. Tensor byte slices must not be used afterwards.
func (f *File) Close() error {
	f.data = nil
	if f.unmap != nil {
		u := f.unmap
		f.unmap = nil
		return u()
	}
	return nil
}

// Parse parses a GGUF file held in memory. The returned File references data (tensor bytes are
// views into it); its Close is a no-op apart from forgetting data.
func Parse(data []byte) (*File, error) {
	r := &reader{b: data}
	magic, err := r.u32()
	if err != nil {
		return nil, err
	}
	if magic != Magic {
		return nil, fmt.Errorf("%w: %#08x", ErrBadMagic, magic)
	}
	f := &File{Alignment: DefaultAlignment, data: data}
	if f.Version, err = r.u32(); err != nil {
		return nil, err
	}
	// Version 1 used 32-bit counts and is long obsolete; a byte-swapped version means a
	// big-endian file, which no model we load uses.
	if f.Version != 2 && f.Version != 3 {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedVersion, f.Version)
	}
	nTensors, err := r.u64()
	if err != nil {
		return nil, err
	}
	nKV, err := r.u64()
	if err != nil {
		return nil, err
	}
	// Minimal encodings: a kv is key length (8) + type (4) + a 1-byte value; a tensor info is
	// name length (8) + n_dims (4) + type (4) + offset (8).
	if nKV > uint64(r.left())/13 {
		return nil, fmt.Errorf("%w: %d metadata entries", ErrTooMany, nKV)
	}
	if nTensors > uint64(r.left())/24 {
		return nil, fmt.Errorf("%w: %d tensors", ErrTooMany, nTensors)
	}

	f.md.kvs = make([]KV, 0, nKV)
	f.md.index = make(map[string]int, nKV)
	for i := uint64(0); i < nKV; i++ {
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		if _, dup := f.md.index[key]; dup {
			return nil, fmt.Errorf("%w: key %q", ErrDuplicate, key)
		}
		t, err := r.u32()
		if err != nil {
			return nil, err
		}
		v, err := r.value(ValueType(t))
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		f.md.index[key] = len(f.md.kvs)
		f.md.kvs = append(f.md.kvs, KV{Key: key, Value: v})
	}

	if v, ok := f.Value(KeyAlignment); ok {
		a, isU32 := v.v.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("%w: %v (%s)", ErrBadAlignment, v.v, v.Type)
		}
		f.Alignment = uint64(a)
	}

	f.tensors = make([]TensorInfo, 0, nTensors)
	f.byName = make(map[string]int, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		t, err := r.tensorInfo()
		if err != nil {
			return nil, err
		}
		if _, dup := f.byName[t.Name]; dup {
			return nil, fmt.Errorf("%w: tensor %q", ErrDuplicate, t.Name)
		}
		if t.Offset%f.Alignment != 0 {
			return nil, fmt.Errorf("%w: tensor %q at offset %d, alignment %d", ErrMisaligned,
				t.Name, t.Offset, f.Alignment)
		}
		f.byName[t.Name] = len(f.tensors)
		f.tensors = append(f.tensors, t)
	}

	f.DataStart = alignUp(uint64(r.off), f.Alignment)
	if len(f.tensors) == 0 {
		return f, nil
	}
	if f.DataStart > uint64(len(data)) {
		return nil, fmt.Errorf("%w: data section starts at %d, file has %d bytes", ErrTruncated,
			f.DataStart, len(data))
	}
	dataLen := uint64(len(data)) - f.DataStart
	order := make([]int, len(f.tensors))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return f.tensors[order[a]].Offset < f.tensors[order[b]].Offset
	})
	var end uint64
	for k, i := range order {
		t := f.tensors[i]
		if t.Offset > dataLen || t.Size > dataLen-t.Offset {
			return nil, fmt.Errorf("%w: tensor %q needs bytes [%d, %d) of a %d-byte data section",
				ErrOutOfRange, t.Name, t.Offset, t.Offset+t.Size, dataLen)
		}
		if k > 0 && t.Offset < end {
			return nil, fmt.Errorf("%w: tensor %q at offset %d", ErrOverlap, t.Name, t.Offset)
		}
		end = t.Offset + t.Size
	}
	return f, nil
}

func alignUp(n, a uint64) uint64 {
	if r := n % a; r != 0 {
		return n + a - r
	}
	return n
}

// reader decodes little-endian values from b, failing with ErrTruncated rather than panicking.
type reader struct {
	b   []byte
	off int
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) take(n uint64) ([]byte, error) {
	if n > uint64(r.left()) {
		return nil, fmt.Errorf("%w: need %d bytes at offset %d, %d left", ErrTruncated, n, r.off,
			r.left())
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p, nil
}

func (r *reader) u8() (uint8, error) {
	p, err := r.take(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func (r *reader) u16() (uint16, error) {
	p, err := r.take(2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(p), nil
}

func (r *reader) u32() (uint32, error) {
	p, err := r.take(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(p), nil
}

func (r *reader) u64() (uint64, error) {
	p, err := r.take(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(p), nil
}

func (r *reader) str() (string, error) {
	n, err := r.u64()
	if err != nil {
		return "", err
	}
	p, err := r.take(n)
	if err != nil {
		return "", err
	}
	return string(p), nil // copies, so metadata outlives the mapping
}

func (r *reader) value(t ValueType) (Value, error) {
	if t == TypeArray {
		et, err := r.u32()
		if err != nil {
			return Value{}, err
		}
		elem := ValueType(et)
		size, ok := elem.fixedSize()
		if !ok { // nested arrays are allowed by the spec but used by no model; llama.cpp rejects them too
			return Value{}, fmt.Errorf("%w: array of %s", ErrInvalidValueType, elem)
		}
		n, err := r.u64()
		if err != nil {
			return Value{}, err
		}
		if n > uint64(r.left())/uint64(size) {
			return Value{}, fmt.Errorf("%w: array of %d %s", ErrTruncated, n, elem)
		}
		v, err := r.array(elem, int(n))
		return Value{Type: TypeArray, Elem: elem, v: v}, err
	}
	v, err := r.scalar(t)
	return Value{Type: t, v: v}, err
}

func (r *reader) scalar(t ValueType) (any, error) {
	switch t {
	case TypeUint8:
		return r.u8()
	case TypeInt8:
		v, err := r.u8()
		return int8(v), err
	case TypeUint16:
		return r.u16()
	case TypeInt16:
		v, err := r.u16()
		return int16(v), err
	case TypeUint32:
		return r.u32()
	case TypeInt32:
		v, err := r.u32()
		return int32(v), err
	case TypeFloat32:
		v, err := r.u32()
		return math.Float32frombits(v), err
	case TypeBool:
		v, err := r.u8()
		if err == nil && v > 1 {
			return nil, fmt.Errorf("%w: bool byte %d", ErrInvalidValueType, v)
		}
		return v == 1, err
	case TypeString:
		return r.str()
	case TypeUint64:
		return r.u64()
	case TypeInt64:
		v, err := r.u64()
		return int64(v), err
	case TypeFloat64:
		v, err := r.u64()
		return math.Float64frombits(v), err
	}
	return nil, fmt.Errorf("%w: %d", ErrInvalidValueType, uint32(t))
}

// array decodes n elements; the caller has checked that n minimal elements fit.
func (r *reader) array(t ValueType, n int) (any, error) {
	switch t {
	case TypeString:
		out := make([]string, n)
		for i := range out {
			s, err := r.str()
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case TypeBool:
		out := make([]bool, n)
		for i := range out {
			v, err := r.scalar(t)
			if err != nil {
				return nil, err
			}
			out[i] = v.(bool)
		}
		return out, nil
	}
	decode, ok := fixedArrays[t]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrInvalidValueType, uint32(t))
	}
	size, _ := t.fixedSize()
	p, err := r.take(uint64(n) * uint64(size))
	if err != nil {
		return nil, err
	}
	return decode(p, n), nil
}

// fixedArrays decode n little-endian elements of each fixed-size numeric value type.
var fixedArrays = map[ValueType]func(p []byte, n int) any{
	TypeUint8:   func(p []byte, _ int) any { return append([]uint8(nil), p...) },
	TypeInt8:    decodeArray(1, func(b []byte) int8 { return int8(b[0]) }),
	TypeUint16:  decodeArray(2, binary.LittleEndian.Uint16),
	TypeInt16:   decodeArray(2, func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) }),
	TypeUint32:  decodeArray(4, binary.LittleEndian.Uint32),
	TypeInt32:   decodeArray(4, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) }),
	TypeFloat32: decodeArray(4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }),
	TypeUint64:  decodeArray(8, binary.LittleEndian.Uint64),
	TypeInt64:   decodeArray(8, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) }),
	TypeFloat64: decodeArray(8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }),
}

// decodeArray returns a decoder of n elements of size bytes each, read by elem.
func decodeArray[T any](size int, elem func([]byte) T) func(p []byte, n int) any {
	return func(p []byte, n int) any {
		out := make([]T, n)
		for i := range out {
			out[i] = elem(p[size*i:])
		}
		return out
	}
}

func (r *reader) tensorInfo() (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = r.str(); err != nil {
		return t, err
	}
	nd, err := r.u32()
	if err != nil {
		return t, err
	}
	if nd > MaxDims {
		return t, fmt.Errorf("%w: tensor %q has %d dimensions", ErrInvalidShape, t.Name, nd)
	}
	t.Dims = make([]uint64, nd)
	for i := range t.Dims {
		if t.Dims[i], err = r.u64(); err != nil {
			return t, err
		}
	}
	typ, err := r.u32()
	if err != nil {
		return t, err
	}
	t.Type = Type(typ)
	if t.Offset, err = r.u64(); err != nil {
		return t, err
	}
	if t.Size, err = t.Type.TensorBytes(t.Dims); err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return t, nil
}
