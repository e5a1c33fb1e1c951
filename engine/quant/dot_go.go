package quant

import (
	"encoding/binary"
	"math"
)

// The portable kernels: the reference the assembly is tested against and
// the fallback where it is not available.

func dotF32Go(row []byte, x []float32) float32 {
	var s float32
	for i, v := range x {
		s += math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:])) * v
	}
	return s
}

func dotF16Go(row []byte, x []float32) float32 {
	var s float32
	for i, v := range x {
		s += f16Table[le16(row[2*i:])] * v
	}
	return s
}

func dotQ8_0Go(row []byte, q []int8, d []float32) float32 {
	var s float32
	for b := range d {
		blk := row[b*blockQ8_0 : (b+1)*blockQ8_0]
		qb := q[b*QK8_0 : (b+1)*QK8_0]
		var sumi int32
		for j, a := range qb {
			sumi += int32(int8(blk[2+j])) * int32(a)
		}
		s += float32(sumi) * (f16Table[le16(blk)] * d[b])
	}
	return s
}

func dotQ4_0Go(row []byte, q []int8, d []float32) float32 {
	var s float32
	for b := range d {
		blk := row[b*blockQ4_0 : (b+1)*blockQ4_0]
		qb := q[b*QK4_0 : (b+1)*QK4_0]
		var sumi int32
		for j := range 16 {
			w := blk[2+j]
			sumi += (int32(w&0xf)-8)*int32(qb[j]) + (int32(w>>4)-8)*int32(qb[j+16])
		}
		s += float32(sumi) * (f16Table[le16(blk)] * d[b])
	}
	return s
}

func dotQ4KGo(row []byte, q []int8, d []float32, bsums []int16) float32 {
	var s float32
	for b := range d {
		blk := row[b*blockQ4_K : (b+1)*blockQ4_K]
		scales := blk[4:16]
		qs := blk[16:]
		q8 := q[b*QK_K : (b+1)*QK_K]
		bs := bsums[b*16 : b*16+16]
		var sumi, summ int32
		for j := range 4 {
			sc1, m1 := scaleMinK4(2*j, scales)
			sc2, m2 := scaleMinK4(2*j+1, scales)
			var s1, s2 int32
			qq := qs[32*j : 32*j+32]
			a := q8[64*j : 64*j+64]
			for l, w := range qq {
				s1 += int32(w&0xf) * int32(a[l])
				s2 += int32(w>>4) * int32(a[32+l])
			}
			sumi += int32(sc1)*s1 + int32(sc2)*s2
			summ += int32(m1)*(int32(bs[4*j])+int32(bs[4*j+1])) + int32(m2)*(int32(bs[4*j+2])+int32(bs[4*j+3]))
		}
		s = addK4(s, f16Table[le16(blk)], f16Table[le16(blk[2:])], d[b], sumi, summ)
	}
	return s
}

// addK4 is s + d*vd*sumi - dmin*vd*summ, a Q2_K, Q4_K or Q5_K
// super-block's term added to the row's sum. The portable one-vector and
// tiled kernels (dotQ2KGo, dotQ4KGo, dotQ5KGo, mulRowsKGo) all add through
// it, so they agree bit for bit even on NaNs: inlined, the compiler may
// order a commutative operation's operands differently at each place, and
// x86 returns the first operand's NaN when both are NaNs.
//
//go:noinline
func addK4(s, d, dmin, vd float32, sumi, summ int32) float32 {
	return s + (d*vd*float32(sumi) - dmin*vd*float32(summ))
}

// addK6 is s + d*vd*sumi, a Q3_K or Q6_K super-block's term, added
// through one function for the reason addK4 is.
//
//go:noinline
func addK6(s, d, vd float32, sumi int32) float32 {
	return s + d*vd*float32(sumi)
}

func dotQ6KGo(row []byte, q []int8, d []float32) float32 {
	var s float32
	for b := range d {
		blk := row[b*blockQ6_K : (b+1)*blockQ6_K]
		q8 := q[b*QK_K : (b+1)*QK_K]
		var isum [16]int32
		for n := range 2 {
			ql := blk[64*n : 64*n+64]
			qh := blk[128+32*n : 128+32*n+32]
			a := q8[128*n : 128*n+128]
			for l := range 32 {
				is := 8*n + l/16
				h := qh[l]
				q1 := int32(ql[l]&0xf|(h&3)<<4) - 32
				q2 := int32(ql[l+32]&0xf|(h>>2&3)<<4) - 32
				q3 := int32(ql[l]>>4|(h>>4&3)<<4) - 32
				q4 := int32(ql[l+32]>>4|(h>>6&3)<<4) - 32
				isum[is] += q1 * int32(a[l])
				isum[is+2] += q2 * int32(a[l+32])
				isum[is+4] += q3 * int32(a[l+64])
				isum[is+6] += q4 * int32(a[l+96])
			}
		}
		sc := blk[192:208]
		var sumi int32
		for k, v := range isum {
			sumi += int32(int8(sc[k])) * v
		}
		s = addK6(s, f16Table[le16(blk[blockQ6_K-2:])], d[b], sumi)
	}
	return s
}
