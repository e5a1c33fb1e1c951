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
func matmulT(c, a, b []float32, m, n, k int, acc bool) { matmulTS(c, a, b, m, n, k, k, k, acc) }

// matmulTS is matmulT over operands whose rows are lda and ldb floats apart. Transposed
// activations use a padded stride: rows exactly 4 KiB apart all fall in the same cache set,
// which made transposing into them ten times slower.
func matmulTS(c, a, b []float32, m, n, k, lda, ldb int, acc bool) {
	_ = a[(m-1)*lda+k-1]
	_ = b[(n-1)*ldb+k-1]
	_ = c[m*n-1]
	var tile [16]float32
	for j0 := 0; j0 < n; j0 += jBlock {
		j1 := min(j0+jBlock, n)
		i := 0
		// 4×4 tiles where the kernel applies; the edges go one dot product at a time.
		for ; i+4 <= m; i += 4 {
			j := j0
			for ; j+4 <= j1; j += 4 {
				if !dot4x4(a[i*lda:], lda, b[j*ldb:], ldb, k, &tile) {
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
				dotRow(c[r*n:(r+1)*n], a[r*lda:r*lda+k], b, j, j1, k, ldb, acc)
			}
		}
		for ; i < m; i++ {
			dotRow(c[i*n:(i+1)*n], a[i*lda:i*lda+k], b, j0, j1, k, ldb, acc)
		}
	}
}

// dotRow sets or adds cr[j] = ar · b row j for j in [j0, j1).
func dotRow(cr, ar, b []float32, j0, j1, k, ldb int, acc bool) {
	if acc {
		for j := j0; j < j1; j++ {
			cr[j] += quant.DotF32(ar, b[j*ldb:j*ldb+k])
		}
	} else {
		for j := j0; j < j1; j++ {
			cr[j] = quant.DotF32(ar, b[j*ldb:j*ldb+k])
		}
	}
}

// transpose writes src[rows][cols] into dst[cols][rows].
func transpose(dst, src []float32, rows, cols int) { transposeS(dst, src, rows, cols, rows) }

// transposeS writes src[rows][cols] into dst, whose rows are ldd floats apart, in tiles so
// both sides stay in cache.
func transposeS(dst, src []float32, rows, cols, ldd int) {
	const t = 16
	_ = src[rows*cols-1]
	_ = dst[(cols-1)*ldd+rows-1]
	for r0 := 0; r0 < rows; r0 += t {
		r1 := min(r0+t, rows)
		for c0 := 0; c0 < cols; c0 += t {
			c1 := min(c0+t, cols)
			for r := r0; r < r1; r++ {
				row := src[r*cols+c0 : r*cols+c1]
				for i, v := range row {
					dst[(c0+i)*ldd+r] = v
				}
			}
		}
	}
}

// padded is the row stride for a transposed matrix whose rows hold n values: n rounded up
// to whole cache lines plus one line, so that consecutive rows never sit 4 KiB apart.
func padded(n int) int { return (n+15)/16*16 + 16 }

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

func sigmoid(x float32) float32 { return 1 / (1 + expf(-x)) }

// expf is a float32 exp within a few ulp (Cody-Waite reduction to [-ln2/2, ln2/2], a degree-6
// polynomial, then scaling by 2^n), several times cheaper than math.Exp on float64. Softmax
// over the vocabulary calls it for every logit of every token.
func expf(x float32) float32 {
	switch {
	case x > 88.7:
		return float32(math.Inf(1))
	case x < -87.3:
		return 0
	case x != x:
		return x
	}
	n := float32(math.Round(float64(x * 1.442695040888963)))
	r := x - n*0.693145751953125 - n*1.428606765330187e-06
	p := 1 + r*(1+r*(0.5+r*(0.16666667+r*(0.041666668+r*(0.008333334+r*0.0013888889)))))
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}
