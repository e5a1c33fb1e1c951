//go:build amd64 && !purego

package quant

import "unsafe"

//go:noescape
func f16x4x3AVX2(w unsafe.Pointer, rowBytes int, x *[3]unsafe.Pointer, n int, out unsafe.Pointer, ostride int)

//go:noescape
func f16x4x6AVX512(w unsafe.Pointer, rowBytes int, x *[6]unsafe.Pointer, n int, out unsafe.Pointer, ostride int)

//go:noescape
func f16x4x4AVX512(w unsafe.Pointer, rowBytes int, x *[6]unsafe.Pointer, n int, out unsafe.Pointer, ostride int)

//go:noescape
func f16x4x2AVX512(w unsafe.Pointer, rowBytes int, x *[6]unsafe.Pointer, n int, out unsafe.Pointer, ostride int)

// mulRowsF16 runs the tiled F16 kernels (see tilef16.go) and reports
// whether it did: four rows at a time over the first len(vs)&^3 vectors
// (the AVX-512 tiles where the CPU has them, else the AVX2 tile), the rows
// after the last group of four four vectors at a time with dotF16x4AVX2,
// and the last len(vs)%4 vectors with DotRows. The caller checked the
// bounds.
func mulRowsF16(w []byte, rowBytes, r0, r1 int, vs []Vec, out []float32, stride int) bool {
	n4 := len(vs) &^ 3
	if disableTile || disableTileF16 || !useAVX2 || n4 == 0 || r1-r0 < 4 {
		return false
	}
	cols, ok := tileableF16(vs, rowBytes)
	if !ok {
		return false
	}
	var i int
	if useAVX512 && !disableTileF16Z {
		i = mulRowsF16Z(w, rowBytes, r0, r1, vs[:n4], cols, out, stride)
	} else {
		i = mulRowsF16Y(w, rowBytes, r0, r1, vs[:n4], cols, out, stride)
	}
	for k := 0; k < n4 && i < r1; k += 4 {
		f16x4Rows(w, rowBytes, i, r1, vs[k:k+4], cols, out[k*stride:], stride, r0)
	}
	for k := n4; k < len(vs); k++ {
		vs[k].DotRows(w, rowBytes, r0, r1, out[k*stride:k*stride+r1-r0])
	}
	return true
}

// f16x4Rows sets out[j*stride+r-r0], for j < 4 and rows ra to rb, to row r
// times v4[j], with dotF16x4AVX2 (the four vectors in tinyBLAS's batch
// order, as the tiles sum them).
func f16x4Rows(w []byte, rowBytes, ra, rb int, v4 []Vec, cols int, out []float32, stride, r0 int) {
	x4 := [4]unsafe.Pointer{unsafe.Pointer(&v4[0].f[0]), unsafe.Pointer(&v4[1].f[0]), unsafe.Pointer(&v4[2].f[0]), unsafe.Pointer(&v4[3].f[0])}
	var res [4]float32
	for r := ra; r < rb; r++ {
		dotF16x4AVX2(unsafe.Pointer(&w[r*rowBytes]), &x4, cols, &res)
		for j, v := range res {
			out[j*stride+r-r0] = v
		}
	}
}

// mulRowsF16Y runs the AVX2 tile over rows r0 to the last whole group of
// four by three vectors at a time (len(vs) is a multiple of four; a
// remainder of two as a tile of three that repeats one and drops its
// outputs, a remainder of one by taking the last four with dotF16x4AVX2),
// and returns the first row it left.
func mulRowsF16Y(w []byte, rowBytes, r0, r1 int, vs []Vec, cols int, out []float32, stride int) int {
	n4 := len(vs)
	n3 := n4 / 3 * 3
	if n4%3 == 1 {
		n3 -= 3
	}
	var x [3]unsafe.Pointer
	var tmp [12]float32
	i := r0
	for ; i+4 <= r1; i += 4 {
		row := unsafe.Pointer(&w[i*rowBytes])
		k := 0
		for ; k < n3; k += 3 {
			for j := range x {
				x[j] = unsafe.Pointer(&vs[k+j].f[0])
			}
			// A direct call: through a func value, x would escape.
			f16x4x3AVX2(row, rowBytes, &x, cols, unsafe.Pointer(&out[k*stride+i-r0]), 4*stride)
		}
		switch n4 - k {
		case 2:
			x[0], x[1], x[2] = unsafe.Pointer(&vs[k].f[0]), unsafe.Pointer(&vs[k+1].f[0]), unsafe.Pointer(&vs[k+1].f[0])
			f16x4x3AVX2(row, rowBytes, &x, cols, unsafe.Pointer(&tmp[0]), 16)
			copy(out[k*stride+i-r0:k*stride+i-r0+4], tmp[0:4])
			copy(out[(k+1)*stride+i-r0:(k+1)*stride+i-r0+4], tmp[4:8])
		case 4:
			f16x4Rows(w, rowBytes, i, i+4, vs[k:k+4], cols, out[k*stride:], stride, r0)
		}
	}
	return i
}

// mulRowsF16Z runs the AVX-512 tiles over rows r0 to the last whole group
// of four, by six vectors at a time and the last four or two (len(vs) is a
// multiple of four), and returns the first row it left.
func mulRowsF16Z(w []byte, rowBytes, r0, r1 int, vs []Vec, cols int, out []float32, stride int) int {
	var x [6]unsafe.Pointer
	i := r0
	for ; i+4 <= r1; i += 4 {
		row := unsafe.Pointer(&w[i*rowBytes])
		k := 0
		for ; k+6 <= len(vs); k += 6 {
			for j := range x {
				x[j] = unsafe.Pointer(&vs[k+j].f[0])
			}
			f16x4x6AVX512(row, rowBytes, &x, cols, unsafe.Pointer(&out[k*stride+i-r0]), 4*stride)
		}
		for j := 0; k+j < len(vs); j++ {
			x[j] = unsafe.Pointer(&vs[k+j].f[0])
		}
		switch len(vs) - k {
		case 4:
			f16x4x4AVX512(row, rowBytes, &x, cols, unsafe.Pointer(&out[k*stride+i-r0]), 4*stride)
		case 2:
			f16x4x2AVX512(row, rowBytes, &x, cols, unsafe.Pointer(&out[k*stride+i-r0]), 4*stride)
		}
	}
	return i
}

// tileF16Z reports whether MulRows takes the AVX-512 F16 tiles.
func tileF16Z() bool { return useAVX512 }
