package quant

import (
	"fmt"
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

// TestDotsF16Heads checks the grouped-query attention kernels against
// DotsF16 and AxpysF16 one head at a time, bit for bit, for group sizes
// around the three heads the AVX-512 kernels take at once, head sizes
// they take and others, and scores rows longer than the positions.
func TestDotsF16Heads(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, hd := range []int{40, 64, 128} {
		for _, heads := range []int{1, 2, 3, 4, 6, 7} {
			for _, n := range []int{0, 1, 5, 33} {
				name := func() string { return fmt.Sprintf("hd %d heads %d n %d", hd, heads, n) }
				stride := 2*hd + 8
				k := make([]uint16, n*stride+hd)
				for i := range k {
					k[i] = F32ToF16(float32(r.NormFloat64() * math.Exp(4*r.Float64()-2)))
				}
				x := make([]float32, heads*hd)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				ostride := n + 3
				got := make([]float32, heads*ostride)
				DotsF16Heads(got, ostride, n, k[hd:], stride, x, hd, heads)
				want := make([]float32, n)
				for j := range heads {
					DotsF16(want, k[hd:], stride, x[j*hd:(j+1)*hd])
					for p := range n {
						if g := got[j*ostride+p]; math.Float32bits(g) != math.Float32bits(want[p]) {
							t.Fatalf("%s: head %d position %d: %g, DotsF16 %g", name(), j, p, g, want[p])
						}
					}
				}
				a := make([]float32, heads*ostride)
				for i := range a {
					a[i] = RoundF16(float32(r.Float64()))
				}
				dst := make([]float32, heads*hd)
				for i := range dst {
					dst[i] = float32(r.NormFloat64())
				}
				wantDst := append([]float32(nil), dst...)
				AxpysF16Heads(dst, hd, k[hd:], stride, a, ostride, n, heads)
				for j := range heads {
					AxpysF16(wantDst[j*hd:(j+1)*hd], k[hd:], stride, a[j*ostride:j*ostride+n])
				}
				for i := range dst {
					if math.Float32bits(dst[i]) != math.Float32bits(wantDst[i]) {
						t.Fatalf("%s: AxpysF16Heads[%d] = %g, AxpysF16 %g", name(), i, dst[i], wantDst[i])
					}
				}
			}
		}
	}
}

// BenchmarkDotsF16Heads times attention's scores and weighted sums for the
// three query heads of a KV head (SmolLM2-135M's grouping, head size 64)
// over 160 cached positions: one call per head against one call for the
// group.
func BenchmarkDotsF16Heads(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const hd, n, heads = 64, 160, 3
	stride := 3 * hd
	k := make([]uint16, n*stride)
	for i := range k {
		k[i] = F32ToF16(float32(r.NormFloat64()))
	}
	x := make([]float32, heads*hd)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	scores := make([]float32, heads*n)
	probs := make([]float32, heads*n) // the weights of the sums
	for i := range probs {
		probs[i] = RoundF16(float32(r.Float64()) / n)
	}
	dst := make([]float32, heads*hd)
	for _, c := range []struct {
		name string
		run  func()
	}{
		{"dots/per-head", func() {
			for j := range heads {
				DotsF16(scores[j*n:(j+1)*n], k, stride, x[j*hd:(j+1)*hd])
			}
		}},
		{"dots/grouped", func() { DotsF16Heads(scores, n, n, k, stride, x, hd, heads) }},
		{"axpys/per-head", func() {
			for j := range heads {
				AxpysF16(dst[j*hd:(j+1)*hd], k, stride, probs[j*n:(j+1)*n])
			}
		}},
		{"axpys/grouped", func() { AxpysF16Heads(dst, hd, k, stride, probs, n, n, heads) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.run()
			}
		})
	}
}
