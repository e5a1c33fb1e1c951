package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// sampleFile builds a small file with every metadata type and a few tensor types.
func sampleFile(tb testing.TB) (*Writer, []byte) {
	tb.Helper()
	w := NewWriter()
	kvs := []struct {
		key string
		val any
	}{
		{key: "general.architecture", val: "llama"},
		{key: "u8", val: uint8(200)},
		{key: "i8", val: int8(-100)},
		{key: "u16", val: uint16(60000)},
		{key: "i16", val: int16(-30000)},
		{key: "u32", val: uint32(4000000000)},
		{key: "i32", val: int32(-2000000000)},
		{key: "f32", val: float32(1.5)},
		{key: "bool", val: true},
		{key: "u64", val: uint64(1 << 60)},
		{key: "i64", val: int64(-1 << 60)},
		{key: "f64", val: 2.25},
		{key: "empty", val: ""},
		{key: "strs", val: []string{"a", "", "▁héllo", "<0x0A>"}},
		{key: "u8s", val: []uint8{1, 2, 3}},
		{key: "i8s", val: []int8{-1, 2}},
		{key: "u16s", val: []uint16{1, 65535}},
		{key: "i16s", val: []int16{-1, 7}},
		{key: "u32s", val: []uint32{7, 8}},
		{key: "i32s", val: []int32{1, -2, 3}},
		{key: "f32s", val: []float32{0.5, -1, float32(math.Inf(1))}},
		{key: "bools", val: []bool{true, false}},
		{key: "u64s", val: []uint64{1, math.MaxUint64}},
		{key: "i64s", val: []int64{-5}},
		{key: "f64s", val: []float64{3.5}},
		{key: "emptyarr", val: []int32{}},
	}
	for _, kv := range kvs {
		if err := w.Set(kv.key, kv.val); err != nil {
			tb.Fatalf("Set(%q): %v", kv.key, err)
		}
	}
	tensors := []struct {
		name string
		typ  Type
		dims []uint64
	}{
		{name: "f32", typ: F32, dims: []uint64{3, 2}},
		{name: "q4k", typ: Q4_K, dims: []uint64{256, 2}},
		{name: "q8", typ: Q8_0, dims: []uint64{64}},
		{name: "f16", typ: F16, dims: []uint64{5}},
		{name: "bf16.4d", typ: BF16, dims: []uint64{2, 1, 3, 1}},
	}
	for i, tt := range tensors {
		n, err := tt.typ.TensorBytes(tt.dims)
		if err != nil {
			tb.Fatal(err)
		}
		data := bytes.Repeat([]byte{byte(i + 1)}, int(n))
		if err := w.AddTensor(tt.name, tt.typ, tt.dims, data); err != nil {
			tb.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return w, buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	w, data := sampleFile(t)
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 32 || f.DataStart%32 != 0 {
		t.Fatalf("header: version %d alignment %d data start %d", f.Version, f.Alignment, f.DataStart)
	}
	if len(f.KVs()) != len(w.kvs) {
		t.Fatalf("got %d kvs, want %d", len(f.KVs()), len(w.kvs))
	}
	for i, kv := range f.KVs() {
		want := w.kvs[i]
		if kv.Key != want.Key || !reflect.DeepEqual(kv.Value, want.Value) {
			t.Errorf("kv %d: got %s=%#v, want %s=%#v", i, kv.Key, kv.Value, want.Key, want.Value)
		}
	}
	for i, wt := range w.tensors {
		info, raw, err := f.Tensor(wt.info.Name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Offset%32 != 0 || info.Size != uint64(len(wt.data)) || info.Type != wt.info.Type ||
			!reflect.DeepEqual(info.Dims, wt.info.Dims) || !bytes.Equal(raw, wt.data) {
			t.Errorf("tensor %d %q: got %+v", i, wt.info.Name, info)
		}
	}
	if _, _, err := f.Tensor("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing tensor: got %v, want ErrNotFound", err)
	}
	// Writing what was read yields the same bytes.
	w2 := NewWriter()
	for _, kv := range f.KVs() {
		if err := w2.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range f.Tensors() {
		_, raw, _ := f.Tensor(ti.Name)
		if err := w2.AddTensor(ti.Name, ti.Type, ti.Dims, raw); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w2.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Error("rewriting a parsed file changed its bytes")
	}
}

func TestAccessors(t *testing.T) {
	_, data := sampleFile(t)
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := f.String("general.architecture"); !ok || s != "llama" {
		t.Errorf("String: %q %v", s, ok)
	}
	if _, ok := f.String("u32"); ok {
		t.Error("String on a uint32 must fail")
	}
	if v, ok := f.Uint32("u8"); !ok || v != 200 {
		t.Errorf("Uint32(u8): %d %v", v, ok)
	}
	if v, ok := f.Uint32("u32"); !ok || v != 4000000000 {
		t.Errorf("Uint32(u32): %d %v", v, ok)
	}
	if _, ok := f.Uint32("i8"); ok {
		t.Error("Uint32 of a negative value must fail")
	}
	if _, ok := f.Int32("u32"); ok {
		t.Error("Int32 of 4e9 must fail")
	}
	if v, ok := f.Uint64("u64"); !ok || v != 1<<60 {
		t.Errorf("Uint64: %d %v", v, ok)
	}
	if v, ok := f.Int64("i64"); !ok || v != -1<<60 {
		t.Errorf("Int64: %d %v", v, ok)
	}
	if v, ok := f.Float32("f64"); !ok || v != 2.25 {
		t.Errorf("Float32(f64): %v %v", v, ok)
	}
	if v, ok := f.Bool("bool"); !ok || !v {
		t.Errorf("Bool: %v %v", v, ok)
	}
	if v, ok := f.Strings("strs"); !ok || len(v) != 4 || v[2] != "▁héllo" {
		t.Errorf("Strings: %q %v", v, ok)
	}
	if v, ok := f.Int32s("u16s"); !ok || !reflect.DeepEqual(v, []int32{1, 65535}) {
		t.Errorf("Int32s(u16s): %v %v", v, ok)
	}
	if _, ok := f.Int32s("u64s"); ok {
		t.Error("Int32s of MaxUint64 must fail")
	}
	if v, ok := f.Float32s("f32s"); !ok || len(v) != 3 || v[0] != 0.5 {
		t.Errorf("Float32s: %v %v", v, ok)
	}
	if _, ok := f.Uint32("nope"); ok {
		t.Error("missing key must fail")
	}
}

func TestTypeSizes(t *testing.T) {
	tests := []struct {
		typ   Type
		block int
		bytes int
	}{
		{typ: F32, block: 1, bytes: 4}, {typ: F16, block: 1, bytes: 2}, {typ: BF16, block: 1, bytes: 2},
		{typ: Q4_0, block: 32, bytes: 18}, {typ: Q4_1, block: 32, bytes: 20},
		{typ: Q5_0, block: 32, bytes: 22}, {typ: Q5_1, block: 32, bytes: 24},
		{typ: Q8_0, block: 32, bytes: 34}, {typ: Q8_1, block: 32, bytes: 36},
		{typ: Q2_K, block: 256, bytes: 84}, {typ: Q3_K, block: 256, bytes: 110},
		{typ: Q4_K, block: 256, bytes: 144}, {typ: Q5_K, block: 256, bytes: 176},
		{typ: Q6_K, block: 256, bytes: 210}, {typ: Q8_K, block: 256, bytes: 292},
		{typ: Type(4), block: 0, bytes: 0},
	}
	for _, tt := range tests {
		if tt.typ.BlockSize() != tt.block || tt.typ.BlockBytes() != tt.bytes {
			t.Errorf("%v: block %d bytes %d, want %d %d", tt.typ, tt.typ.BlockSize(),
				tt.typ.BlockBytes(), tt.block, tt.bytes)
		}
	}
	if n, err := Q6_K.TensorBytes([]uint64{576, 49152}); err == nil {
		t.Errorf("576 is not a multiple of 256: got %d", n)
	}
	if n, err := Q8_0.TensorBytes([]uint64{576, 49152}); err != nil || n != 576/32*34*49152 {
		t.Errorf("Q8_0 576x49152: %d %v", n, err)
	}
	if _, err := F32.TensorBytes([]uint64{1 << 40, 1 << 40}); !errors.Is(err, ErrShapeOverflow) {
		t.Errorf("overflow: %v", err)
	}
}

// header encodes a raw GGUF prefix for the malformed-file cases.
type header struct{ bytes.Buffer }

func (h *header) u32(v uint32) *header { _ = binary.Write(h, binary.LittleEndian, v); return h }
func (h *header) u64(v uint64) *header { _ = binary.Write(h, binary.LittleEndian, v); return h }
func (h *header) str(s string) *header { h.u64(uint64(len(s))); h.WriteString(s); return h }
func (h *header) pad(n int) *header    { h.Write(make([]byte, n)); return h }

func start(nTensors, nKV uint64) *header {
	h := &header{}
	return h.u32(Magic).u32(3).u64(nTensors).u64(nKV)
}

// tensor writes one tensor info record.
func (h *header) tensor(name string, typ Type, off uint64, dims ...uint64) *header {
	h.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		h.u64(d)
	}
	return h.u32(uint32(typ)).u64(off)
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{name: "empty", data: nil, want: ErrTruncated},
		{name: "bad magic", data: (&header{}).u32(0x12345678).u32(3).u64(0).u64(0).Bytes(), want: ErrBadMagic},
		{name: "version 1", data: (&header{}).u32(Magic).u32(1).u64(0).u64(0).Bytes(), want: ErrUnsupportedVersion},
		{name: "big endian", data: (&header{}).u32(Magic).u32(3 << 24).u64(0).u64(0).Bytes(), want: ErrUnsupportedVersion},
		{name: "header cut", data: start(0, 0).Bytes()[:20], want: ErrTruncated},
		{name: "huge kv count", data: start(0, 1<<62).Bytes(), want: ErrTooMany},
		{name: "huge tensor count", data: start(1<<62, 0).Bytes(), want: ErrTooMany},
		{name: "string too long", data: start(0, 1).u64(1 << 62).pad(8).Bytes(), want: ErrTruncated},
		{name: "bad value type", data: start(0, 1).str("k").u32(99).pad(8).Bytes(), want: ErrInvalidValueType},
		{name: "nested array", data: start(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(0).Bytes(), want: ErrInvalidValueType},
		{name: "huge array", data: start(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint32)).u64(1 << 61).pad(16).Bytes(), want: ErrTruncated},
		{name: "huge string array", data: start(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 40).pad(16).Bytes(), want: ErrTruncated},
		{name: "bad bool", data: append(start(0, 1).str("k").u32(uint32(TypeBool)).Bytes(), 2), want: ErrInvalidValueType},
		{name: "duplicate key", data: start(0, 2).str("k").u32(uint32(TypeUint8)).pad(1).str("k").u32(uint32(TypeUint8)).pad(1).Bytes(), want: ErrDuplicate},
		{name: "alignment not power of two", data: start(0, 1).str(KeyAlignment).u32(uint32(TypeUint32)).u32(24).Bytes(), want: ErrBadAlignment},
		{name: "alignment wrong type", data: start(0, 1).str(KeyAlignment).u32(uint32(TypeUint64)).u64(32).Bytes(), want: ErrBadAlignment},
		{name: "unknown tensor type", data: start(1, 0).tensor("t", Type(4), 0, 32).pad(64).Bytes(), want: ErrUnknownType},
		{name: "five dims", data: start(1, 0).tensor("t", F32, 0, 1, 1, 1, 1, 1).pad(64).Bytes(), want: ErrInvalidShape},
		{name: "partial block", data: start(1, 0).tensor("t", Q4_0, 0, 31).pad(64).Bytes(), want: ErrInvalidShape},
		{name: "shape overflow", data: start(1, 0).tensor("t", F32, 0, 1<<32, 1<<32, 1<<32).pad(64).Bytes(), want: ErrShapeOverflow},
		{name: "misaligned", data: start(1, 0).tensor("t", F32, 4, 1).pad(64).Bytes(), want: ErrMisaligned},
		{name: "out of range", data: start(1, 0).tensor("t", F32, 0, 1000).pad(64).Bytes(), want: ErrOutOfRange},
		{name: "offset past end", data: start(1, 0).tensor("t", F32, 1<<40, 1).pad(64).Bytes(), want: ErrOutOfRange},
		{name: "overlap", data: start(2, 0).tensor("a", F32, 0, 16).tensor("b", F32, 32, 16).pad(200).Bytes(), want: ErrOverlap},
		{name: "duplicate tensor", data: start(2, 0).tensor("a", F32, 0, 1).tensor("a", F32, 32, 1).pad(200).Bytes(), want: ErrDuplicate},
		{name: "no data section", data: start(1, 0).tensor("a", F32, 0, 1).Bytes(), want: ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVersion2AndNoTensors(t *testing.T) {
	data := (&header{}).u32(Magic).u32(2).u64(0).u64(1).str("general.name").u32(uint32(TypeString)).str("x").Bytes()
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := f.String("general.name"); f.Version != 2 || s != "x" {
		t.Fatalf("got version %d name %q", f.Version, s)
	}
}

func TestCustomAlignment(t *testing.T) {
	w := NewWriter()
	if err := w.Set(KeyAlignment, uint32(64)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := w.AddTensor(name, F32, []uint64{3}, make([]byte, 12)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 64 || f.DataStart%64 != 0 || f.Tensors()[1].Offset != 64 {
		t.Fatalf("alignment %d data start %d second offset %d", f.Alignment, f.DataStart, f.Tensors()[1].Offset)
	}
	if err := w.Set(KeyAlignment, uint32(48)); !errors.Is(err, ErrBadAlignment) {
		t.Errorf("alignment 48: %v", err)
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter()
	if err := w.Set("k", 5); !errors.Is(err, ErrUnsupportedValue) {
		t.Errorf("plain int: %v", err)
	}
	if err := w.AddTensor("t", F32, []uint64{4}, make([]byte, 15)); !errors.Is(err, ErrInvalidShape) {
		t.Errorf("short data: %v", err)
	}
	if err := w.AddTensor("t", F32, []uint64{4}, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("t", F32, []uint64{4}, make([]byte, 16)); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
}

func TestOpen(t *testing.T) {
	w, data := sampleFile(t)
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err := f.Tensor("q4k")
	if err != nil || len(raw) != 2*144 || raw[0] != 2 {
		t.Fatalf("tensor: %d bytes, %v", len(raw), err)
	}
	if len(f.data) != len(data) {
		t.Fatalf("mapped %d bytes, want %d", len(f.data), len(data))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Tensor("q4k"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.gguf")
	if err := NewWriter().WriteFile(empty); err != nil {
		t.Fatal(err)
	}
	if f, err := Open(empty); err != nil || len(f.Tensors()) != 0 {
		t.Errorf("empty file: %v", err)
	} else {
		f.Close()
	}
}

// A file truncated while mapped faults on the next read of a tensor; under Guard that read is
// ErrFault, and the process lives on (without the guard it dies of SIGBUS).
func TestTruncatedWhileMapped(t *testing.T) {
	w, _ := sampleFile(t)
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ti := f.Tensors()[len(f.Tensors())-1]
	_, raw, err := f.Tensor(ti.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	var sum byte
	err = Guard(func() error {
		for _, b := range raw {
			sum += b
		}
		return nil
	})
	if !errors.Is(err, ErrFault) {
		t.Fatalf("reading a truncated mapping: %v (sum %d), want ErrFault", err, sum)
	}
	// Other panics are not faults.
	if Fault("boom") != nil || Fault(errors.New("x")) != nil {
		t.Error("Fault took a plain panic for a memory fault")
	}
	defer func() {
		if p := recover(); p != "not a fault" {
			t.Errorf("Guard swallowed or changed a plain panic: %v", p)
		}
	}()
	_ = Guard(func() error { panic("not a fault") })
}
