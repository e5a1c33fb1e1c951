package llama

import (
	"math"
	"strconv"
	"testing"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/quant"
)

// naiveLlama is a plain float64 llama forward pass over an F32 file's
// weights, written from the architecture's definition rather than from
// llama.cpp's kernels: no half-precision cache, no batching, every
// position attending to the last window positions (all when window is 0).
type naiveLlama struct {
	cfg                 Config
	emb, outNorm        []float64
	attnNorm, ffnNorm   [][]float64
	wq, wk, wv, wo      [][]float64
	gate, up, down      [][]float64
	hd, qDim, kvDim, nv int
}

func loadNaive(t *testing.T, path string) *naiveLlama {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) []float64 {
		info, data, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, info.Elements())
		if err := quant.Dequantize(quant.Type(info.Type), data, x); err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = float64(v)
		}
		return out
	}
	n := &naiveLlama{cfg: cfg, hd: cfg.HeadDim, qDim: cfg.Heads * cfg.HeadDim, kvDim: cfg.KVHeads * cfg.HeadDim}
	n.emb, n.outNorm = get("token_embd.weight"), get("output_norm.weight")
	n.nv = len(n.emb) / cfg.Embedding
	for i := range cfg.Blocks {
		p := "blk." + strconv.Itoa(i) + "."
		n.attnNorm = append(n.attnNorm, get(p+"attn_norm.weight"))
		n.ffnNorm = append(n.ffnNorm, get(p+"ffn_norm.weight"))
		n.wq = append(n.wq, get(p+"attn_q.weight"))
		n.wk = append(n.wk, get(p+"attn_k.weight"))
		n.wv = append(n.wv, get(p+"attn_v.weight"))
		n.wo = append(n.wo, get(p+"attn_output.weight"))
		n.gate = append(n.gate, get(p+"ffn_gate.weight"))
		n.up = append(n.up, get(p+"ffn_up.weight"))
		n.down = append(n.down, get(p+"ffn_down.weight"))
	}
	return n
}

// matVec returns w·x for a row-major matrix of len(x)-wide rows.
func matVec(w, x []float64) []float64 {
	out := make([]float64, len(w)/len(x))
	for r := range out {
		var s float64
		for c, v := range x {
			s += w[r*len(x)+c] * v
		}
		out[r] = s
	}
	return out
}

func (n *naiveLlama) norm(x, w []float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	sc := 1 / math.Sqrt(ss/float64(len(x))+float64(n.cfg.NormEps))
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * sc * w[i]
	}
	return out
}

// rope rotates adjacent pairs of one head by pos·base^(-2i/d).
func (n *naiveLlama) rope(x []float64, pos int) {
	d := n.cfg.RopeDim
	for i := range d / 2 {
		th := float64(pos) * math.Pow(float64(n.cfg.RopeBase), -2*float64(i)/float64(d))
		c, s := math.Cos(th), math.Sin(th)
		x0, x1 := x[2*i], x[2*i+1]
		x[2*i], x[2*i+1] = x0*c-x1*s, x0*s+x1*c
	}
}

// logits returns the logits after every token.
func (n *naiveLlama) logits(tokens []int32, window int) [][]float64 {
	c := n.cfg
	xs := make([][]float64, len(tokens))
	for t, tok := range tokens {
		xs[t] = append([]float64(nil), n.emb[int(tok)*c.Embedding:(int(tok)+1)*c.Embedding]...)
	}
	for l := range c.Blocks {
		ks, vs := make([][]float64, len(tokens)), make([][]float64, len(tokens))
		qs := make([][]float64, len(tokens))
		for t := range tokens {
			h := n.norm(xs[t], n.attnNorm[l])
			qs[t], ks[t], vs[t] = matVec(n.wq[l], h), matVec(n.wk[l], h), matVec(n.wv[l], h)
			for hh := range c.Heads {
				n.rope(qs[t][hh*n.hd:(hh+1)*n.hd], t)
			}
			for hh := range c.KVHeads {
				n.rope(ks[t][hh*n.hd:(hh+1)*n.hd], t)
			}
		}
		for t := range tokens {
			att := make([]float64, n.qDim)
			lo := 0
			if window > 0 {
				lo = max(0, t-window+1)
			}
			for hh := range c.Heads {
				kvh := hh / (c.Heads / c.KVHeads)
				q := qs[t][hh*n.hd : (hh+1)*n.hd]
				sc := make([]float64, t+1-lo)
				mx := math.Inf(-1)
				for p := lo; p <= t; p++ {
					var d float64
					for i, v := range q {
						d += v * ks[p][kvh*n.hd+i]
					}
					sc[p-lo] = d / math.Sqrt(float64(n.hd))
					mx = max(mx, sc[p-lo])
				}
				var sum float64
				for i := range sc {
					sc[i] = math.Exp(sc[i] - mx)
					sum += sc[i]
				}
				for p := lo; p <= t; p++ {
					for i := range n.hd {
						att[hh*n.hd+i] += sc[p-lo] / sum * vs[p][kvh*n.hd+i]
					}
				}
			}
			o := matVec(n.wo[l], att)
			for i := range o {
				xs[t][i] += o[i]
			}
			h := n.norm(xs[t], n.ffnNorm[l])
			g, u := matVec(n.gate[l], h), matVec(n.up[l], h)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			d := matVec(n.down[l], g)
			for i := range d {
				xs[t][i] += d[i]
			}
		}
	}
	out := make([][]float64, len(tokens))
	for t := range tokens {
		out[t] = matVec(n.emb, n.norm(xs[t], n.outNorm))
	}
	return out
}

// relDiff is the largest |a-b| over the range of b.
func relDiff(a []float32, b []float64) float64 {
	lo, hi, d := b[0], b[0], 0.0
	for i, v := range b {
		lo, hi = min(lo, v), max(hi, v)
		d = max(d, math.Abs(float64(a[i])-v))
	}
	return d / (hi - lo)
}

// TestSlidingWindowLlama checks llama.attention.sliding_window (Mistral's
// window on the llama architecture), which llama.cpp does not read, against
// the naive forward pass: the engine's logits with a window of 4 agree with
// the naive pass with that window, on one prompt batch and token by token
// and in a Batch, and differ clearly from the naive pass without one (so
// the window is in effect and the comparison can tell).
func TestSlidingWindowLlama(t *testing.T) {
	const window = 4
	sp := tinySpec(quant.F32, false)
	sp.Name, sp.SlidingWindow = "tiny-llama-swa-F32", window
	path, _ := buildFile(t, sp, t.TempDir())
	m, done := loadModel(t, path)
	defer done()
	if c := m.Config(); c.SlidingWindow != window || !c.Windowed(0) || !c.Windowed(c.Blocks-1) {
		t.Fatalf("config: window %d, layer 0 windowed %v", c.SlidingWindow, c.Windowed(0))
	}
	naive := loadNaive(t, path)
	prompt := append(append([]int32(nil), refPrompt...), refPrompt[1:]...) // 25 tokens
	want, full := naive.logits(prompt, window), naive.logits(prompt, 0)
	vocab := m.Config().Vocab

	s := m.NewSession(64)
	defer s.Close()
	all, err := s.DecodeAll(prompt)
	if err != nil {
		t.Fatal(err)
	}
	one := m.NewSession(64)
	defer one.Close()
	b := m.NewBatch()
	defer b.Close()
	bs := m.NewSession(64)
	defer bs.Close()
	var worst, apart float64
	for p := range prompt {
		l, err := one.Decode(prompt[p : p+1])
		if err != nil {
			t.Fatal(err)
		}
		bl, err := b.Step([]BatchSeq{{Session: bs, Tokens: prompt[p : p+1], Logits: true}})
		if err != nil {
			t.Fatal(err)
		}
		for name, got := range map[string][]float32{"prompt batch": all[p*vocab : (p+1)*vocab], "one token": l, "Batch": bl} {
			d := relDiff(got, want[p])
			worst = max(worst, d)
			if d > 5e-3 {
				t.Errorf("%s, position %d: logits differ from the naive pass by %.2e of the range", name, p, d)
			}
		}
		apart = max(apart, relDiff(all[p*vocab:(p+1)*vocab], full[p]))
	}
	t.Logf("window %d: max difference from the naive pass %.2e of the range; from the naive pass without a window %.2e", window, worst, apart)
	if apart < 10*max(worst, 1e-3) {
		t.Errorf("logits with and without the window differ by only %.2e of the range", apart)
	}
}
