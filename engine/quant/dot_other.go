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
