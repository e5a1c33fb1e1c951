//go:build !amd64 || purego

package quant

const useAVX2 = false

const useVNNI = false

func dotF32(row []byte, x []float32) float32 { return dotF32Go(row, x) }

func dotF16(row []byte, x []float32) float32 { return dotF16Go(row, x) }

func dotQ8_0(row []byte, q []int8, d []float32, _ []int32) float32 { return dotQ8_0Go(row, q, d) }

func dotQ4_0(row []byte, q []int8, d []float32, _ []int32) float32 { return dotQ4_0Go(row, q, d) }

// DotF32 returns the dot product of a and b[:len(a)].
func DotF32(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func dot4(row []byte, vs *[4]*Vec, out *[4]float32) bool { return false }

// Axpy adds a*src[i] to dst[i] for every i in dst.
func Axpy(dst, src []float32, a float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += a * src[i]
	}
}

// AxpyF16 adds a times the half-precision src[i] to dst[i] for every i in dst.
func AxpyF16(dst []float32, src []uint16, a float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += a * f16Table[src[i]]
	}
}

// DotF16 returns the dot product of the half-precision h with x[:len(h)].
func DotF16(h []uint16, x []float32) float32 {
	x = x[:len(h)]
	var s float32
	for i, v := range h {
		s += f16Table[v] * x[i]
	}
	return s
}

func dotQ4K(row []byte, q []int8, d []float32, bsums []int16) float32 {
	return dotQ4KGo(row, q, d, bsums)
}

func dotQ6K(row []byte, q []int8, d []float32, _ []int16) float32 { return dotQ6KGo(row, q, d) }

// ToF16 converts src to halves in dst[:len(src)], rounding to nearest even.
func ToF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = F32ToF16(v)
	}
}

// RoundF16s rounds every value of x to half precision in place.
func RoundF16s(x []float32) {
	for i, v := range x {
		x[i] = RoundF16(v)
	}
}

// Dot4Rows sets out[k][i-r0] to the dot product of row i of w (rows of
// rowBytes bytes) with vs[k], for i in [r0, r1).
func Dot4Rows(w []byte, rowBytes, r0, r1 int, vs *[4]*Vec, out *[4][]float32) {
	var res [4]float32
	for i := r0; i < r1; i++ {
		Dot4(w[i*rowBytes:(i+1)*rowBytes], vs, &res)
		for k, r := range res {
			out[k][i-r0] = r
		}
	}
}

func quantRowQ8_0(x []float32, q []int8, d []float32, aux []int32, off int32) bool { return false }

func dotRows(v *Vec, w []byte, rowBytes, r0, r1 int, out []float32) bool { return false }

// disableQ4KRow mirrors the amd64 test switch; there is one path here.
var disableQ4KRow = false

// Accelerated reports whether the assembly kernels are in use.
func Accelerated() bool { return false }

func dotQ5_0(row []byte, q []int8, d []float32) float32 { return dotQ5_0Go(row, q, d) }

func dotQ5K(row []byte, q []int8, d []float32, bsums []int16) float32 {
	return dotQ5KGo(row, q, d, bsums)
}

func dotQ4_1(row []byte, q []int8, d, sums []float32) float32 { return dotQ4_1Go(row, q, d, sums) }

func dotQ5_1(row []byte, q []int8, d, sums []float32) float32 { return dotQ5_1Go(row, q, d, sums) }

func dotIQ4NL(row []byte, q []int8, d []float32) float32 { return dotIQ4NLGo(row, q, d) }

func dotIQ4XS(row []byte, q []int8, d []float32) float32 { return dotIQ4XSGo(row, q, d) }

func dotQ2K(row []byte, q []int8, d []float32, bsums []int16) float32 {
	return dotQ2KGo(row, q, d, bsums)
}

func dotQ3K(row []byte, q []int8, d []float32) float32 { return dotQ3KGo(row, q, d) }

func dotBF16(row []byte, x []float32) float32 { return dotBF16Go(row, x) }

// DotsF16 sets out[p] to DotF16(k[p*stride:p*stride+len(x)], x) for every
// p in out.
func DotsF16(out []float32, k []uint16, stride int, x []float32) { dotsF16Go(out, k, stride, x) }

// AxpysF16 adds a[p] times src[p*stride:p*stride+len(dst)] to dst for every
// p in a, in order.
func AxpysF16(dst []float32, src []uint16, stride int, a []float32) { axpysF16Go(dst, src, stride, a) }

func dotsF16x3Slices(out []float32, ostride, n int, k []uint16, stride int, x []float32, m int) bool {
	return false
}

func axpysF16x3Slices(dst []float32, m int, src []uint16, stride int, a []float32, astride, n int) bool {
	return false
}
