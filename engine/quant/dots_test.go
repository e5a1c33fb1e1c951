package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDotsF16 checks the many-position attention kernels against DotF16
// and AxpyF16 one position at a time, bit for bit, for head sizes the
// assembly takes (multiples of 64) and others, with the rows strided in a
// cache of several heads.
func TestDotsF16(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, hd := range []int{8, 40, 64, 80, 128, 256} {
		for _, n := range []int{0, 1, 2, 7, 33} {
			stride := 3*hd + 8
			k := make([]uint16, n*stride+hd)
			for i := range k {
				k[i] = F32ToF16(float32(r.NormFloat64() * math.Exp(4*r.Float64()-2)))
			}
			x := make([]float32, hd)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			got := make([]float32, n)
			DotsF16(got, k[hd:], stride, x)
			for p := range n {
				if want := DotF16(k[hd+p*stride:hd+p*stride+hd], x); math.Float32bits(got[p]) != math.Float32bits(want) {
					t.Fatalf("hd %d n %d: DotsF16[%d] = %g, DotF16 %g", hd, n, p, got[p], want)
				}
			}
			a := make([]float32, n)
			for i := range a {
				a[i] = RoundF16(float32(r.Float64()))
			}
			want := make([]float32, hd)
			for i := range want {
				want[i] = float32(r.NormFloat64())
			}
			dst := append([]float32(nil), want...)
			for p, w := range a {
				AxpyF16(want, k[hd+p*stride:hd+p*stride+hd], w)
			}
			AxpysF16(dst, k[hd:], stride, a)
			for i := range dst {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
					t.Fatalf("hd %d n %d: AxpysF16[%d] = %g, AxpyF16 %g", hd, n, i, dst[i], want[i])
				}
			}
		}
	}
}
