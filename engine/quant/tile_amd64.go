//go:build amd64 && !purego

package quant

import (
	"sync"
	"unsafe"
)

//go:noescape
func q8_0x4x3AVX2(w unsafe.Pointer, rowBytes int, q, d *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q8_0x4x2AVX2(w unsafe.Pointer, rowBytes int, q, d *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q4_0x4x3AVX2(w unsafe.Pointer, rowBytes int, q, d *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func unpackQ4_0AVX2(dst, src unsafe.Pointer, nb int)

// rowBufs hold four unpacked weight rows for the tile kernels: Q4_0 rows
// rewritten as Q8_0 blocks (mulRowsTiled, mulRowsVNNI), Q4_K and Q6_K rows
// in the K tiles' layout (mulRowsTiledK).
var rowBufs = sync.Pool{New: func() any { return new([]byte) }}

// getRowBuf returns n bytes from rowBufs and the pool's item, which the
// caller puts back once done with them.
func getRowBuf(n int) (*[]byte, []byte) {
	bp := rowBufs.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	return bp, (*bp)[:n]
}

//go:noescape
func q4_0x4x2AVX2(w unsafe.Pointer, rowBytes int, q, d *[3]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q8_0x4x4VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q8_0x4x3VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q8_0x4x2VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q4_0x4x4VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q4_0x4x3VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q4_0x4x2VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func unpackQ4_0VNNI(dst, src unsafe.Pointer, nb int)

//go:noescape
func q4_0Ux4x4VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q4_0Ux4x3VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

//go:noescape
func q4_0Ux4x2VNNI(w unsafe.Pointer, rowBytes int, q, aux *[4]unsafe.Pointer, nb int, out unsafe.Pointer, ostride int)

// vnniUnpackMin is the least number of vectors for which mulRowsVNNI
// unpacks Q4_0 rows once for all their tiles (see there). Measured on AMD
// Zen 4 (BenchmarkMulRows, 16 rows, 576 and 1536 columns, thread CPU
// time): unpacking cost 16 to 19 % of the throughput at 4 vectors and 2
// to 5 % at 8, moved it by -1 to +3 % at 9 to 12 (within the noise), and
// gained 3 to 5 % at 16 vectors and 6 to 14 % at 32 to 128.
var vnniUnpackMin = 16

// disableTile lets the tests and benchmarks run MulRows without the tiled
// kernels (four vectors at a time, as before them).
var disableTile = false

// mulRowsTiled runs the tiled Q8_0/Q4_0 kernels and reports whether it
// did: with VNNI, mulRowsVNNI; with AVX2, four rows at a time by three or
// two vectors
// (the one-vector kernel when there is one vector), and the rows after the
// last group of four one vector at a time. The caller checked the bounds.
func mulRowsTiled(w []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) bool {
	if disableTile {
		return false
	}
	nb, ok := tileable(vs, rowBytes)
	if !ok {
		return false
	}
	// Where the vectors carry the VNNI kernels' lane sums (Prepare fills
	// them on AVX512-VNNI CPUs, for all vectors or none), the VNNI tiles.
	if len(vs[0].aux) == nb*auxWords {
		return mulRowsVNNI(w, rowBytes, r0, r1, vs, out, stride, nb)
	}
	if !useAVX2 {
		mulRowsGo(w, rowBytes, r0, r1, vs, out, stride, nb)
		return true
	}
	q4 := vs[0].wt == Q4_0
	n := len(vs)
	ostride := 4 * stride
	var q, d [3]unsafe.Pointer
	// Q4_0 rows against 16 vectors or more: each four rows are unpacked
	// once into Q8_0 blocks (the bytes the Q4_0 tiles make of them, so the
	// results are the same) and run through the Q8_0 tiles, rather than
	// unpacked again by every tile of two or three vectors.
	var buf []byte
	rb8 := nb * blockQ8_0
	if q4 && n >= 16 && r1-r0 >= 4 {
		var bp *[]byte
		bp, buf = getRowBuf(4 * rb8)
		defer rowBufs.Put(bp)
	}
	i := r0
	for ; i+4 <= r1; i += 4 {
		row := unsafe.Pointer(&w[i*rowBytes])
		rb, kq4 := rowBytes, q4
		if buf != nil {
			for k := range 4 {
				unpackQ4_0AVX2(unsafe.Pointer(&buf[k*rb8]), unsafe.Pointer(&w[(i+k)*rowBytes]), nb)
			}
			row, rb, kq4 = unsafe.Pointer(&buf[0]), rb8, false
		}
		// Threes, then twos for what is left (a remainder of one takes a
		// three back: 4 = 2+2, 7 = 3+2+2), and one vector alone only when
		// there is one.
		n3 := n / 3
		if n%3 == 1 && n3 > 0 {
			n3--
		}
		k := 0
		for ; k < 3*n3; k += 3 {
			for j := range 3 {
				q[j], d[j] = unsafe.Pointer(&vs[k+j].q[0]), unsafe.Pointer(&vs[k+j].d[0])
			}
			o := unsafe.Pointer(&out[k*stride+i-r0])
			// Direct calls: through a func value, q and d would escape.
			if kq4 {
				q4_0x4x3AVX2(row, rb, &q, &d, nb, o, ostride)
			} else {
				q8_0x4x3AVX2(row, rb, &q, &d, nb, o, ostride)
			}
		}
		for ; k+2 <= n; k += 2 {
			for j := range 2 {
				q[j], d[j] = unsafe.Pointer(&vs[k+j].q[0]), unsafe.Pointer(&vs[k+j].d[0])
			}
			q[2], d[2] = q[1], d[1]
			o := unsafe.Pointer(&out[k*stride+i-r0])
			if kq4 {
				q4_0x4x2AVX2(row, rb, &q, &d, nb, o, ostride)
			} else {
				q8_0x4x2AVX2(row, rb, &q, &d, nb, o, ostride)
			}
		}
		if k < n {
			dotRows(&vs[k], w, rowBytes, i, i+4, out[k*stride+i-r0:k*stride+i-r0+4])
		}
	}
	if i < r1 {
		for k := range vs {
			dotRows(&vs[k], w, rowBytes, i, r1, out[k*stride+i-r0:k*stride+r1-r0])
		}
	}
	return true
}

// mulRowsVNNI runs the VNNI tiles: four rows at a time by four vectors,
// and the last three or two (a remainder of one takes a four back: 5 = 3+2,
// 9 = 4+3+2), one vector alone only when there is one; the rows after the
// last group of four one vector at a time. Q4_0 rows against
// vnniUnpackMin vectors or more are unpacked once per four rows for all
// the tiles. It reports false, leaving the work to the caller, if some
// vector lacks the lane sums.
func mulRowsVNNI(w []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride, nb int) bool {
	for i := range vs {
		if len(vs[i].aux) != nb*auxWords {
			return false
		}
	}
	if len(vs) == 1 {
		return dotRows(&vs[0], w, rowBytes, r0, r1, out[:r1-r0])
	}
	if len(vs) > vnniMaxVecs {
		for b := 0; b < len(vs); b += vnniMaxVecs {
			if !mulRowsVNNI(w, rowBytes, r0, r1, vs[b:min(b+vnniMaxVecs, len(vs))], out[b*stride:], stride, nb) {
				return false
			}
		}
		return true
	}
	q4 := vs[0].wt == Q4_0
	ostride := 4 * stride
	// The tiles' vectors, gathered once for every group of four rows: a
	// tile t takes tn[t] vectors (two to four: one vector alone returned
	// above) from tk[t], their quants at tq[t] and lane sums at ta[t].
	var tq, ta [vnniMaxVecs / 4][4]unsafe.Pointer
	var tk, tn [vnniMaxVecs / 4]int
	tiles := 0
	for k := 0; k < len(vs); tiles++ {
		nt := vnniTile(len(vs) - k)
		for j := range nt {
			tq[tiles][j], ta[tiles][j] = unsafe.Pointer(&vs[k+j].q[0]), unsafe.Pointer(&vs[k+j].aux[0])
		}
		tk[tiles], tn[tiles] = k, nt
		k += nt
	}
	// Q4_0 rows against vnniUnpackMin vectors or more: each four rows are
	// unpacked once into Q8_0-layout blocks of unsigned nibbles (the bytes
	// the Q4_0 tiles make of them, so the results are the same) and run
	// through the q4_0U tiles, the Q8_0 tiles' loop, rather than unpacked
	// again by every tile of four vectors.
	var buf []byte
	rb8 := nb * blockQ8_0
	if q4 && len(vs) >= vnniUnpackMin && r1-r0 >= 4 {
		var bp *[]byte
		bp, buf = getRowBuf(4 * rb8)
		defer rowBufs.Put(bp)
	}
	i := r0
	for ; i+4 <= r1; i += 4 {
		row, rb, unpacked := unsafe.Pointer(&w[i*rowBytes]), rowBytes, false
		if buf != nil {
			for k := range 4 {
				unpackQ4_0VNNI(unsafe.Pointer(&buf[k*rb8]), unsafe.Pointer(&w[(i+k)*rowBytes]), nb)
			}
			row, rb, unpacked = unsafe.Pointer(&buf[0]), rb8, true
		}
		for t := range tiles {
			k, nt, q, a := tk[t], tn[t], &tq[t], &ta[t]
			o := unsafe.Pointer(&out[k*stride+i-r0])
			// Direct calls: through a func value, q and a would escape.
			switch {
			case nt == 4 && unpacked:
				q4_0Ux4x4VNNI(row, rb, q, a, nb, o, ostride)
			case nt == 3 && unpacked:
				q4_0Ux4x3VNNI(row, rb, q, a, nb, o, ostride)
			case unpacked:
				q4_0Ux4x2VNNI(row, rb, q, a, nb, o, ostride)
			case nt == 4 && q4:
				q4_0x4x4VNNI(row, rowBytes, q, a, nb, o, ostride)
			case nt == 4:
				q8_0x4x4VNNI(row, rowBytes, q, a, nb, o, ostride)
			case nt == 3 && q4:
				q4_0x4x3VNNI(row, rowBytes, q, a, nb, o, ostride)
			case nt == 3:
				q8_0x4x3VNNI(row, rowBytes, q, a, nb, o, ostride)
			case q4:
				q4_0x4x2VNNI(row, rowBytes, q, a, nb, o, ostride)
			default:
				q8_0x4x2VNNI(row, rowBytes, q, a, nb, o, ostride)
			}
		}
	}
	if i < r1 {
		for k := range vs {
			dotRows(&vs[k], w, rowBytes, i, r1, out[k*stride+i-r0:k*stride+r1-r0])
		}
	}
	return true
}

// vnniMaxVecs is the most vectors mulRowsVNNI's tiles take in one pass
// over the rows (a step's most, llama.MaxBatch); more go in passes of as
// many. Their tiles number at most a quarter of it (128 = 32 fours, 125 =
// 30 fours, a three and a two).
const vnniMaxVecs = 128

// vnniTile is the number of vectors the next VNNI tile takes when left
// remain: four, but three and two for the last five, and one only alone.
func vnniTile(left int) int {
	switch left {
	case 1, 2, 3:
		return left
	case 5:
		return 3
	}
	return 4
}
