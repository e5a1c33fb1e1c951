package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
)

// Writer builds a GGUF version 3 file. Metadata keep insertion order (setting a key again
// replaces its value in place); tensors are laid out in the order added, each aligned. The
// writer keeps references to tensor data, not copies, until WriteTo.
type Writer struct {
	alignment uint64
	kvs       []KV
	index     map[string]int
	tensors   []writerTensor
	names     map[string]bool
}

type writerTensor struct {
	info TensorInfo
	data []byte
}

// NewWriter returns an empty writer with the default alignment.
func NewWriter() *Writer {
	return &Writer{alignment: DefaultAlignment, index: map[string]int{}, names: map[string]bool{}}
}

// Set records a metadata value. v must be one of the sized Go types listed on Value (uint8 ...
// float64, bool, string) or a slice of one, or a Value read from another file. Plain int and
// uint are rejected because their GGUF width would be a guess. Setting general.alignment (as a
// uint32 power of two) also changes the alignment used for tensor data.
func (w *Writer) Set(key string, v any) error {
	val, err := toValue(v)
	if err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	if key == KeyAlignment {
		a, ok := val.v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("%w: %v", ErrBadAlignment, v)
		}
		w.alignment = uint64(a)
	}
	if i, ok := w.index[key]; ok {
		w.kvs[i].Value = val
		return nil
	}
	w.index[key] = len(w.kvs)
	w.kvs = append(w.kvs, KV{Key: key, Value: val})
	return nil
}

// AddTensor appends a tensor with ggml dimensions dims (dims[0] innermost) whose encoded bytes
// are data; len(data) must equal the size implied by typ and dims.
func (w *Writer) AddTensor(name string, typ Type, dims []uint64, data []byte) error {
	if w.names[name] {
		return fmt.Errorf("%w: tensor %q", ErrDuplicate, name)
	}
	size, err := typ.TensorBytes(dims)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", name, err)
	}
	if uint64(len(data)) != size {
		return fmt.Errorf("%w: tensor %q is %d bytes, %s%v needs %d", ErrInvalidShape, name,
			len(data), typ, dims, size)
	}
	w.names[name] = true
	w.tensors = append(w.tensors, writerTensor{
		info: TensorInfo{Name: name, Dims: append([]uint64(nil), dims...), Type: typ, Size: size},
		data: data,
	})
	return nil
}

// WriteFile writes the file to path, replacing it.
func (w *Writer) WriteFile(path string) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(fh); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// WriteTo writes the complete file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(out, 1<<16)
	e := &encoder{w: bw}
	e.u32(Magic)
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		e.str(kv.Key)
		e.value(kv.Value)
	}
	var off uint64
	for _, t := range w.tensors {
		off = alignUp(off, w.alignment)
		e.str(t.info.Name)
		e.u32(uint32(len(t.info.Dims)))
		for _, d := range t.info.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.info.Type))
		e.u64(off)
		off += t.info.Size
	}
	e.pad(w.alignment)
	for _, t := range w.tensors {
		e.pad(w.alignment)
		e.bytes(t.data)
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	return e.n, e.err
}

// encoder writes little-endian values, remembering the first error so call sites stay flat.
type encoder struct {
	w   *bufio.Writer
	n   int64
	err error
	buf [8]byte
}

func (e *encoder) bytes(p []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(p)
	e.n += int64(n)
	e.err = err
}

func (e *encoder) u8(v uint8) { e.bytes([]byte{v}) }
func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], v)
	e.bytes(e.buf[:2])
}
func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], v)
	e.bytes(e.buf[:4])
}
func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.bytes(e.buf[:8])
}
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		n, err := e.w.WriteString(s)
		e.n += int64(n)
		e.err = err
	}
}

// pad writes zeros up to the next multiple of a, counted from the start of the file.
func (e *encoder) pad(a uint64) {
	if r := uint64(e.n) % a; r != 0 {
		e.bytes(make([]byte, a-r))
	}
}

func (e *encoder) value(v Value) {
	e.u32(uint32(v.Type))
	if v.Type != TypeArray {
		e.scalar(v.v)
		return
	}
	e.u32(uint32(v.Elem))
	e.u64(uint64(v.Len()))
	if enc, ok := arrayEncoders[v.Elem]; ok {
		enc(e, v.v)
	}
}

// arrayEncoders write the elements of an array of each value type (a slice of its Go type).
var arrayEncoders = map[ValueType]func(e *encoder, a any){
	TypeUint8:   func(e *encoder, a any) { e.bytes(a.([]uint8)) },
	TypeInt8:    encodeArray(func(e *encoder, x int8) { e.u8(uint8(x)) }),
	TypeUint16:  encodeArray((*encoder).u16),
	TypeInt16:   encodeArray(func(e *encoder, x int16) { e.u16(uint16(x)) }),
	TypeUint32:  encodeArray((*encoder).u32),
	TypeInt32:   encodeArray(func(e *encoder, x int32) { e.u32(uint32(x)) }),
	TypeFloat32: encodeArray(func(e *encoder, x float32) { e.u32(math.Float32bits(x)) }),
	TypeBool:    encodeArray(func(e *encoder, x bool) { e.scalar(x) }),
	TypeString:  encodeArray((*encoder).str),
	TypeUint64:  encodeArray((*encoder).u64),
	TypeInt64:   encodeArray(func(e *encoder, x int64) { e.u64(uint64(x)) }),
	TypeFloat64: encodeArray(func(e *encoder, x float64) { e.u64(math.Float64bits(x)) }),
}

// encodeArray returns an encoder of a []T that writes each element with put.
func encodeArray[T any](put func(*encoder, T)) func(*encoder, any) {
	return func(e *encoder, a any) {
		for _, x := range a.([]T) {
			put(e, x)
		}
	}
}

func (e *encoder) scalar(v any) {
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	}
}

// toValue maps a Go value onto its GGUF value type; slices are copied so later changes by the
// caller do not alter what is written.
func toValue(v any) (Value, error) {
	if x, ok := v.(Value); ok {
		if x.v == nil {
			return Value{}, ErrUnsupportedValue
		}
		return toValue(x.v)
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return Value{}, fmt.Errorf("%w: %T", ErrUnsupportedValue, v)
	}
	if t, ok := valueTypes[rv.Type()]; ok {
		return Value{Type: t, v: v}, nil
	}
	if rv.Kind() == reflect.Slice {
		if t, ok := valueTypes[rv.Type().Elem()]; ok && rv.Type() == reflect.SliceOf(goTypes[t]) {
			c := reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len())
			reflect.Copy(c, rv)
			return Value{Type: TypeArray, Elem: t, v: c.Interface()}, nil
		}
	}
	return Value{}, fmt.Errorf("%w: %T", ErrUnsupportedValue, v)
}
