package quant

import "encoding/binary"

// Q4_1, Q5_0 and Q5_1: 32-value blocks like Q4_0. Q4_1 and Q5_1 store a
// minimum beside the scale (x = d*q + m) and are dotted with Q8_1
// activations, whose per-block sum d*Σq carries the minimum's term; Q5_0
// is symmetric (x = d*(q-16)) and dotted with Q8_0. The fifth bits of a
// Q5 block are one little-endian uint32: bit j for value j, bit j+16 for
// value j+16.

func dequantQ4_1(blk []byte, y []float32) {
	d, m := f16Table[le16(blk)], f16Table[le16(blk[2:])]
	for j, q := range blk[4:blockQ4_1] {
		y[j] = float32(q&0xf)*d + m
		y[j+16] = float32(q>>4)*d + m
	}
}

// q5Values unpacks the 32 five-bit quants of a Q5 block (qh, then qs).
func q5Values(qh, qs []byte, out *[32]uint8) {
	h := binary.LittleEndian.Uint32(qh)
	for j := range 16 {
		out[j] = qs[j]&0xf | uint8(h>>j&1)<<4
		out[j+16] = qs[j]>>4 | uint8(h>>(j+16)&1)<<4
	}
}

func dequantQ5_0(blk []byte, y []float32) {
	d := f16Table[le16(blk)]
	var q [32]uint8
	q5Values(blk[2:6], blk[6:], &q)
	for j, v := range q {
		y[j] = float32(int32(v)-16) * d
	}
}

func dequantQ5_1(blk []byte, y []float32) {
	d, m := f16Table[le16(blk)], f16Table[le16(blk[2:])]
	var q [32]uint8
	q5Values(blk[4:8], blk[8:], &q)
	for j, v := range q {
		y[j] = float32(v)*d + m
	}
}

// quantAsym encodes x (32 values) with levels 0..top between its minimum
// and maximum, as ggml's quantize_row_q4_1_ref / q5_1_ref do; it returns
// the quants and writes d and m as halves to dm.
func quantAsym(x []float32, top float32, dm []byte, q *[32]uint8) {
	lo, hi := x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	d := (hi - lo) / top
	var id float32
	if d != 0 {
		id = 1 / d
	}
	put16(dm, F32ToF16(d))
	put16(dm[2:], F32ToF16(lo))
	for j, v := range x {
		q[j] = uint8(min(top, (v-lo)*id+0.5))
	}
}

func quantQ4_1(x []float32, blk []byte) {
	var q [32]uint8
	quantAsym(x, 15, blk, &q)
	for j := range 16 {
		blk[4+j] = q[j] | q[j+16]<<4
	}
}

// packQ5 stores 32 five-bit quants as qh (4 bytes) and qs (16 bytes).
func packQ5(q *[32]uint8, qh, qs []byte) {
	var h uint32
	for j := range 16 {
		qs[j] = q[j]&0xf | (q[j+16]&0xf)<<4
		h |= uint32(q[j]>>4)<<j | uint32(q[j+16]>>4)<<(j+16)
	}
	binary.LittleEndian.PutUint32(qh, h)
}

func quantQ5_1(x []float32, blk []byte) {
	var q [32]uint8
	quantAsym(x, 31, blk, &q)
	packQ5(&q, blk[4:8], blk[8:])
}

// quantQ5_0 is ggml's quantize_row_q5_0_ref: the value of largest magnitude
// maps to -16.
func quantQ5_0(x []float32, blk []byte) {
	var amax, mx float32
	for _, v := range x {
		if abs32(v) > amax {
			amax, mx = abs32(v), v
		}
	}
	d := mx / -16
	var id float32
	if d != 0 {
		id = 1 / d
	}
	put16(blk, F32ToF16(d))
	var q [32]uint8
	for j, v := range x {
		q[j] = uint8(min(31, int8(v*id+16.5)))
	}
	packQ5(&q, blk[2:6], blk[6:])
}

// quantActQ8_1 is ggml's x86 quantize_row_q8_1 for one block: the Q8_0
// activation quants and scale, and the sum term d*Σq as a half.
func quantActQ8_1(x []float32, q []int8) (d, s float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	df := amax / 127
	d = quantActQ8_0(x, q)
	var sum int32
	for _, v := range q[:QK8_0] {
		sum += int32(v)
	}
	return d, RoundF16(df * float32(sum))
}

func dotQ4_1Go(row []byte, q []int8, d, sums []float32) float32 {
	var s float32
	for b := range d {
		blk := row[b*blockQ4_1 : (b+1)*blockQ4_1]
		a := q[b*QK8_0 : (b+1)*QK8_0]
		var sumi int32
		for j, w := range blk[4:] {
			sumi += int32(w&0xf)*int32(a[j]) + int32(w>>4)*int32(a[j+16])
		}
		s += float32(sumi)*(f16Table[le16(blk)]*d[b]) + f16Table[le16(blk[2:])]*sums[b]
	}
	return s
}

func dotQ5_0Go(row []byte, q []int8, d []float32) float32 {
	var s float32
	var v [32]uint8
	for b := range d {
		blk := row[b*blockQ5_0 : (b+1)*blockQ5_0]
		a := q[b*QK8_0 : (b+1)*QK8_0]
		q5Values(blk[2:6], blk[6:], &v)
		var sumi int32
		for j, w := range v {
			sumi += (int32(w) - 16) * int32(a[j])
		}
		s += float32(sumi) * (f16Table[le16(blk)] * d[b])
	}
	return s
}

func dotQ5_1Go(row []byte, q []int8, d, sums []float32) float32 {
	var s float32
	var v [32]uint8
	for b := range d {
		blk := row[b*blockQ5_1 : (b+1)*blockQ5_1]
		a := q[b*QK8_0 : (b+1)*QK8_0]
		q5Values(blk[4:8], blk[8:], &v)
		var sumi int32
		for j, w := range v {
			sumi += int32(w) * int32(a[j])
		}
		s += float32(sumi)*(f16Table[le16(blk)]*d[b]) + f16Table[le16(blk[2:])]*sums[b]
	}
	return s
}
