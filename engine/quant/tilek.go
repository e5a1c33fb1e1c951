package quant

// Register-tiled Q2_K, Q3_K, Q4_K, Q5_K and Q6_K batches for MulRows. On
// amd64 with AVX2 (tilek_amd64.go) four rows are unpacked once into a
// layout the tile kernels read directly (the values as bytes, the scales
// broadcast as vpmaddwd takes them), and every three vectors run against
// them in one pass, each weight sub-block loaded once for the three. The
// portable kernel below (the other builds, and amd64 without AVX2) decodes
// each super-block of four rows once for four vectors. Every pair's sums
// are the one-vector kernels', in the same order where it matters (the
// float part; the integer sums are exact), so each output equals Vec.Dot's
// bit for bit.

// disableTileK lets the tests and benchmarks run MulRows on the K-quants
// without the tiled kernels (one vector at a time, as before them).
var disableTileK = false

// tileableK reports whether vs are all prepared for Q2_K to Q6_K with the
// same number of super-blocks and their sums of sixteen quants, and rows of
// rowBytes hold them; it returns the number of super-blocks.
func tileableK(vs []Vec, rowBytes int) (nb int, ok bool) {
	if wt := vs[0].wt; wt != Q2_K && wt != Q3_K && wt != Q4_K && wt != Q5_K && wt != Q6_K {
		return 0, false
	}
	if nb, ok = blocksAlike(vs, rowBytes); !ok {
		return 0, false
	}
	for i := range vs {
		if len(vs[i].bsums) < nb*16 {
			return 0, false
		}
	}
	return nb, true
}

// mulRowsKGo is the portable tiled kernel for Q2_K to Q6_K:
// up to four rows by four vectors, each super-block of a row decoded once
// per tile. Every pair sums as the one-vector portable kernels do, the
// float part through the same function (addK4, addK6), so the results are
// theirs bit for bit.
func mulRowsKGo(w []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride, nb int) {
	wt := vs[0].wt
	q6 := wt == Q6_K || wt == Q3_K // no mins
	bb := wt.BlockBytes()
	var (
		wq     [4][QK_K]int8
		sc, mn [4][16]int32
		dh, dm [4]float32
	)
	for i := r0; i < r1; i += 4 {
		nr := min(4, r1-i)
		for k := 0; k < len(vs); k += 4 {
			nt := min(4, len(vs)-k)
			var acc [4][4]float32
			for b := range nb {
				for r := range nr {
					blk := w[(i+r)*rowBytes+b*bb : (i+r)*rowBytes+(b+1)*bb]
					switch wt {
					case Q6_K:
						decodeQ6KTile(blk, &wq[r], &sc[r])
						dh[r] = f16Table[le16(blk[blockQ6_K-2:])]
					case Q3_K:
						decodeQ3KTile(blk, &wq[r], &sc[r])
						dh[r] = f16Table[le16(blk[blockQ3_K-2:])]
					case Q2_K:
						decodeQ2KTile(blk, &wq[r], &sc[r], &mn[r])
						dh[r], dm[r] = f16Table[le16(blk[80:])], f16Table[le16(blk[82:])]
					case Q5_K:
						decodeQ5KTile(blk, &wq[r], &sc[r], &mn[r])
						dh[r], dm[r] = f16Table[le16(blk)], f16Table[le16(blk[2:])]
					default: // Q4_K
						decodeQ4KTile(blk, &wq[r], &sc[r], &mn[r])
						dh[r], dm[r] = f16Table[le16(blk)], f16Table[le16(blk[2:])]
					}
				}
				for t := range nt {
					v := &vs[k+t]
					q8 := v.q[b*QK_K : (b+1)*QK_K]
					bs := v.bsums[b*16 : b*16+16]
					for r := range nr {
						// Sixteen groups of 16: Q4_K's scales come in pairs.
						var sumi int32
						for g := range 16 {
							var s int32
							for l, a := range q8[16*g : 16*g+16] {
								s += int32(wq[r][16*g+l]) * int32(a)
							}
							sumi += sc[r][g] * s
						}
						if q6 {
							acc[r][t] = addK6(acc[r][t], dh[r], v.d[b], sumi)
							continue
						}
						var summ int32
						for g, m := range mn[r] {
							summ += m * int32(bs[g])
						}
						acc[r][t] = addK4(acc[r][t], dh[r], dm[r], v.d[b], sumi, summ)
					}
				}
			}
			for t := range nt {
				for r := range nr {
					out[(k+t)*stride+i+r-r0] = acc[r][t]
				}
			}
		}
	}
}

// decodeQ4KTile writes a Q4_K super-block's 4-bit values in the order of
// the activation quants, and each 16-value group's scale and min
// (decodeK4Scales).
func decodeQ4KTile(blk []byte, wq *[QK_K]int8, sc, mn *[16]int32) {
	decodeK4Scales(blk, sc, mn)
	qs := blk[16 : 16+QK_K/2]
	for j := range 4 {
		for l, x := range qs[32*j : 32*j+32] {
			wq[64*j+l] = int8(x & 0xf)
			wq[64*j+32+l] = int8(x >> 4)
		}
	}
}

// decodeK4Scales writes a Q4_K or Q5_K super-block's scales and mins for
// each 16-value group (sub-block j's for groups 2j and 2j+1).
func decodeK4Scales(blk []byte, sc, mn *[16]int32) {
	for j := range 8 {
		s, m := scaleMinK4(j, blk[4:16])
		sc[2*j], sc[2*j+1] = int32(s), int32(s)
		mn[2*j], mn[2*j+1] = int32(m), int32(m)
	}
}

// decodeQ2KTile writes a Q2_K super-block's 2-bit values in the order of
// the activation quants and each 16-value group's scale and min.
func decodeQ2KTile(blk []byte, wq *[QK_K]int8, sc, mn *[16]int32) {
	for g := range 16 {
		sc[g], mn[g] = int32(blk[g]&0xf), int32(blk[g]>>4)
	}
	for n := range 2 {
		qs := blk[16+32*n : 48+32*n]
		for j := range 4 {
			for l, x := range qs {
				wq[128*n+32*j+l] = int8(x >> (2 * j) & 3)
			}
		}
	}
}

// decodeQ5KTile writes a Q5_K super-block's 5-bit values in the order of
// the activation quants, and its scales and mins as decodeQ4KTile does.
func decodeQ5KTile(blk []byte, wq *[QK_K]int8, sc, mn *[16]int32) {
	decodeK4Scales(blk, sc, mn)
	var v [QK_K]uint8
	q5KValues(blk, &v)
	for i, x := range v {
		wq[i] = int8(x)
	}
}

// decodeQ3KTile writes a Q3_K super-block's values (-4 to 3) in the order
// of the activation quants and its 16 scales.
func decodeQ3KTile(blk []byte, wq *[QK_K]int8, sc *[16]int32) {
	q3KValues(blk, wq)
	var s [16]int8
	q3KScales(blk[96:108], &s)
	for k, x := range s {
		sc[k] = int32(x)
	}
}

// decodeQ6KTile writes a Q6_K super-block's values (less their offset of
// 32) in the order of the activation quants and its 16 scales.
func decodeQ6KTile(blk []byte, wq *[QK_K]int8, sc *[16]int32) {
	for n := range 2 {
		ql := blk[64*n : 64*n+64]
		qh := blk[128+32*n : 128+32*n+32]
		o := wq[128*n : 128*n+128]
		for l := range 32 {
			h := qh[l]
			o[l] = int8(ql[l]&0xf|(h&3)<<4) - 32
			o[l+32] = int8(ql[l+32]&0xf|(h>>2&3)<<4) - 32
			o[l+64] = int8(ql[l]>>4|(h>>4&3)<<4) - 32
			o[l+96] = int8(ql[l+32]>>4|(h>>6&3)<<4) - 32
		}
	}
	for k := range 16 {
		sc[k] = int32(int8(blk[192+k]))
	}
}
