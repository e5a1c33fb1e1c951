package llama

import (
	"math"
	"sync"

	"github.com/chorus-ai/chorus/engine/quant"
)

// fma32 is a float32 fused multiply-add (the product is exact in float64;
// the sum is rounded twice, which differs from one rounding only on rare
// exact ties).
func fma32(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }

// expf is ggml's vectorised ggml_v_expf (a polynomial from Arm's optimized
// routines, within 1.5 ulp). llama.cpp's softmax and SiLU use it, and
// matching it operation for operation keeps our probabilities, which are
// rounded to half precision, from landing on the other side of a rounding
// boundary.
func expf(x float32) float32 {
	const r = 0x1.8p23
	z := fma32(x, 0x1.715476p+0, r)
	n := z - r
	b := fma32(-n, 0x1.7f7d1cp-20, fma32(-n, 0x1.62e4p-1, x))
	if n > 192 || n < -192 || n != n {
		if n <= 0 {
			return 0
		}
		return float32(math.Inf(1))
	}
	u := b * b
	j := fma32(fma32(fma32(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, fma32(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u,
		fma32(0x1.ffffecp-1, b, 1))
	if n >= -126 && n <= 127 {
		// j * 2^n with 2^n built from its bits: exact as vscalefps is,
		// since j is near 1 and the product stays normal.
		p := j * math.Float32frombits(uint32(int32(n)+127)<<23)
		if p >= 0x1p-126 || j == 0 {
			return p
		}
	}
	return float32(math.Ldexp(float64(j), int(n)))
}

func silu(x float32) float32 { return x / (1 + expf(-x)) }

// sum16 adds 16 floats in the order of _mm512_reduce_add_ps: halves, then
// quarters, then lanes (0+2)+(1+3).
func sum16(v *[16]float32) float32 {
	var t [8]float32
	for i := range 8 {
		t[i] = v[i+8] + v[i]
	}
	var q [4]float32
	for i := range 4 {
		q[i] = t[i+4] + t[i]
	}
	return (q[0] + q[2]) + (q[1] + q[3])
}

// ggml's GELU constants.
const (
	geluCoefA    = float32(0.044715)
	sqrt2OverPi  = float32(0.79788456080286535587989211986876)
	geluTableLen = 1 << 16
)

// geluF32 is ggml_gelu_f32, the tanh approximation, in float32.
func geluF32(x float32) float32 {
	t := float32(math.Tanh(float64(float32(sqrt2OverPi*x) * float32(1+float32(geluCoefA*x)*x))))
	return float32(float32(0.5*x) * float32(1+t))
}

var (
	geluOnce  sync.Once
	geluTable []float32 // by half-precision bits: half(gelu(x)) as float32
)

// geluMul sets dst[i] = gelu(g[i]) * u[i] as ggml's geglu does on the CPU:
// gelu looked up in a table of half-precision inputs and outputs, the
// identity above 10 and zero below -10.
func geluMul(dst, g, u []float32) {
	geluOnce.Do(func() {
		geluTable = make([]float32, geluTableLen)
		for h := range geluTable {
			geluTable[h] = quant.RoundF16(geluF32(quant.F16ToF32(uint16(h))))
		}
	})
	u = u[:len(g)]
	dst = dst[:len(g)]
	for i, x := range g {
		switch {
		case x <= -10:
			dst[i] = 0
		case x >= 10:
			dst[i] = x * u[i]
		default:
			dst[i] = geluTable[quant.F32ToF16(x)] * u[i]
		}
	}
}

// softCap is cap·tanh(x/cap), as ggml's scale, tanh, scale.
func softCap(x []float32, cap float32) {
	inv := 1 / cap
	for i, v := range x {
		x[i] = float32(math.Tanh(float64(v*inv))) * cap
	}
}
