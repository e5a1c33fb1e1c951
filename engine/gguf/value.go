package gguf

import (
	"fmt"
	"math"
	"reflect"
)

// Value is one metadata value. Scalars hold the Go type matching their ValueType (uint8, int8,
// uint16, int16, uint32, int32, float32, bool, string, uint64, int64, float64); arrays hold a
// slice of that type ([]string for string arrays).
type Value struct {
	Type ValueType // TypeArray for arrays
	Elem ValueType // element type of an array; unset for scalars
	v    any
}

// Any returns the Go value held (see Value for the mapping).
func (v Value) Any() any { return v.v }

// Len is the number of elements of an array value, or 0 for scalars.
func (v Value) Len() int {
	if rv := reflect.ValueOf(v.v); rv.Kind() == reflect.Slice {
		return rv.Len()
	}
	return 0
}

// goTypes holds, for each value type but TypeArray, the Go type of its scalars (see Value).
var goTypes = map[ValueType]reflect.Type{
	TypeUint8: reflect.TypeFor[uint8](), TypeInt8: reflect.TypeFor[int8](),
	TypeUint16: reflect.TypeFor[uint16](), TypeInt16: reflect.TypeFor[int16](),
	TypeUint32: reflect.TypeFor[uint32](), TypeInt32: reflect.TypeFor[int32](),
	TypeUint64: reflect.TypeFor[uint64](), TypeInt64: reflect.TypeFor[int64](),
	TypeFloat32: reflect.TypeFor[float32](), TypeFloat64: reflect.TypeFor[float64](),
	TypeBool: reflect.TypeFor[bool](), TypeString: reflect.TypeFor[string](),
}

// valueTypes is goTypes inverted: the value type of each Go scalar type.
var valueTypes = func() map[reflect.Type]ValueType {
	m := make(map[reflect.Type]ValueType, len(goTypes))
	for vt, gt := range goTypes {
		m[gt] = vt
	}
	return m
}()

func (v Value) String() string { return fmt.Sprint(v.v) }

// asInt64 converts any integer scalar to int64; uint64 values above MaxInt64 fail.
func (v Value) asInt64() (int64, bool) {
	switch x := v.v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// KV is one metadata entry, in file order.
type KV struct {
	Key   string
	Value Value
}

// metadata is the key/value section shared by File (read) and used by accessors.
type metadata struct {
	kvs   []KV
	index map[string]int
}

// KVs returns all metadata entries in file order. The slice must not be modified.
func (f *File) KVs() []KV { return f.md.kvs }

// Value returns the raw metadata value for key.
func (f *File) Value(key string) (Value, bool) {
	i, ok := f.md.index[key]
	if !ok {
		return Value{}, false
	}
	return f.md.kvs[i].Value, true
}

// String returns a string metadata value.
func (f *File) String(key string) (string, bool) {
	v, ok := f.Value(key)
	s, isStr := v.v.(string)
	return s, ok && isStr
}

// Bool returns a bool metadata value.
func (f *File) Bool(key string) (bool, bool) {
	v, ok := f.Value(key)
	b, isBool := v.v.(bool)
	return b, ok && isBool
}

// Int64 returns an integer metadata value of any integer type that fits in an int64.
// Converters differ in which integer width they store (context_length is uint32 in most files,
// uint64 in some), so the integer accessors accept every width whose value fits.
func (f *File) Int64(key string) (int64, bool) {
	v, ok := f.Value(key)
	if !ok {
		return 0, false
	}
	return v.asInt64()
}

// Uint64 returns a non-negative integer metadata value of any integer type.
func (f *File) Uint64(key string) (uint64, bool) {
	v, ok := f.Value(key)
	if !ok {
		return 0, false
	}
	if u, isU := v.v.(uint64); isU {
		return u, true
	}
	i, ok := v.asInt64()
	if !ok || i < 0 {
		return 0, false
	}
	return uint64(i), true
}

// Uint32 returns an integer metadata value of any integer type that fits in a uint32.
func (f *File) Uint32(key string) (uint32, bool) {
	i, ok := f.Int64(key)
	if !ok || i < 0 || i > math.MaxUint32 {
		return 0, false
	}
	return uint32(i), true
}

// Int32 returns an integer metadata value of any integer type that fits in an int32.
func (f *File) Int32(key string) (int32, bool) {
	i, ok := f.Int64(key)
	if !ok || i < math.MinInt32 || i > math.MaxInt32 {
		return 0, false
	}
	return int32(i), true
}

// Float32 returns a float32 or float64 metadata value as float32.
func (f *File) Float32(key string) (float32, bool) {
	v, ok := f.Value(key)
	switch x := v.v.(type) {
	case float32:
		return x, ok
	case float64:
		return float32(x), ok
	}
	return 0, false
}

// Strings returns a string-array metadata value. The slice must not be modified.
func (f *File) Strings(key string) ([]string, bool) {
	v, ok := f.Value(key)
	s, isStrs := v.v.([]string)
	return s, ok && isStrs
}

// Float32s returns a float32-array metadata value. The slice must not be modified.
func (f *File) Float32s(key string) ([]float32, bool) {
	v, ok := f.Value(key)
	s, isF := v.v.([]float32)
	return s, ok && isF
}

// Int32s returns an integer-array metadata value converted to int32 (a new slice). Arrays of
// any integer type are accepted if every element fits, since token types are int32 in most
// files but not all.
func (f *File) Int32s(key string) ([]int32, bool) {
	v, ok := f.Value(key)
	if !ok || v.Type != TypeArray {
		return nil, false
	}
	if s, isI := v.v.([]int32); isI {
		return s, true
	}
	n := v.Len()
	out := make([]int32, n)
	for i := 0; i < n; i++ {
		var x int64
		switch a := v.v.(type) {
		case []uint8:
			x = int64(a[i])
		case []int8:
			x = int64(a[i])
		case []uint16:
			x = int64(a[i])
		case []int16:
			x = int64(a[i])
		case []uint32:
			x = int64(a[i])
		case []int64:
			x = a[i]
		case []uint64:
			if a[i] > math.MaxInt32 {
				return nil, false
			}
			x = int64(a[i])
		default:
			return nil, false
		}
		if x < math.MinInt32 || x > math.MaxInt32 {
			return nil, false
		}
		out[i] = int32(x)
	}
	return out, true
}
