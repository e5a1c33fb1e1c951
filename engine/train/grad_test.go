package train

import (
	"fmt"
	"math"
	"testing"
)

// tinyConfig exercises every feature: several layers, grouped-query heads, a head width that
// is not the model width.
var tinyConfig = Config{Vocab: 37, Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, FFN: 64, Context: 7, NormEps: 1e-5, RopeBase: 10000}

// randomState has weights large enough that every gradient is far above float32 noise.
func randomState(t testing.TB, c Config, seed uint64) []float32 {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	params := make([]float32, c.NumParams())
	r := NewRNG(seed)
	for i := range params {
		params[i] = float32(r.Normal() * 0.3)
	}
	p := View(c, params)
	for _, l := range p.Layers {
		for i := range l.AttnNorm {
			l.AttnNorm[i] += 1
			l.FFNNorm[i] += 1
		}
	}
	for i := range p.OutNorm {
		p.OutNorm[i] += 1
	}
	return params
}

func randomTokens(c Config, n int, seed uint64) []int32 {
	r := NewRNG(seed)
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(r.Uint64() % uint64(c.Vocab))
	}
	return out
}

// lossAndGrad runs the trainer's pass on nseq sequences and returns the mean loss and its
// gradient.
func lossAndGrad(c Config, params []float32, seqs [][]int32) (float64, []float32) {
	T := len(seqs[0]) - 1
	p := newPass(c, len(seqs), T)
	targets := make([]int32, p.N)
	for i, s := range seqs {
		copy(p.tokens[i*T:], s[:T])
		copy(targets[i*T:], s[1:])
	}
	w := View(c, params)
	scale := float32(1 / float64(p.N))
	loss := p.forward(w, targets, scale)
	wt := newTransposed(c)
	wt.update(w, 0, 1)
	g := View(c, make([]float32, c.NumParams()))
	p.backward(w, g, wt)
	return loss / float64(p.N), g.Data
}

// TestGradientCheck compares the hand-written backward pass with central finite differences
// along a random direction inside each tensor in turn, so a wrong gradient in any one op (the
// embedding, each norm, each projection, attention through WQ/WK/WV, SwiGLU through the
// gate and up projections, the tied output) shows up in the tensors it feeds.
func TestGradientCheck(t *testing.T) {
	c := tinyConfig
	params := randomState(t, c, 1)
	seqs := [][]int32{randomTokens(c, c.Context+1, 2), randomTokens(c, c.Context+1, 3)}
	_, grad := lossAndGrad(c, params, seqs)
	v := View(c, params)
	tensors := map[string][]float32{"embed": v.Embed, "out_norm": v.OutNorm}
	for i, l := range v.Layers {
		for name, s := range map[string][]float32{"attn_norm": l.AttnNorm, "wq": l.WQ, "wk": l.WK, "wv": l.WV,
			"wo": l.WO, "ffn_norm": l.FFNNorm, "gate": l.Gate, "up": l.Up, "down": l.Down} {
			tensors[fmt.Sprintf("blk%d.%s", i, name)] = s
		}
	}
	base := &params[0]
	_ = base
	offset := func(s []float32) int {
		for i := range params {
			if &params[i] == &s[0] {
				return i
			}
		}
		t.Fatal("tensor not in params")
		return 0
	}
	r := NewRNG(4)
	for name, s := range tensors {
		off := offset(s)
		dir := make([]float64, len(s))
		var n float64
		for i := range dir {
			dir[i] = r.Normal()
			n += dir[i] * dir[i]
		}
		n = math.Sqrt(n)
		var analytic float64
		for i := range dir {
			dir[i] /= n
			analytic += dir[i] * float64(grad[off+i])
		}
		const eps = 1e-2
		lossAt := func(sign float64) float64 {
			p := append([]float32(nil), params...)
			for i := range dir {
				p[off+i] += float32(sign * eps * dir[i])
			}
			l, _ := lossAndGrad(c, p, seqs)
			return l
		}
		numeric := (lossAt(1) - lossAt(-1)) / (2 * eps)
		if diff := math.Abs(numeric - analytic); diff > 2e-3*math.Max(1, math.Abs(numeric))+1e-4 {
			t.Errorf("%s: directional derivative %.6g, backward pass %.6g", name, numeric, analytic)
		}
	}
}

// TestGradientElements checks single weights of each kind against finite differences.
func TestGradientElements(t *testing.T) {
	c := tinyConfig
	params := randomState(t, c, 5)
	seqs := [][]int32{randomTokens(c, c.Context+1, 6)}
	_, grad := lossAndGrad(c, params, seqs)
	r := NewRNG(7)
	for range 40 {
		i := int(r.Uint64() % uint64(len(params)))
		const eps = 1e-2
		p := append([]float32(nil), params...)
		p[i] = params[i] + eps
		lp, _ := lossAndGrad(c, p, seqs)
		p[i] = params[i] - eps
		lm, _ := lossAndGrad(c, p, seqs)
		numeric := (lp - lm) / (2 * eps)
		if diff := math.Abs(numeric - float64(grad[i])); diff > 1e-3*math.Max(1, math.Abs(numeric))+2e-4 {
			t.Errorf("param %d: numeric %.6g, backward %.6g", i, numeric, grad[i])
		}
	}
}

// TestMatmulT checks the tiled product against a plain triple loop, at sizes that hit the
// 4×4 kernel and every edge.
func TestMatmulT(t *testing.T) {
	r := NewRNG(9)
	for _, sz := range [][3]int{{1, 1, 1}, {4, 4, 16}, {7, 37, 32}, {9, 70, 48}, {5, 3, 7}, {64, 64, 256}} {
		m, n, k := sz[0], sz[1], sz[2]
		a, b := make([]float32, m*k), make([]float32, n*k)
		for i := range a {
			a[i] = float32(r.Normal())
		}
		for i := range b {
			b[i] = float32(r.Normal())
		}
		c := make([]float32, m*n)
		for i := range c {
			c[i] = 1
		}
		matmulT(c, a, b, m, n, k, true)
		for i := range m {
			for j := range n {
				var want float64 = 1
				for q := range k {
					want += float64(a[i*k+q]) * float64(b[j*k+q])
				}
				if math.Abs(float64(c[i*n+j])-want) > 1e-4*math.Sqrt(float64(k))+1e-5 {
					t.Fatalf("%v: c[%d][%d] = %g, want %g", sz, i, j, c[i*n+j], want)
				}
			}
		}
	}
}

func TestExpf(t *testing.T) {
	for x := float32(-87); x < 88; x += 0.0137 {
		want := math.Exp(float64(x))
		if got := float64(expf(x)); math.Abs(got-want) > 4e-7*want {
			t.Fatalf("expf(%g) = %g, want %g", x, got, want)
		}
	}
	if expf(-100) != 0 || !math.IsInf(float64(expf(100)), 1) {
		t.Error("expf does not saturate")
	}
}

// TestRMSNormGradient checks rmsNormBack against finite differences of Σ dy·rmsNorm(x, w).
func TestRMSNormGradient(t *testing.T) {
	const n, d = 3, 32
	r := NewRNG(12)
	x, w, dy := make([]float32, n*d), make([]float32, d), make([]float32, n*d)
	for i := range x {
		x[i], dy[i] = float32(r.Normal()), float32(r.Normal())
	}
	for i := range w {
		w[i] = 1 + 0.3*float32(r.Normal())
	}
	f := func() float64 {
		y, inv := make([]float32, n*d), make([]float32, n)
		rmsNorm(y, inv, x, w, n, d, 1e-5)
		var s float64
		for i := range y {
			s += float64(y[i] * dy[i])
		}
		return s
	}
	y, inv := make([]float32, n*d), make([]float32, n)
	rmsNorm(y, inv, x, w, n, d, 1e-5)
	dx, dw := make([]float32, n*d), make([]float32, d)
	rmsNormBack(dx, dw, dy, x, w, inv, n, d)
	const eps = 1e-2
	for _, tc := range []struct {
		name string
		v    []float32
		g    []float32
	}{{name: "x", v: x, g: dx}, {name: "w", v: w, g: dw}} {
		for _, i := range []int{0, 5, len(tc.v) - 1} {
			old := tc.v[i]
			tc.v[i] = old + eps
			lp := f()
			tc.v[i] = old - eps
			lm := f()
			tc.v[i] = old
			if num := (lp - lm) / (2 * eps); math.Abs(num-float64(tc.g[i])) > 2e-3*math.Max(1, math.Abs(num)) {
				t.Errorf("d/d%s[%d]: numeric %.5g, backward %.5g", tc.name, i, num, tc.g[i])
			}
		}
	}
}

// TestRopeInverse checks that the backward rotation undoes the forward one (a rotation's
// gradient is its transpose).
func TestRopeInverse(t *testing.T) {
	cos, sin := ropeTables(8, 8, 10000)
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8}
	y := append([]float32(nil), x...)
	rope(y, cos, sin, 5, 8, false)
	if y[0] == x[0] {
		t.Fatal("rope did not rotate")
	}
	rope(y, cos, sin, 5, 8, true)
	for i := range x {
		if math.Abs(float64(y[i]-x[i])) > 1e-5 {
			t.Fatalf("inverse rope: %v, want %v", y, x)
		}
	}
}
