package quant

import "math"

// f16Table maps every IEEE half to its float32 value; a table lookup beats
// bit twiddling in the scalar kernels and costs 256 KiB once.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = f16ToF32Slow(uint16(i))
	}
	return &t
}()

func f16ToF32Slow(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: renormalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// F16ToF32 converts an IEEE half (as its bits) to float32.
func F16ToF32(h uint16) float32 { return f16Table[h] }

// F32ToF16 converts to the nearest IEEE half, ties to even, as F16C's
// vcvtps2ph does (which is what ggml uses on x86).
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff { // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is the right result
	}
	return sign | uint16(r)
}

// RoundF16 rounds f to half precision and back, the precision ggml keeps in
// an F16 tensor such as the KV cache.
func RoundF16(f float32) float32 { return f16Table[F32ToF16(f)] }

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }

func put16(b []byte, v uint16) { b[0] = byte(v); b[1] = byte(v >> 8) }

// dotsF16Go is DotsF16 one position at a time.
func dotsF16Go(out []float32, k []uint16, stride int, x []float32) {
	for p := range out {
		out[p] = DotF16(k[p*stride:p*stride+len(x)], x)
	}
}

// axpysF16Go is AxpysF16 one position at a time.
func axpysF16Go(dst []float32, src []uint16, stride int, a []float32) {
	for p, w := range a {
		AxpyF16(dst, src[p*stride:p*stride+len(dst)], w)
	}
}

// DotsF16Heads is DotsF16 for several queries against the same keys, as the
// query heads of grouped-query attention that share a KV head have them:
// for j < heads, DotsF16(out[j*ostride:j*ostride+n], k, stride,
// x[j*m:(j+1)*m]), bit for bit. With AVX-512 three heads at a time convert
// each key once.
func DotsF16Heads(out []float32, ostride, n int, k []uint16, stride int, x []float32, m, heads int) {
	if n <= 0 || heads <= 0 {
		return
	}
	_ = out[(heads-1)*ostride+n-1]
	_ = x[heads*m-1]
	_ = k[(n-1)*stride+m-1]
	j := 0
	for ; j+3 <= heads && dotsF16x3Slices(out[j*ostride:], ostride, n, k, stride, x[j*m:], m); j += 3 {
	}
	for ; j < heads; j++ {
		DotsF16(out[j*ostride:j*ostride+n], k, stride, x[j*m:(j+1)*m])
	}
}

// AxpysF16Heads is AxpysF16 for several heads' weights over the same
// values: for j < heads, AxpysF16(dst[j*m:(j+1)*m], src, stride,
// a[j*astride:j*astride+n]), bit for bit, three heads at a time with
// AVX-512 (see DotsF16Heads).
func AxpysF16Heads(dst []float32, m int, src []uint16, stride int, a []float32, astride, n, heads int) {
	if n <= 0 || m <= 0 || heads <= 0 {
		return
	}
	_ = dst[heads*m-1]
	_ = a[(heads-1)*astride+n-1]
	_ = src[(n-1)*stride+m-1]
	j := 0
	for ; j+3 <= heads && axpysF16x3Slices(dst[j*m:], m, src, stride, a[j*astride:], astride, n); j += 3 {
	}
	for ; j < heads; j++ {
		AxpysF16(dst[j*m:(j+1)*m], src, stride, a[j*astride:j*astride+n])
	}
}
