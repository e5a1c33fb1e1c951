package llama

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestVectorMath checks the vector expf and SiLU against the scalar ones
// (which emulate float32 FMA in float64 and may differ by an ulp on a rare
// double rounding) and expf against math.Exp, over the whole range
// including underflow, overflow and the slow-path lanes.
func TestVectorMath(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	n := 4099
	src, g, u := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range src {
		src[i] = float32(r.Float64()*220 - 200) // exp(-200 .. 20): denormals and zeros too
		g[i] = float32(r.NormFloat64() * 30)
		u[i] = float32(r.NormFloat64())
	}
	src[5], g[9] = -1000, -1000
	dst := make([]float32, n)
	expSub(dst, src, 3)
	ulps := func(a, b float32) int64 {
		d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
		return max(d, -d)
	}
	for i, x := range src {
		if ulps(dst[i], expf(x-3)) > 1 {
			t.Fatalf("expSub[%d] of %g = %g, scalar %g", i, x-3, dst[i], expf(x-3))
		}
		want := math.Exp(float64(x - 3))
		if want > 1e-30 && math.Abs(float64(dst[i])-want) > 3e-7*want {
			t.Fatalf("expf(%g) = %g, math.Exp %g", x-3, dst[i], want)
		}
	}
	siluMul(dst, g, u)
	for i := range g {
		if want := silu(g[i]) * u[i]; ulps(dst[i], want) > 2 {
			t.Fatalf("siluMul[%d] of %g, %g = %g, scalar %g", i, g[i], u[i], dst[i], want)
		}
	}
}
