package train

import (
	"math"

	"github.com/chorus-ai/chorus/engine/quant"
)

// Every product in the forward and backward pass is written as C = A·Bᵀ over row-major
// operands (transposing the other operand first when needed), so one kernel built on the
// AVX2 dot product serves them all. Transposes cost one pass over a matrix; the products
// they enable cost a pass per output row.

// jBlock is how many rows of B stay hot in cache while every row of A streams past them.
const jBlock = 32

// matmulT sets (or, with acc, adds to) C[m][n] = A[m][k] · B[n][k]ᵀ.
func matmulT(c, a, b []float32, m, n, k int, acc bool) {
	_ = a[m*k-1]
	_ = b[n*k-1]
	_ = c[m*n-1]
	var tile [16]float32
	for j0 := 0; j0 < n; j0 += jBlock {
		j1 := min(j0+jBlock, n)
		i := 0
		// 4×4 tiles where the kernel applies; the edges go one dot product at a time.
		for ; i+4 <= m; i += 4 {
			j := j0
			for ; j+4 <= j1; j += 4 {
				if !dot4x4(a[i*k:(i+4)*k], b[j*k:(j+4)*k], k, &tile) {
					break
				}
				for r := range 4 {
					cr := c[(i+r)*n+j : (i+r)*n+j+4]
					if acc {
						for q := range 4 {
							cr[q] += tile[4*r+q]
						}
					} else {
						copy(cr, tile[4*r:4*r+4])
					}
				}
			}
			for r := i; r < i+4; r++ {
				dotRow(c[r*n:(r+1)*n], a[r*k:(r+1)*k], b, j, j1, k, acc)
			}
		}
		for ; i < m; i++ {
			dotRow(c[i*n:(i+1)*n], a[i*k:(i+1)*k], b, j0, j1, k, acc)
		}
	}
}

// dotRow sets or adds cr[j] = ar · b row j for j in [j0, j1).
func dotRow(cr, ar, b []float32, j0, j1, k int, acc bool) {
	if acc {
		for j := j0; j < j1; j++ {
			cr[j] += quant.DotF32(ar, b[j*k:(j+1)*k])
		}
	} else {
		for j := j0; j < j1; j++ {
			cr[j] = quant.DotF32(ar, b[j*k:(j+1)*k])
		}
	}
}

// transpose writes src[rows][cols] into dst[cols][rows], in tiles so both sides stay in cache.
func transpose(dst, src []float32, rows, cols int) {
	const t = 32
	_ = src[rows*cols-1]
	_ = dst[rows*cols-1]
	for r0 := 0; r0 < rows; r0 += t {
		r1 := min(r0+t, rows)
		for c0 := 0; c0 < cols; c0 += t {
			c1 := min(c0+t, cols)
			for r := r0; r < r1; r++ {
				for c := c0; c < c1; c++ {
					dst[c*rows+r] = src[r*cols+c]
				}
			}
		}
	}
}

// rmsNorm writes y = x / rms(x) · w for each of the n rows and keeps 1/rms for the backward
// pass. The sum of squares is in float64, like ggml's (and so the engine's).
func rmsNorm(y, inv, x, w []float32, n, d int, eps float32) {
	for t := range n {
		xr, yr := x[t*d:(t+1)*d], y[t*d:(t+1)*d]
		var ss float64
		for _, v := range xr {
			ss += float64(v * v)
		}
		s := 1 / float32(math.Sqrt(float64(float32(ss/float64(d))+eps)))
		inv[t] = s
		for i, v := range xr {
			yr[i] = (v * s) * w[i]
		}
	}
}

// rmsNormBack adds the gradient with respect to x to dx and to w to dw, given dy.
// With s = 1/rms: dx = s·(dy⊙w) − x·s³/d·Σ(dy⊙w⊙x).
func rmsNormBack(dx, dw, dy, x, w, inv []float32, n, d int) {
	for t := range n {
		xr, dyr, dxr := x[t*d:(t+1)*d], dy[t*d:(t+1)*d], dx[t*d:(t+1)*d]
		s := inv[t]
		var dot float32
		for i, g := range dyr {
			dot += g * w[i] * xr[i]
			dw[i] += g * xr[i] * s
		}
		k := dot * s * s * s / float32(d)
		for i, g := range dyr {
			dxr[i] += s*g*w[i] - k*xr[i]
		}
	}
}

// ropeTables returns cos and sin of position·base^(−2i/dim) for every position below n and
// pair i.
func ropeTables(n, dim int, base float64) (cos, sin []float32) {
	half := dim / 2
	cos, sin = make([]float32, n*half), make([]float32, n*half)
	for p := range n {
		for i := range half {
			th := float64(p) * math.Pow(base, -2*float64(i)/float64(dim))
			cos[p*half+i], sin[p*half+i] = float32(math.Cos(th)), float32(math.Sin(th))
		}
	}
	return cos, sin
}

// rope rotates adjacent pairs of every head of row x (at position pos) by the position's
// angles; inverse rotates by their negatives, which is the backward pass of a rotation.
func rope(x, cos, sin []float32, pos, hd int, inverse bool) {
	half := hd / 2
	cs, sn := cos[pos*half:(pos+1)*half], sin[pos*half:(pos+1)*half]
	for h := 0; h < len(x); h += hd {
		v := x[h : h+hd]
		for i := range half {
			c, s := cs[i], sn[i]
			if inverse {
				s = -s
			}
			x0, x1 := v[2*i], v[2*i+1]
			v[2*i] = x0*c - x1*s
			v[2*i+1] = x0*s + x1*c
		}
	}
}

func sigmoid(x float32) float32 { return 1 / (1 + float32(math.Exp(float64(-x)))) }

func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}
