package quant

// MulRows sets out[k*stride+i-r0] to the dot product of row i of w (rows of
// rowBytes bytes) with vs[k], for every i in [r0, r1) and every k: one
// block of a matrix product, rows by vectors. All vectors must be prepared
// for the same weight type and length.
//
// For the quantized types every output equals vs[k].Dot(row i) bit for bit,
// however many vectors there are, so a vector's results do not depend on the
// others it is batched with. Q8_0 and Q4_0 run register-tiled kernels, each
// weight block decoded once per tile (Q4_0 rows once per call, against 16
// vectors or more): four rows by two or three vectors with AVX2, four rows
// by up to four vectors with AVX512-VNNI; Q4_K and Q6_K four rows by three
// vectors (tilek.go); the other quantized types take four vectors at a time
// (Dot4). F32 and F16 rows take the first len(vs)&^3 vectors in llama.cpp's
// batch order (F16 through tiles in that same order, tilef16.go: four rows
// by six vectors with AVX-512, by three with AVX2) and the rest one at a
// time: the batched results differ from Dot's in the last bits, so a caller
// that needs Dot's exact values for float weights calls DotRows per vector
// instead.
func MulRows(w []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) {
	n := len(vs)
	if n == 0 || r0 >= r1 {
		return
	}
	_ = w[r1*rowBytes-1]
	_ = out[(n-1)*stride+r1-r0-1]
	if mulRowsTiled(w, rowBytes, r0, r1, vs, out, stride) {
		return
	}
	// Q4_K and Q6_K: tilek.go.
	if mulRowsTiledK(w, rowBytes, r0, r1, vs, out, stride) {
		return
	}
	// F16: tilef16.go.
	if mulRowsF16(w, rowBytes, r0, r1, vs, out, stride) {
		return
	}
	k := 0
	if n >= 4 {
		var v4 [4]*Vec
		var o4 [4][]float32
		for ; k+4 <= n; k += 4 {
			for j := range v4 {
				v4[j] = &vs[k+j]
				o4[j] = out[(k+j)*stride : (k+j)*stride+r1-r0]
			}
			Dot4Rows(w, rowBytes, r0, r1, &v4, &o4)
		}
	}
	for ; k < n; k++ {
		vs[k].DotRows(w, rowBytes, r0, r1, out[k*stride:k*stride+r1-r0])
	}
}

// tileable reports whether vs are all prepared for Q8_0 or Q4_0 with the
// same number of blocks, and rows of rowBytes hold them; it returns the
// number of blocks.
func tileable(vs []Vec, rowBytes int) (nb int, ok bool) {
	if wt := vs[0].wt; wt != Q8_0 && wt != Q4_0 {
		return 0, false
	}
	return blocksAlike(vs, rowBytes)
}

// blocksAlike reports whether vs are all prepared for vs[0]'s block type
// with the same number of blocks (a scale and a block's quants each), and
// rows of rowBytes hold them; it returns the number of blocks.
func blocksAlike(vs []Vec, rowBytes int) (nb int, ok bool) {
	wt := vs[0].wt
	nb = len(vs[0].d)
	if nb == 0 || rowBytes < nb*wt.BlockBytes() {
		return 0, false
	}
	for i := range vs {
		if vs[i].wt != wt || len(vs[i].d) != nb || len(vs[i].q) < nb*wt.BlockLen() {
			return 0, false
		}
	}
	return nb, true
}

// mulRowsGo is the portable tiled kernel for Q8_0 and Q4_0: up to four
// rows by four vectors, each weight block decoded once per tile. Every pair
// sums as dotQ8_0Go/dotQ4_0Go do, block by block in the same expression,
// so the results are theirs bit for bit.
func mulRowsGo(w []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride, nb int) {
	wt := vs[0].wt
	bb := wt.BlockBytes()
	var wq [4][QK8_0]int8
	var dw [4]float32
	for i := r0; i < r1; i += 4 {
		nr := min(4, r1-i)
		for k := 0; k < len(vs); k += 4 {
			nt := min(4, len(vs)-k)
			var acc [4][4]float32
			for b := range nb {
				for r := range nr {
					blk := w[(i+r)*rowBytes+b*bb : (i+r)*rowBytes+(b+1)*bb]
					dw[r] = f16Table[le16(blk)]
					if wt == Q8_0 {
						for j := range QK8_0 {
							wq[r][j] = int8(blk[2+j])
						}
					} else {
						for j := range 16 {
							wq[r][j] = int8(blk[2+j]&0xf) - 8
							wq[r][j+16] = int8(blk[2+j]>>4) - 8
						}
					}
				}
				for t := range nt {
					v := &vs[k+t]
					qb := v.q[b*QK8_0 : (b+1)*QK8_0]
					for r := range nr {
						var sumi int32
						for j, a := range qb {
							sumi += int32(wq[r][j]) * int32(a)
						}
						acc[r][t] += float32(sumi) * (dw[r] * v.d[b])
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
