package quant

import (
	"fmt"
	"math"
)

// Vec is an activation vector converted once into the form that one weight
// type's dot kernel reads, as ggml does: Q8_0 for Q8_0/Q4_0 weights, Q8_K for
// the K-quants, Q8_1 (Q8_0 plus each block's d*Σq) for Q4_1/Q5_1, half
// precision (kept as float32) for F16, bfloat16 for BF16 and plain float32
// for F32. Preparing once per vector and then running integer dot products
// per block is both the fast path and what keeps results close to llama.cpp.
// The zero value is ready to use; buffers are reused between Prepare calls.
type Vec struct {
	wt    Type // weight type the vector was prepared for
	n     int
	f     []float32
	q     []int8
	d     []float32
	sums  []float32 // Q8_1: per block d*Σq, as a half
	bsums []int16
	// aux holds, per Q8_0 block, each 4-quant lane's sum times minus the
	// weight type's unsigned offset (words 0-7), the scale's bits (word 8)
	// and the lanes' total (word 9, for the packed rows' kernels) in
	// auxWords words, for the VNNI kernels; empty when they are not in use.
	aux []int32
}

const auxWords = 16

// Len is the number of values the vector holds.
func (v *Vec) Len() int { return v.n }

// WeightType is the weight type the vector was prepared for.
func (v *Vec) WeightType() Type { return v.wt }

// Prepare converts x for dot products with rows of weight type wt.
func (v *Vec) Prepare(wt Type, x []float32) error {
	n := len(x)
	if _, err := wt.RowBytes(n); err != nil {
		return err
	}
	v.wt, v.n = wt, n
	switch wt {
	case F32:
		v.f = grow(v.f, n)
		copy(v.f, x)
	case F16:
		v.f = grow(v.f, n)
		copy(v.f, x)
		RoundF16s(v.f[:n])
	case BF16:
		v.f = grow(v.f, n)
		for i, x := range x {
			v.f[i] = BF16ToF32(F32ToBF16(x))
		}
	case Q4_1, Q5_1:
		v.q = grow(v.q, n)
		v.d = grow(v.d, n/QK8_0)
		v.sums = grow(v.sums, n/QK8_0)
		for b := range n / QK8_0 {
			v.d[b], v.sums[b] = quantActQ8_1(x[b*QK8_0:(b+1)*QK8_0], v.q[b*QK8_0:])
		}
	case Q8_0, Q4_0, IQ4_NL, Q5_0:
		v.q = grow(v.q, n)
		v.d = grow(v.d, n/QK8_0)
		v.aux = v.aux[:0]
		// The weights' unsigned offset in the VNNI and packed kernels: 128
		// for Q8_0 and IQ4_NL (whose levels the packed kernels look up plus
		// 128), 8 for Q4_0, 16 for Q5_0.
		off := packOffset(wt)
		var aux []int32
		if useVNNI && !disableVNNI {
			v.aux = grow(v.aux, n/QK8_0*auxWords)
			aux = v.aux
		}
		if quantRowQ8_0(x, v.q, v.d, aux, off) {
			break
		}
		for b := range n / QK8_0 {
			v.d[b] = quantActQ8_0(x[b*QK8_0:(b+1)*QK8_0], v.q[b*QK8_0:])
		}
		for b := range len(aux) / auxWords {
			a := aux[b*auxWords : (b+1)*auxWords]
			q := v.q[b*QK8_0:]
			for l := range 8 {
				a[l] = -off * (int32(q[4*l]) + int32(q[4*l+1]) + int32(q[4*l+2]) + int32(q[4*l+3]))
			}
			a[8] = int32(math.Float32bits(v.d[b]))
			a[9] = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7]
		}
	case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS:
		v.q = grow(v.q, n)
		v.d = grow(v.d, n/QK_K)
		v.bsums = grow(v.bsums, n/16)
		for b := range n / QK_K {
			v.d[b] = quantActQ8K(x[b*QK_K:(b+1)*QK_K], v.q[b*QK_K:], v.bsums[b*16:])
		}
	default:
		return fmt.Errorf("%w: %v", ErrUnsupported, wt)
	}
	return nil
}

// disableVNNI lets the tests run the AVX2 kernels on a VNNI machine.
var disableVNNI = false

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// quantActQ8_0 is ggml's x86 quantize_row_q8_0: scale 127/amax and round
// half to even (not the reference's roundf), scale stored as a half.
func quantActQ8_0(x []float32, q []int8) float32 {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := RoundF16(amax / 127)
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	for j, v := range x {
		q[j] = int8(math.RoundToEven(float64(v * id)))
	}
	return d
}

// quantActQ8K is ggml's quantize_row_q8_K_ref.
func quantActQ8K(x []float32, q []int8, bsums []int16) float32 {
	var amax, mx float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	if amax == 0 {
		clear(q[:QK_K])
		clear(bsums[:16])
		return 0
	}
	iscale := -127 / mx
	for j, v := range x {
		q[j] = int8(min(127, nearestInt(iscale*v)))
	}
	for j := range 16 {
		var s int16
		for _, v := range q[16*j : 16*j+16] {
			s += int16(v)
		}
		bsums[j] = s
	}
	return 1 / iscale
}

// Dot returns the dot product of one encoded row of v's weight type with v.
// The row must hold at least v.Len() values.
func (v *Vec) Dot(row []byte) float32 {
	switch v.wt {
	case F32:
		return dotF32(row, v.f)
	case F16:
		return dotF16(row, v.f)
	case Q8_0:
		return dotQ8_0(row, v.q, v.d, v.aux)
	case Q4_0:
		return dotQ4_0(row, v.q, v.d, v.aux)
	case Q4_K:
		return dotQ4K(row, v.q, v.d, v.bsums)
	case Q6_K:
		return dotQ6K(row, v.q, v.d, v.bsums)
	case BF16:
		return dotBF16(row, v.f)
	case Q4_1:
		return dotQ4_1(row, v.q, v.d, v.sums)
	case Q5_0:
		return dotQ5_0(row, v.q, v.d)
	case Q5_1:
		return dotQ5_1(row, v.q, v.d, v.sums)
	case Q2_K:
		return dotQ2K(row, v.q, v.d, v.bsums)
	case Q3_K:
		return dotQ3K(row, v.q, v.d)
	case Q5_K:
		return dotQ5K(row, v.q, v.d, v.bsums)
	case IQ4_NL:
		return dotIQ4NL(row, v.q, v.d)
	case IQ4_XS:
		return dotIQ4XS(row, v.q, v.d)
	}
	panic("quant: Dot on an unprepared Vec")
}

// Dot4 sets out[i] to the dot product of row with vs[i]; all four vectors
// must be prepared for the same weight type and length. For a batch it is
// faster than four Dot calls (each weight block is decoded once). For the
// quantized types the results are bit-identical to Dot's; for F32 and F16
// they are summed in llama.cpp's batch order, which differs from its (and
// Dot's) single-vector order in the last bits.
func Dot4(row []byte, vs *[4]*Vec, out *[4]float32) {
	if dot4(row, vs, out) {
		return
	}
	for i, v := range vs {
		out[i] = v.Dot(row)
	}
}

// MatVec sets dst[i] to the dot product of row i of w (rows of rowBytes
// bytes, consecutive) with v, for i in [0, len(dst)).
func (v *Vec) MatVec(w []byte, rowBytes int, dst []float32) {
	for i := range dst {
		dst[i] = v.Dot(w[i*rowBytes : (i+1)*rowBytes])
	}
}

// DotRows sets out[i-r0] to the dot product of row i of w (rows of
// rowBytes bytes) with v, for i in [r0, r1): Dot over a run of rows,
// dispatching once.
func (v *Vec) DotRows(w []byte, rowBytes, r0, r1 int, out []float32) {
	if r0 >= r1 {
		return
	}
	out = out[:r1-r0]
	_ = w[r1*rowBytes-1]
	if dotRows(v, w, rowBytes, r0, r1, out) {
		return
	}
	for i := r0; i < r1; i++ {
		out[i-r0] = v.Dot(w[i*rowBytes : (i+1)*rowBytes])
	}
}
