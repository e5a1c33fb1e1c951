package quant

import (
	"encoding/binary"
	"math"
)

// IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear table of int8
// levels. IQ4_NL has Q4_0's shape (a half scale per 32 values, dotted with
// Q8_0); IQ4_XS packs 8 such sub-blocks into a 256-value super-block with
// a half d and 6-bit sub-block scales (stored +32: low nibbles in
// scales_l, high pairs of bits in the 16-bit scales_h), dotted with Q8_K.

// iq4Levels is ggml's kvalues_iq4nl.
var iq4Levels = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func dequantIQ4NL(blk []byte, y []float32) {
	d := f16Table[le16(blk)]
	for j, q := range blk[2:blockIQ4NL] {
		y[j] = d * float32(iq4Levels[q&0xf])
		y[j+16] = d * float32(iq4Levels[q>>4])
	}
}

// iq4XSScale is sub-block ib's scale of an IQ4_XS block, minus 32.
func iq4XSScale(blk []byte, ib int) int32 {
	lo := blk[4+ib/2] >> (4 * (ib % 2)) & 0xf
	hi := le16(blk[2:]) >> (2 * ib) & 3
	return int32(lo) | int32(hi)<<4 - 32
}

func dequantIQ4XS(blk []byte, y []float32) {
	d := f16Table[le16(blk)]
	for ib := range 8 {
		dl := d * float32(iq4XSScale(blk, ib))
		qs := blk[8+16*ib : 8+16*ib+16]
		for j, q := range qs {
			y[32*ib+j] = dl * float32(iq4Levels[q&0xf])
			y[32*ib+j+16] = dl * float32(iq4Levels[q>>4])
		}
	}
}

// iq4Nearest is the index of the level nearest v.
func iq4Nearest(v float32) uint8 {
	best, bi := float32(math.MaxFloat32), 0
	for i, l := range iq4Levels {
		if e := abs32(v - float32(l)); e < best {
			best, bi = e, i
		}
	}
	return uint8(bi)
}

// quantIQ4Sub writes 32 indices for x scaled by d into qs[16].
func quantIQ4Sub(x []float32, d float32, qs []byte) {
	var id float32
	if d != 0 {
		id = 1 / d
	}
	for j := range 16 {
		qs[j] = iq4Nearest(x[j]*id) | iq4Nearest(x[j+16]*id)<<4
	}
}

// iq4Fit is the scale that maps x's value of largest magnitude to the
// table's -127 (a plain fit, not ggml's scale search).
func iq4Fit(x []float32) float32 {
	var amax, mx float32
	for _, v := range x {
		if abs32(v) > amax {
			amax, mx = abs32(v), v
		}
	}
	return mx / -127
}

func quantIQ4NL(x []float32, blk []byte) {
	put16(blk, F32ToF16(iq4Fit(x)))
	quantIQ4Sub(x, f16Table[le16(blk)], blk[2:blockIQ4NL])
}

func quantIQ4XS(x []float32, blk []byte) {
	var scales [8]float32
	var maxScale, amaxScale float32
	for ib := range 8 {
		scales[ib] = iq4Fit(x[32*ib : 32*ib+32])
		if abs32(scales[ib]) > amaxScale {
			amaxScale, maxScale = abs32(scales[ib]), scales[ib]
		}
	}
	clear(blk[:blockIQ4XS])
	var id float32
	if amaxScale != 0 {
		id = -32 / maxScale
	}
	var sh uint16
	for ib := range 8 {
		l := uint8(max(-32, min(31, nearestInt(id*scales[ib]))) + 32)
		blk[4+ib/2] |= (l & 0xf) << (4 * (ib % 2))
		sh |= uint16(l>>4) << (2 * ib)
	}
	binary.LittleEndian.PutUint16(blk[2:], sh)
	if id != 0 {
		put16(blk, F32ToF16(1/id))
	}
	d := f16Table[le16(blk)]
	for ib := range 8 {
		quantIQ4Sub(x[32*ib:32*ib+32], d*float32(iq4XSScale(blk, ib)), blk[8+16*ib:8+16*ib+16])
	}
}

func dotIQ4NLGo(row []byte, q []int8, d []float32) float32 {
	var s float32
	for b := range d {
		blk := row[b*blockIQ4NL : (b+1)*blockIQ4NL]
		a := q[b*QK8_0 : (b+1)*QK8_0]
		var sumi int32
		for j, w := range blk[2:] {
			sumi += int32(iq4Levels[w&0xf])*int32(a[j]) + int32(iq4Levels[w>>4])*int32(a[j+16])
		}
		s += float32(sumi) * (f16Table[le16(blk)] * d[b])
	}
	return s
}

func dotIQ4XSGo(row []byte, q []int8, d []float32) float32 {
	var s float32
	for b := range d {
		blk := row[b*blockIQ4XS : (b+1)*blockIQ4XS]
		a := q[b*QK_K : (b+1)*QK_K]
		var sumi int32
		for ib := range 8 {
			qs := blk[8+16*ib : 8+16*ib+16]
			aa := a[32*ib : 32*ib+32]
			var si int32
			for j, w := range qs {
				si += int32(iq4Levels[w&0xf])*int32(aa[j]) + int32(iq4Levels[w>>4])*int32(aa[j+16])
			}
			sumi += iq4XSScale(blk, ib) * si
		}
		s += f16Table[le16(blk)] * d[b] * float32(sumi)
	}
	return s
}
