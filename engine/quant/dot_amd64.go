//go:build amd64 && !purego

package quant

import (
	"encoding/binary"
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAVX2 gates the assembly kernels: they need AVX2, FMA and F16C.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// useVNNI selects the Q8_0/Q4_0 kernels built on vpdpbusd (AVX512-VNNI on
// 256-bit vectors, so AVX512VL too), which do a block in fewer operations.
var useVNNI = useAVX2 && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL

// useAVX512 selects the kernels that use AVX-512's registers 16 to 31 and
// its 16-lane forms (AVX512F, AVX512VL): the F16 tiles in tilef16z_amd64.s
// and the three-head attention kernels in attn_amd64.s.
var useAVX512 = useAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

//go:noescape
func dotQ8_0VNNI(w, q, aux unsafe.Pointer, nb int) float32

//go:noescape
func dotQ4_0VNNI(w, q, aux unsafe.Pointer, nb int) float32

//go:noescape
func dotQ8_0x4VNNI(w unsafe.Pointer, q, aux *[4]unsafe.Pointer, nb int, out *[4]float32)

//go:noescape
func dotQ4_0x4VNNI(w unsafe.Pointer, q, aux *[4]unsafe.Pointer, nb int, out *[4]float32)

//go:noescape
func dotF32AVX2(a, b unsafe.Pointer, n int) float32

//go:noescape
func dotF16AVX2(w, x unsafe.Pointer, n int) float32

//go:noescape
func dotQ8_0AVX2(w, q, d unsafe.Pointer, nb int) float32

//go:noescape
func dotQ4_0AVX2(w, q, d unsafe.Pointer, nb int) float32

//go:noescape
func dotQ8_0x4AVX2(w unsafe.Pointer, q, d *[4]unsafe.Pointer, nb int, out *[4]float32)

//go:noescape
func dotQ4_0x4AVX2(w unsafe.Pointer, q, d *[4]unsafe.Pointer, nb int, out *[4]float32)

// dot4 runs the four-vector kernel for Q8_0 and Q4_0 rows and reports
// whether it did.
func dot4(row []byte, vs *[4]*Vec, out *[4]float32) bool {
	wt := vs[0].wt
	if !useAVX2 {
		return false
	}
	if wt == F32 || wt == F16 {
		return dot4Float(row, vs, out)
	}
	if wt != Q8_0 && wt != Q4_0 {
		return false
	}
	nb := len(vs[0].d)
	if nb == 0 {
		return false
	}
	vnni := useVNNI
	for _, v := range vs {
		if v.wt != wt || len(v.d) != nb {
			return false
		}
		vnni = vnni && len(v.aux) == nb*auxWords
	}
	var q, d [4]unsafe.Pointer
	for i, v := range vs {
		q[i], d[i] = unsafe.Pointer(&v.q[0]), unsafe.Pointer(&v.d[0])
		if vnni {
			d[i] = unsafe.Pointer(&v.aux[0])
		}
	}
	switch {
	case vnni && wt == Q8_0:
		_ = row[nb*blockQ8_0-1]
		dotQ8_0x4VNNI(unsafe.Pointer(&row[0]), &q, &d, nb, out)
		return true
	case vnni:
		_ = row[nb*blockQ4_0-1]
		dotQ4_0x4VNNI(unsafe.Pointer(&row[0]), &q, &d, nb, out)
		return true
	}
	if wt == Q8_0 {
		_ = row[nb*blockQ8_0-1]
		dotQ8_0x4AVX2(unsafe.Pointer(&row[0]), &q, &d, nb, out)
	} else {
		_ = row[nb*blockQ4_0-1]
		dotQ4_0x4AVX2(unsafe.Pointer(&row[0]), &q, &d, nb, out)
	}
	return true
}

//go:noescape
func dotF32x4AVX2(w unsafe.Pointer, x *[4]unsafe.Pointer, n int, out *[4]float32)

//go:noescape
func dotF16x4AVX2(w unsafe.Pointer, x *[4]unsafe.Pointer, n int, out *[4]float32)

// dotF32 and dotF16 run the assembly over whole 64-value steps and add the
// rest one product at a time, as ggml does.
func dotF32(row []byte, x []float32) float32 {
	n := len(x)
	if !useAVX2 || n < 64 {
		return dotF32Go(row, x)
	}
	_ = row[4*n-1]
	m := n &^ 63
	s := dotF32AVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&x[0]), m)
	for i := m; i < n; i++ {
		s += float32(math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:])) * x[i])
	}
	return s
}

func dotF16(row []byte, x []float32) float32 {
	n := len(x)
	if !useAVX2 || n < 64 {
		return dotF16Go(row, x)
	}
	_ = row[2*n-1]
	m := n &^ 63
	s := float64(dotF16AVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&x[0]), m))
	for i := m; i < n; i++ {
		s += float64(f16Table[le16(row[2*i:])] * x[i])
	}
	return float32(s)
}

// dot4Float runs the four-vector F32/F16 kernels when the length is whole
// 16-value steps (otherwise llama.cpp, too, falls back to single vectors).
func dot4Float(row []byte, vs *[4]*Vec, out *[4]float32) bool {
	wt, n := vs[0].wt, vs[0].n
	if n%16 != 0 || n == 0 {
		return false
	}
	var x [4]unsafe.Pointer
	for i, v := range vs {
		if v.wt != wt || v.n != n {
			return false
		}
		x[i] = unsafe.Pointer(&v.f[0])
	}
	if wt == F32 {
		_ = row[4*n-1]
		dotF32x4AVX2(unsafe.Pointer(&row[0]), &x, n, out)
	} else {
		_ = row[2*n-1]
		dotF16x4AVX2(unsafe.Pointer(&row[0]), &x, n, out)
	}
	return true
}

func dotQ8_0(row []byte, q []int8, d []float32, aux []int32) float32 {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return dotQ8_0Go(row, q, d)
	}
	_ = row[nb*blockQ8_0-1]
	_ = q[nb*QK8_0-1]
	if len(aux) == nb*auxWords {
		return dotQ8_0VNNI(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&aux[0]), nb)
	}
	return dotQ8_0AVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), nb)
}

func dotQ4_0(row []byte, q []int8, d []float32, aux []int32) float32 {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return dotQ4_0Go(row, q, d)
	}
	_ = row[nb*blockQ4_0-1]
	_ = q[nb*QK4_0-1]
	if len(aux) == nb*auxWords {
		return dotQ4_0VNNI(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&aux[0]), nb)
	}
	return dotQ4_0AVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), nb)
}

// DotF32 returns the dot product of a and b[:len(a)].
func DotF32(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s float32
	m := 0
	if useAVX2 && n >= 64 {
		m = n &^ 63
		s = dotF32AVX2(unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), m)
	}
	for i := m; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

//go:noescape
func axpyAVX2(dst, src unsafe.Pointer, a float32, n int)

// Axpy adds a*src[i] to dst[i] for every i in dst.
func Axpy(dst, src []float32, a float32) {
	n := len(dst)
	src = src[:n]
	m := 0
	if useAVX2 && n >= 8 {
		m = n &^ 7
		axpyAVX2(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), a, m)
	}
	for i := m; i < n; i++ {
		dst[i] += a * src[i]
	}
}

//go:noescape
func axpyF16AVX2(dst, src unsafe.Pointer, a float32, n int)

// AxpyF16 adds a times the half-precision src[i] to dst[i] for every i in dst.
func AxpyF16(dst []float32, src []uint16, a float32) {
	n := len(dst)
	src = src[:n]
	m := 0
	if useAVX2 && n >= 8 {
		m = n &^ 7
		axpyF16AVX2(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), a, m)
	}
	for i := m; i < n; i++ {
		dst[i] += a * f16Table[src[i]]
	}
}

//go:noescape
func dotsF16AVX2(k unsafe.Pointer, stride int, x unsafe.Pointer, m, n int, out unsafe.Pointer)

//go:noescape
func axpysF16AVX2(dst, src unsafe.Pointer, stride int, a unsafe.Pointer, n, m int)

// DotsF16 sets out[p] to DotF16(k[p*stride:p*stride+len(x)], x) for every
// p in out, bit for bit: attention's scores of a query against the cached
// keys, one call for all positions.
func DotsF16(out []float32, k []uint16, stride int, x []float32) {
	n, m := len(out), len(x)
	if n == 0 {
		return
	}
	_ = k[(n-1)*stride+m-1]
	if !useAVX2 || m%64 != 0 || m == 0 {
		dotsF16Go(out, k, stride, x)
		return
	}
	dotsF16AVX2(unsafe.Pointer(&k[0]), 2*stride, unsafe.Pointer(&x[0]), m, n, unsafe.Pointer(&out[0]))
}

// AxpysF16 adds a[p] times src[p*stride:p*stride+len(dst)] to dst for every
// p in a, in order: AxpyF16 once per position, bit for bit, in one call
// (attention's weighted sum of the cached values).
func AxpysF16(dst []float32, src []uint16, stride int, a []float32) {
	n, m := len(a), len(dst)
	if n == 0 || m == 0 {
		return
	}
	_ = src[(n-1)*stride+m-1]
	if !useAVX2 || m%64 != 0 {
		axpysF16Go(dst, src, stride, a)
		return
	}
	axpysF16AVX2(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), 2*stride, unsafe.Pointer(&a[0]), n, m)
}

// DotF16 returns the dot product of the half-precision h with x[:len(h)].
func DotF16(h []uint16, x []float32) float32 {
	if len(h) == 0 {
		return 0
	}
	return dotF16(unsafe.Slice((*byte)(unsafe.Pointer(&h[0])), 2*len(h)), x[:len(h)])
}

//go:noescape
func q4kSumAVX2(qs, q8 unsafe.Pointer, sc *[8]uint8) int32

// disableQ4KRow lets the tests compare the whole-row Q4_K and Q6_K kernels
// with the per-super-block ones.
var disableQ4KRow = false

//go:noescape
func q4kRowAVX2(row, q8, d, bsums unsafe.Pointer, nb int) float32

//go:noescape
func q6kRowAVX2(row, q8, d, bsums unsafe.Pointer, nb int) float32

//go:noescape
func q6kSumAVX2(blk, q8, bsums unsafe.Pointer) int32

// dotQ4K does each super-block's integer products in assembly and the rest
// as dotQ4KGo does, in the same order, so the results are identical. The
// 6-bit scales and mins are unpacked four at a time as ggml does.
func dotQ4K(row []byte, q []int8, d []float32, bsums []int16) float32 {
	if !useAVX2 || len(d) == 0 {
		return dotQ4KGo(row, q, d, bsums)
	}
	if !disableQ4KRow {
		nb := len(d)
		_, _, _ = row[nb*blockQ4_K-1], q[nb*QK_K-1], bsums[nb*16-1]
		return q4kRowAVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), unsafe.Pointer(&bsums[0]), nb)
	}
	const k1, k2, k3 = 0x3f3f3f3f, 0x0f0f0f0f, 0x03030303
	var s float32
	var sc [8]uint8
	for b := range d {
		blk := row[b*blockQ4_K : (b+1)*blockQ4_K]
		u0 := binary.LittleEndian.Uint32(blk[4:])
		u1 := binary.LittleEndian.Uint32(blk[8:])
		u2 := binary.LittleEndian.Uint32(blk[12:])
		binary.LittleEndian.PutUint32(sc[0:], u0&k1)
		binary.LittleEndian.PutUint32(sc[4:], u2&k2|(u0>>6&k3)<<4)
		mins := uint64(u1&k1) | uint64(u2>>4&k2|(u1>>6&k3)<<4)<<32
		bs := bsums[b*16 : b*16+16]
		var summ int32
		for j := range 8 {
			summ += int32(uint8(mins>>(8*j))) * (int32(bs[2*j]) + int32(bs[2*j+1]))
		}
		sumi := q4kSumAVX2(unsafe.Pointer(&blk[16]), unsafe.Pointer(&q[b*QK_K]), &sc)
		s += f16Table[le16(blk)]*d[b]*float32(sumi) - f16Table[le16(blk[2:])]*d[b]*float32(summ)
	}
	return s
}

func dotQ6K(row []byte, q []int8, d []float32, bsums []int16) float32 {
	if !useAVX2 || len(d) == 0 {
		return dotQ6KGo(row, q, d)
	}
	if !disableQ4KRow {
		nb := len(d)
		_, _, _ = row[nb*blockQ6_K-1], q[nb*QK_K-1], bsums[nb*16-1]
		return q6kRowAVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), unsafe.Pointer(&bsums[0]), nb)
	}
	var s float32
	for b := range d {
		blk := row[b*blockQ6_K : (b+1)*blockQ6_K]
		sumi := q6kSumAVX2(unsafe.Pointer(&blk[0]), unsafe.Pointer(&q[b*QK_K]), unsafe.Pointer(&bsums[b*16]))
		s += f16Table[le16(blk[blockQ6_K-2:])] * d[b] * float32(sumi)
	}
	return s
}

//go:noescape
func toF16AVX2(dst, src unsafe.Pointer, n int)

//go:noescape
func roundF16AVX2(x unsafe.Pointer, n int)

// ToF16 converts src to halves in dst[:len(src)], rounding to nearest even.
func ToF16(dst []uint16, src []float32) {
	n := len(src)
	dst = dst[:n]
	m := 0
	if useAVX2 && n >= 8 {
		m = n &^ 7
		toF16AVX2(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), m)
	}
	for i := m; i < n; i++ {
		dst[i] = F32ToF16(src[i])
	}
}

// RoundF16s rounds every value of x to half precision in place.
func RoundF16s(x []float32) {
	n := len(x)
	m := 0
	if useAVX2 && n >= 8 {
		m = n &^ 7
		roundF16AVX2(unsafe.Pointer(&x[0]), m)
	}
	for i := m; i < n; i++ {
		x[i] = RoundF16(x[i])
	}
}

// Dot4Rows sets out[k][i-r0] to the dot product of row i of w (rows of
// rowBytes bytes) with vs[k], for i in [r0, r1): Dot4 over a run of rows,
// checking the vectors once.
func Dot4Rows(w []byte, rowBytes, r0, r1 int, vs *[4]*Vec, out *[4][]float32) {
	if r0 >= r1 {
		return
	}
	for k := range out {
		_ = out[k][r1-r0-1]
	}
	_ = w[r1*rowBytes-1]
	wt, nb := vs[0].wt, len(vs[0].d)
	ok := useAVX2 && (wt == Q8_0 || wt == Q4_0) && nb > 0
	vnni := useVNNI
	for _, v := range vs {
		ok = ok && v.wt == wt && len(v.d) == nb
		vnni = vnni && len(v.aux) == nb*auxWords
	}
	if !ok || rowBytes < nb*wt.BlockBytes() {
		var res [4]float32
		for i := r0; i < r1; i++ {
			Dot4(w[i*rowBytes:(i+1)*rowBytes], vs, &res)
			for k, r := range res {
				out[k][i-r0] = r
			}
		}
		return
	}
	var q, d [4]unsafe.Pointer
	for k, v := range vs {
		q[k], d[k] = unsafe.Pointer(&v.q[0]), unsafe.Pointer(&v.d[0])
		if vnni {
			d[k] = unsafe.Pointer(&v.aux[0])
		}
	}
	var res [4]float32
	for i := r0; i < r1; i++ {
		row := unsafe.Pointer(&w[i*rowBytes])
		switch {
		case vnni && wt == Q8_0:
			dotQ8_0x4VNNI(row, &q, &d, nb, &res)
		case vnni:
			dotQ4_0x4VNNI(row, &q, &d, nb, &res)
		case wt == Q8_0:
			dotQ8_0x4AVX2(row, &q, &d, nb, &res)
		default:
			dotQ4_0x4AVX2(row, &q, &d, nb, &res)
		}
		for k, r := range res {
			out[k][i-r0] = r
		}
	}
}

//go:noescape
func quantQ8_0AVX2(x, q, d, aux unsafe.Pointer, nb int, off int32)

// quantRowQ8_0 quantizes x (a whole number of blocks) into q and d, and
// fills aux for the VNNI kernels when it is non-nil; off is the weight
// type's unsigned offset. It reports whether the assembly did it.
func quantRowQ8_0(x []float32, q []int8, d []float32, aux []int32, off int32) bool {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return false
	}
	_, _ = x[nb*QK8_0-1], q[nb*QK8_0-1]
	var ap unsafe.Pointer
	if aux != nil {
		_ = aux[nb*auxWords-1]
		ap = unsafe.Pointer(&aux[0])
	}
	quantQ8_0AVX2(unsafe.Pointer(&x[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), ap, nb, off)
	return true
}

//go:noescape
func dotQ4_0R4VNNI(w unsafe.Pointer, rowBytes int, q, aux unsafe.Pointer, nb int, out unsafe.Pointer, n4 int)

//go:noescape
func dotQ4_0R4AVX2(w unsafe.Pointer, rowBytes int, q, d unsafe.Pointer, nb int, out unsafe.Pointer, n4 int)

//go:noescape
func dotQ8_0R4VNNI(w unsafe.Pointer, rowBytes int, q, aux unsafe.Pointer, nb int, out unsafe.Pointer, n4 int)

//go:noescape
func dotQ8_0R4AVX2(w unsafe.Pointer, rowBytes int, q, d unsafe.Pointer, nb int, out unsafe.Pointer, n4 int)

// disableRows4 lets the tests and benchmarks run dotRows one row at a time.
var disableRows4 = false

// dotRows runs the Q8_0/Q4_0 kernels over rows directly; false means the
// caller should go row by row. The rows go four at a time through the
// row-group kernels (a decode step's products), the rows after the last
// four one at a time; the results are the one-row kernels', bit for bit.
func dotRows(v *Vec, w []byte, rowBytes, r0, r1 int, out []float32) bool {
	nb := len(v.d)
	if !useAVX2 || nb == 0 || (v.wt != Q8_0 && v.wt != Q4_0) || rowBytes < nb*v.wt.BlockBytes() {
		return false
	}
	if r0 >= r1 {
		return true
	}
	_, _ = w[r1*rowBytes-1], out[r1-r0-1]
	q, d := unsafe.Pointer(&v.q[0]), unsafe.Pointer(&v.d[0])
	vnni := len(v.aux) == nb*auxWords
	if vnni {
		d = unsafe.Pointer(&v.aux[0])
	}
	if n4 := (r1 - r0) / 4; n4 > 0 && !disableRows4 {
		row, o := unsafe.Pointer(&w[r0*rowBytes]), unsafe.Pointer(&out[0])
		switch {
		case vnni && v.wt == Q8_0:
			dotQ8_0R4VNNI(row, rowBytes, q, d, nb, o, n4)
		case vnni:
			dotQ4_0R4VNNI(row, rowBytes, q, d, nb, o, n4)
		case v.wt == Q8_0:
			dotQ8_0R4AVX2(row, rowBytes, q, d, nb, o, n4)
		default:
			dotQ4_0R4AVX2(row, rowBytes, q, d, nb, o, n4)
		}
		out = out[4*n4:]
		r0 += 4 * n4
	}
	for i := r0; i < r1; i++ {
		row := unsafe.Pointer(&w[i*rowBytes])
		switch {
		case vnni && v.wt == Q8_0:
			out[i-r0] = dotQ8_0VNNI(row, q, d, nb)
		case vnni:
			out[i-r0] = dotQ4_0VNNI(row, q, d, nb)
		case v.wt == Q8_0:
			out[i-r0] = dotQ8_0AVX2(row, q, d, nb)
		default:
			out[i-r0] = dotQ4_0AVX2(row, q, d, nb)
		}
	}
	return true
}

// Accelerated reports whether the assembly kernels are in use.
func Accelerated() bool { return useAVX2 }

//go:noescape
func dotQ5_0AVX2(w, q, d unsafe.Pointer, nb int) float32

//go:noescape
func dotQ4_1AVX2(w, q, d, s unsafe.Pointer, nb int) float32

//go:noescape
func dotQ5_1AVX2(w, q, d, s unsafe.Pointer, nb int) float32

func dotQ4_1(row []byte, q []int8, d, sums []float32) float32 {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return dotQ4_1Go(row, q, d, sums)
	}
	_, _, _ = row[nb*blockQ4_1-1], q[nb*QK8_0-1], sums[nb-1]
	return dotQ4_1AVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), unsafe.Pointer(&sums[0]), nb)
}

func dotQ5_1(row []byte, q []int8, d, sums []float32) float32 {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return dotQ5_1Go(row, q, d, sums)
	}
	_, _, _ = row[nb*blockQ5_1-1], q[nb*QK8_0-1], sums[nb-1]
	return dotQ5_1AVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), unsafe.Pointer(&sums[0]), nb)
}

//go:noescape
func dotIQ4NLAVX2(w, q, d unsafe.Pointer, npairs int) float32

func dotIQ4NL(row []byte, q []int8, d []float32) float32 {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return dotIQ4NLGo(row, q, d)
	}
	_, _ = row[nb*blockIQ4NL-1], q[nb*QK8_0-1]
	var s float32
	if nb >= 2 {
		s = dotIQ4NLAVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), nb/2)
	}
	if b := nb - 1; nb%2 == 1 {
		s += dotIQ4NLGo(row[b*blockIQ4NL:], q[b*QK8_0:], d[b:])
	}
	return s
}

//go:noescape
func iq4xsRowAVX2(row, q8, d unsafe.Pointer, nb int) float32

// dotIQ4XS runs the whole row in assembly, in dotIQ4XSGo's order, so the
// results are identical.
func dotIQ4XS(row []byte, q []int8, d []float32) float32 {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return dotIQ4XSGo(row, q, d)
	}
	_, _ = row[nb*blockIQ4XS-1], q[nb*QK_K-1]
	return iq4xsRowAVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), nb)
}

//go:noescape
func q2kRowAVX2(row, q8, d, bsums unsafe.Pointer, nb int) float32

// dotQ2K and dotQ3K run the whole row in assembly, in the portable
// kernels' order, so the results are identical.
func dotQ2K(row []byte, q []int8, d []float32, bsums []int16) float32 {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return dotQ2KGo(row, q, d, bsums)
	}
	_, _, _ = row[nb*blockQ2_K-1], q[nb*QK_K-1], bsums[nb*16-1]
	return q2kRowAVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), unsafe.Pointer(&bsums[0]), nb)
}

//go:noescape
func q3kRowAVX2(row, q8, d unsafe.Pointer, nb int) float32

func dotQ3K(row []byte, q []int8, d []float32) float32 {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return dotQ3KGo(row, q, d)
	}
	_, _ = row[nb*blockQ3_K-1], q[nb*QK_K-1]
	return q3kRowAVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), nb)
}

//go:noescape
func dotBF16AVX2(w, x unsafe.Pointer, n int) float32

// dotBF16 runs the assembly over whole 32-value steps and adds the rest
// one product at a time in double precision, as ggml does.
func dotBF16(row []byte, x []float32) float32 {
	n := len(x)
	if !useAVX2 || n < 32 {
		return dotBF16Go(row, x)
	}
	_ = row[2*n-1]
	m := n &^ 31
	s := float64(dotBF16AVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&x[0]), m))
	for i := m; i < n; i++ {
		s += float64(BF16ToF32(le16(row[2*i:])) * x[i])
	}
	return float32(s)
}

func dotQ5_0(row []byte, q []int8, d []float32) float32 {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return dotQ5_0Go(row, q, d)
	}
	_, _ = row[nb*blockQ5_0-1], q[nb*QK8_0-1]
	return dotQ5_0AVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), nb)
}

//go:noescape
func q5kRowAVX2(row, q8, d, bsums unsafe.Pointer, nb int) float32

// dotQ5K runs the whole row in assembly, in dotQ5KGo's order, so the
// results are identical.
func dotQ5K(row []byte, q []int8, d []float32, bsums []int16) float32 {
	nb := len(d)
	if !useAVX2 || nb == 0 {
		return dotQ5KGo(row, q, d, bsums)
	}
	_, _, _ = row[nb*blockQ5_K-1], q[nb*QK_K-1], bsums[nb*16-1]
	return q5kRowAVX2(unsafe.Pointer(&row[0]), unsafe.Pointer(&q[0]), unsafe.Pointer(&d[0]), unsafe.Pointer(&bsums[0]), nb)
}

//go:noescape
func dotsF16x3(k unsafe.Pointer, stride int, x *[3]unsafe.Pointer, m, n int, out *[3]unsafe.Pointer)

//go:noescape
func axpysF16x3(dst *[3]unsafe.Pointer, src unsafe.Pointer, stride int, a *[3]unsafe.Pointer, n, m int)

// dotsF16x3Slices runs DotsF16Heads's three heads out[0], out[ostride] and
// out[2*ostride] (x[0], x[m], x[2*m]) in one pass over the keys and reports
// true, or reports false where the kernel does not apply (it keeps the
// second and third heads' accumulators in Y16-Y31: AVX-512); the caller has
// checked the bounds.
func dotsF16x3Slices(out []float32, ostride, n int, k []uint16, stride int, x []float32, m int) bool {
	if !useAVX512 || m%64 != 0 || m == 0 {
		return false
	}
	xs := [3]unsafe.Pointer{unsafe.Pointer(&x[0]), unsafe.Pointer(&x[m]), unsafe.Pointer(&x[2*m])}
	os := [3]unsafe.Pointer{unsafe.Pointer(&out[0]), unsafe.Pointer(&out[ostride]), unsafe.Pointer(&out[2*ostride])}
	dotsF16x3(unsafe.Pointer(&k[0]), 2*stride, &xs, m, n, &os)
	return true
}

// axpysF16x3Slices is dotsF16x3Slices for AxpysF16Heads.
func axpysF16x3Slices(dst []float32, m int, src []uint16, stride int, a []float32, astride, n int) bool {
	if !useAVX512 || m%64 != 0 {
		return false
	}
	ds := [3]unsafe.Pointer{unsafe.Pointer(&dst[0]), unsafe.Pointer(&dst[m]), unsafe.Pointer(&dst[2*m])}
	as := [3]unsafe.Pointer{unsafe.Pointer(&a[0]), unsafe.Pointer(&a[astride]), unsafe.Pointer(&a[2*astride])}
	axpysF16x3(&ds, unsafe.Pointer(&src[0]), 2*stride, &as, n, m)
	return true
}
