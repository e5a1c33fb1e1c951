package quant

// Q2_K, Q3_K and Q5_K: 256-value super-blocks like Q4_K and Q6_K, dotted
// with Q8_K activations.
//
// Q2_K: 16 sub-blocks of 16, each with a 4-bit scale (low nibble) and a
// 4-bit minimum (high nibble) times the half-precision d and dmin; 2-bit
// quants, x = d*sc*q - dmin*m.
// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales (stored +32, packed in
// 12 bytes); 3-bit quants from 2 low bits and a high bit kept in hmask,
// q in -4..3 (a clear high bit subtracts 4); x = d*(sc-32)*q.
// Q5_K: Q4_K's 8 sub-blocks of 32 with 6-bit scales and minimums, and a
// fifth bit per value in qh.

// q2KValues unpacks the 256 2-bit quants of a Q2_K block: value
// 128n+32j+l (l < 32) sits at bits 2j of qs[32n+l].
func q2KValues(qs []byte, out *[QK_K]uint8) {
	for n := range 2 {
		for j := range 4 {
			for l := range 32 {
				out[128*n+32*j+l] = qs[32*n+l] >> (2 * j) & 3
			}
		}
	}
}

func dequantQ2K(blk []byte, y []float32) {
	sc := blk[:16]
	d, dmin := f16Table[le16(blk[80:])], f16Table[le16(blk[82:])]
	var q [QK_K]uint8
	q2KValues(blk[16:80], &q)
	for i, v := range q {
		s := sc[i/16]
		y[i] = d*float32(s&0xf)*float32(v) - dmin*float32(s>>4)
	}
}

// q3KValues unpacks the 256 signed 3-bit quants of a Q3_K block.
func q3KValues(blk []byte, out *[QK_K]int8) {
	hmask, qs := blk[:32], blk[32:96]
	for n := range 2 {
		for j := range 4 {
			for l := range 32 {
				v := int8(qs[32*n+l] >> (2 * j) & 3)
				if hmask[l]>>(4*n+j)&1 == 0 {
					v -= 4
				}
				out[128*n+32*j+l] = v
			}
		}
	}
}

// q3KScales unpacks the 16 6-bit scales of a Q3_K block, minus 32.
func q3KScales(p []byte, out *[16]int8) {
	for j := range 16 {
		lo := p[j%8]
		if j >= 8 {
			lo >>= 4
		}
		hi := p[8+j%4] >> (2 * (j / 4)) & 3
		out[j] = int8(lo&0xf|hi<<4) - 32
	}
}

func dequantQ3K(blk []byte, y []float32) {
	d := f16Table[le16(blk[108:])]
	var q [QK_K]int8
	var sc [16]int8
	q3KValues(blk, &q)
	q3KScales(blk[96:108], &sc)
	for i, v := range q {
		y[i] = d * float32(sc[i/16]) * float32(v)
	}
}

// q5KValues unpacks the 256 5-bit quants of a Q5_K block: value 64j+l and
// 64j+32+l (l < 32) take the low and high nibble of qs[32j+l] and bits 2j
// and 2j+1 of qh[l].
func q5KValues(blk []byte, out *[QK_K]uint8) {
	qh, qs := blk[16:48], blk[48:176]
	for j := range 4 {
		for l := range 32 {
			w, h := qs[32*j+l], qh[l]>>(2*j)
			out[64*j+l] = w&0xf | (h&1)<<4
			out[64*j+32+l] = w>>4 | (h>>1&1)<<4
		}
	}
}

func dequantQ5K(blk []byte, y []float32) {
	d, dmin := f16Table[le16(blk)], f16Table[le16(blk[2:])]
	var q [QK_K]uint8
	q5KValues(blk, &q)
	for j := range 8 {
		sc, m := scaleMinK4(j, blk[4:16])
		d1, m1 := d*float32(sc), dmin*float32(m)
		for l := range 32 {
			y[32*j+l] = d1*float32(q[32*j+l]) - m1
		}
	}
}

// quantQ2K: per sub-block a min/max fit to levels 0..3, then the scales and
// minimums to 4 bits against their largest (a plain fit, not ggml's search).
func quantQ2K(x []float32, blk []byte) {
	var scales, mins [16]float32
	maxScale, maxMin := fitSubBlocks(x[:256], 3, scales[:], mins[:])
	clear(blk[:blockQ2_K])
	is, im := inverse(15, maxScale), inverse(15, maxMin)
	for j := range 16 {
		blk[j] = uint8(min(15, nearestInt(is*scales[j]))) | uint8(min(15, nearestInt(im*mins[j])))<<4
	}
	put16(blk[80:], F32ToF16(maxScale/15))
	put16(blk[82:], F32ToF16(maxMin/15))
	d, dmin := f16Table[le16(blk[80:])], f16Table[le16(blk[82:])]
	qs := blk[16:80]
	for i, v := range x[:QK_K] {
		s := blk[i/16]
		dl, ml := d*float32(s&0xf), dmin*float32(s>>4)
		var l uint8
		if dl != 0 {
			l = uint8(max(0, min(3, nearestInt((v+ml)/dl))))
		}
		n, j, k := i/128, i%128/32, i%32
		qs[32*n+k] |= l << (2 * j)
	}
}

// quantQ3K: per sub-block the value of largest magnitude maps to -4, the
// scales to signed 6 bits against the largest.
func quantQ3K(x []float32, blk []byte) {
	var scales [16]float32
	var maxScale, amaxScale float32
	for j := range 16 {
		var amax, mx float32
		for _, v := range x[16*j : 16*j+16] {
			if abs32(v) > amax {
				amax, mx = abs32(v), v
			}
		}
		scales[j] = mx / -4
		if abs32(scales[j]) > amaxScale {
			amaxScale, maxScale = abs32(scales[j]), scales[j]
		}
	}
	clear(blk[:blockQ3_K])
	if amaxScale == 0 {
		// All zero: scale codes of 32 (zero) and quants of 0 (high bit set).
		for j := range 16 {
			q3KPutScale(blk[96:108], j, 32)
		}
		for l := range 32 {
			blk[l] = 0xff
		}
		return
	}
	iscale := -32 / maxScale
	for j := range 16 {
		l := max(-32, min(31, nearestInt(iscale*scales[j])))
		q3KPutScale(blk[96:108], j, uint8(l+32))
	}
	put16(blk[108:], F32ToF16(1/iscale))
	d := f16Table[le16(blk[108:])]
	var sc [16]int8
	q3KScales(blk[96:108], &sc)
	hmask, qs := blk[:32], blk[32:96]
	for i, v := range x[:QK_K] {
		dl := d * float32(sc[i/16])
		l := 4
		if dl != 0 {
			l = max(-4, min(3, nearestInt(v/dl))) + 4
		}
		n, j, k := i/128, i%128/32, i%32
		qs[32*n+k] |= uint8(l&3) << (2 * j)
		hmask[k] |= uint8(l>>2) << (4*n + j)
	}
}

func q3KPutScale(p []byte, j int, l uint8) {
	if j < 8 {
		p[j] |= l & 0xf
	} else {
		p[j-8] |= (l & 0xf) << 4
	}
	p[8+j%4] |= (l >> 4) << (2 * (j / 4))
}

// quantQ5K is quantQ4K with 32 levels and the fifth bits in qh.
func quantQ5K(x []float32, blk []byte) {
	var scales, mins [8]float32
	maxScale, maxMin := fitSubBlocks(x[:256], 31, scales[:], mins[:])
	clear(blk[:blockQ5_K])
	invScale, invMin := inverse(63, maxScale), inverse(63, maxMin)
	sc := blk[4:16]
	for j := range 8 {
		ls := uint8(min(63, nearestInt(invScale*scales[j])))
		lm := uint8(min(63, nearestInt(invMin*mins[j])))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xf | (lm&0xf)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	put16(blk, F32ToF16(maxScale/63))
	put16(blk[2:], F32ToF16(maxMin/63))
	d, dmin := f16Table[le16(blk)], f16Table[le16(blk[2:])]
	qh, qs := blk[16:48], blk[48:176]
	for j := range 8 {
		s, m := scaleMinK4(j, sc)
		dl, ml := d*float32(s), dmin*float32(m)
		for l := range 32 {
			var q uint8
			if dl != 0 {
				q = uint8(max(0, min(31, nearestInt((x[32*j+l]+ml)/dl))))
			}
			qs[32*(j/2)+l] |= (q & 0xf) << (4 * (j % 2))
			qh[l] |= (q >> 4) << j
		}
	}
}

func dotQ2KGo(row []byte, q []int8, d []float32, bsums []int16) float32 {
	var s float32
	for b := range d {
		blk := row[b*blockQ2_K : (b+1)*blockQ2_K]
		a := q[b*QK_K : (b+1)*QK_K]
		bs := bsums[b*16 : b*16+16]
		var sumi, summ int32
		for n := range 2 {
			qs := blk[16+32*n : 48+32*n]
			an := a[128*n : 128*n+128]
			for j := range 4 {
				shift := 2 * j
				aj := an[32*j : 32*j+32]
				var s0, s1 int32
				for l := range 16 {
					s0 += int32(qs[l]>>shift&3) * int32(aj[l])
					s1 += int32(qs[l+16]>>shift&3) * int32(aj[l+16])
				}
				g := 8*n + 2*j
				sumi += int32(blk[g]&0xf)*s0 + int32(blk[g+1]&0xf)*s1
			}
		}
		for j := range 16 {
			summ += int32(blk[j]>>4) * int32(bs[j])
		}
		s = addK4(s, f16Table[le16(blk[80:])], f16Table[le16(blk[82:])], d[b], sumi, summ)
	}
	return s
}

func dotQ3KGo(row []byte, q []int8, d []float32) float32 {
	var s float32
	var sc [16]int8
	for b := range d {
		blk := row[b*blockQ3_K : (b+1)*blockQ3_K]
		a := q[b*QK_K : (b+1)*QK_K]
		hmask := blk[:32]
		q3KScales(blk[96:108], &sc)
		var sumi int32
		for n := range 2 {
			qs := blk[32+32*n : 64+32*n]
			an := a[128*n : 128*n+128]
			for j := range 4 {
				shift, k := 2*j, 4*n+j
				aj := an[32*j : 32*j+32]
				var s0, s1 int32
				for l := range 16 {
					// 3-bit value: low bits, less 4 where the high bit is clear.
					v0 := int32(qs[l]>>shift&3) - int32(^hmask[l]>>k&1)<<2
					v1 := int32(qs[l+16]>>shift&3) - int32(^hmask[l+16]>>k&1)<<2
					s0 += v0 * int32(aj[l])
					s1 += v1 * int32(aj[l+16])
				}
				g := 8*n + 2*j
				sumi += int32(sc[g])*s0 + int32(sc[g+1])*s1
			}
		}
		s = addK6(s, f16Table[le16(blk[108:])], d[b], sumi)
	}
	return s
}

func dotQ5KGo(row []byte, q []int8, d []float32, bsums []int16) float32 {
	var s float32
	var v [QK_K]uint8
	for b := range d {
		blk := row[b*blockQ5_K : (b+1)*blockQ5_K]
		a := q[b*QK_K : (b+1)*QK_K]
		bs := bsums[b*16 : b*16+16]
		q5KValues(blk, &v)
		var sumi, summ int32
		for j := range 8 {
			sc, m := scaleMinK4(j, blk[4:16])
			var si int32
			for l := range 32 {
				si += int32(v[32*j+l]) * int32(a[32*j+l])
			}
			sumi += int32(sc) * si
			summ += int32(m) * (int32(bs[2*j]) + int32(bs[2*j+1]))
		}
		s = addK4(s, f16Table[le16(blk)], f16Table[le16(blk[2:])], d[b], sumi, summ)
	}
	return s
}

// fitSubBlocks fits each of the len(scales) equal sub-blocks of x to the
// levels 0..top by its minimum (never above 0) and maximum, and returns the
// largest scale and minimum.
func fitSubBlocks(x []float32, top float32, scales, mins []float32) (maxScale, maxMin float32) {
	n := len(x) / len(scales)
	for j := range scales {
		lo, hi := float32(0), x[n*j]
		for _, v := range x[n*j : n*j+n] {
			lo, hi = min(lo, v), max(hi, v)
		}
		scales[j], mins[j] = (hi-lo)/top, -lo
		maxScale, maxMin = max(maxScale, scales[j]), max(maxMin, mins[j])
	}
	return maxScale, maxMin
}

// inverse is top/m, or 0 when m is 0.
func inverse(top, m float32) float32 {
	if m > 0 {
		return top / m
	}
	return 0
}
