//go:build amd64 && !purego

package quant

import "unsafe"

// The unpacked layout of four rows (see tilek_amd64.s): a group of
// kGroupBytes a super-block, row r's values, scales and mins at
// r*kRowBytes, the rows' float scales at kScaleOff.
const (
	kGroupBytes = 2240
	kRowBytes   = 544
	kScaleOff   = 2176
)

//go:noescape
func q4kUnpackAVX2(dst, dd, src unsafe.Pointer, nb int)

//go:noescape
func q2kUnpackAVX2(dst, dd, src unsafe.Pointer, nb int)

//go:noescape
func q3kUnpackAVX2(dst, dd, src unsafe.Pointer, nb int)

//go:noescape
func q5kUnpackAVX2(dst, dd, src unsafe.Pointer, nb int)

//go:noescape
func q6kUnpackAVX2(dst, dd, src unsafe.Pointer, nb int)

//go:noescape
func q4kTileAVX2(u unsafe.Pointer, q8, d, bs *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q6kTileAVX2(u unsafe.Pointer, q8, d, bs *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

// mulRowsTiledK runs the tiled Q2_K/Q3_K/Q4_K/Q5_K/Q6_K kernels and
// reports whether it did: four rows at a time, unpacked once (Q2_K and
// Q5_K into Q4_K's layout, run by Q4_K's tile: Q5_K's values 0 to 31 where
// Q4_K's are 0 to 15, Q2_K's a scale and a min per 16 values where Q4_K's
// come per 32; Q3_K into Q6_K's, its values plus 32 as Q6_K's are, run by
// Q6_K's tile), by three vectors (the last two
// vectors as a tile of three that repeats one and drops its outputs, a
// last single vector one pair at a time), and the rows after the last
// group of four one pair at a time. Fewer than two vectors or four rows
// take the one-vector kernels. The caller checked the bounds.
func mulRowsTiledK(w []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) bool {
	n := len(vs)
	if disableTile || disableTileK || n < 2 || r1-r0 < 4 {
		return false
	}
	nb, ok := tileableK(vs, rowBytes)
	if !ok {
		return false
	}
	if !useAVX2 {
		mulRowsKGo(w, rowBytes, r0, r1, vs, out, stride, nb)
		return true
	}
	wt := vs[0].wt
	q6 := wt == Q6_K || wt == Q3_K // Q6_K's tile
	bp, buf := getRowBuf(nb * kGroupBytes)
	defer rowBufs.Put(bp)
	u := unsafe.Pointer(&buf[0])
	var q, d, bs [3]unsafe.Pointer
	var tmp [12]float32
	i := r0
	for ; i+4 <= r1; i += 4 {
		for r := range 4 {
			dst, dd := unsafe.Pointer(&buf[r*kRowBytes]), unsafe.Pointer(&buf[kScaleOff+4*r])
			src := unsafe.Pointer(&w[(i+r)*rowBytes])
			switch wt {
			case Q6_K:
				q6kUnpackAVX2(dst, dd, src, nb)
			case Q5_K:
				q5kUnpackAVX2(dst, dd, src, nb)
			case Q3_K:
				q3kUnpackAVX2(dst, dd, src, nb)
			case Q2_K:
				q2kUnpackAVX2(dst, dd, src, nb)
			default:
				q4kUnpackAVX2(dst, dd, src, nb)
			}
		}
		k := 0
		for ; k+2 <= n; k += 3 {
			for j := range 3 {
				v := &vs[min(k+j, n-1)]
				q[j], d[j], bs[j] = unsafe.Pointer(&v.q[0]), unsafe.Pointer(&v.d[0]), unsafe.Pointer(&v.bsums[0])
			}
			o, ostride := unsafe.Pointer(&out[k*stride+i-r0]), 4*stride
			if k+3 > n {
				o, ostride = unsafe.Pointer(&tmp[0]), 16
			}
			// Direct calls: through a func value, the arrays would escape.
			if q6 {
				q6kTileAVX2(u, &q, &d, &bs, nb, o, ostride)
			} else {
				q4kTileAVX2(u, &q, &d, &bs, nb, o, ostride)
			}
			if k+3 > n {
				copy(out[k*stride+i-r0:k*stride+i-r0+4], tmp[0:4])
				copy(out[(k+1)*stride+i-r0:(k+1)*stride+i-r0+4], tmp[4:8])
			}
		}
		if k < n {
			vs[k].DotRows(w, rowBytes, i, i+4, out[k*stride+i-r0:k*stride+i-r0+4])
		}
	}
	if i < r1 {
		for k := range vs {
			vs[k].DotRows(w, rowBytes, i, r1, out[k*stride+i-r0:k*stride+r1-r0])
		}
	}
	return true
}
