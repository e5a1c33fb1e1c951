package train

import (
	"math"
)

// layerActs are one layer's activations kept for the backward pass (nseq·T rows each).
type layerActs struct {
	xin, inv1, xn1 []float32 // residual input, 1/rms, normalised input
	q, k, v        []float32 // after RoPE
	p              []float32 // attention probabilities [seq][head][T][T]
	att            []float32 // attention output before WO
	xmid, inv2     []float32
	xn2, g, u, h   []float32
}

// transposed holds the weights transposed once per step for the backward products; the
// workers share it read-only.
type transposed struct {
	embed  []float32 // [Dim][Vocab], rows padded(Vocab) apart
	layers []struct{ wq, wk, wv, wo, gate, up, down []float32 }
}

func newTransposed(c Config) *transposed {
	qd, kd := c.Heads*c.HeadDim(), c.KVHeads*c.HeadDim()
	t := &transposed{embed: make([]float32, padded(c.Vocab)*c.Dim)}
	t.layers = make([]struct{ wq, wk, wv, wo, gate, up, down []float32 }, c.Layers)
	for i := range t.layers {
		l := &t.layers[i]
		l.wq, l.wk, l.wv, l.wo = make([]float32, qd*c.Dim), make([]float32, kd*c.Dim), make([]float32, kd*c.Dim), make([]float32, c.Dim*qd)
		l.gate, l.up, l.down = make([]float32, c.FFN*c.Dim), make([]float32, c.FFN*c.Dim), make([]float32, c.FFN*c.Dim)
	}
	return t
}

// update transposes p's matrices; part and parts split the work between goroutines.
func (t *transposed) update(p *Params, part, parts int) {
	c := p.Cfg
	qd, kd := c.Heads*c.HeadDim(), c.KVHeads*c.HeadDim()
	jobs := []func(){func() { transposeS(t.embed, p.Embed, c.Vocab, c.Dim, padded(c.Vocab)) }}
	for i := range t.layers {
		l, w := &t.layers[i], &p.Layers[i]
		jobs = append(jobs,
			func() {
				transpose(l.wq, w.WQ, qd, c.Dim)
				transpose(l.wk, w.WK, kd, c.Dim)
				transpose(l.wv, w.WV, kd, c.Dim)
				transpose(l.wo, w.WO, c.Dim, qd)
			},
			func() {
				transpose(l.gate, w.Gate, c.FFN, c.Dim)
				transpose(l.up, w.Up, c.FFN, c.Dim)
				transpose(l.down, w.Down, c.Dim, c.FFN)
			})
	}
	for i := part; i < len(jobs); i += parts {
		jobs[i]()
	}
}

// pass runs the forward and backward pass of nseq sequences of T tokens on one goroutine.
type pass struct {
	cfg        Config
	nseq, T, N int
	cos, sin   []float32

	tokens  []int32
	x0      []float32
	acts    []layerActs
	xL, xf  []float32
	invF    []float32
	logits  []float32 // becomes the gradient of the loss with respect to the logits
	rowLoss []float64

	// backward scratch
	dx, dxn, dh, dg, du, datt, dq, dk, dv []float32
	tA, tB, tBig                          []float32
	// per-head attention scratch
	qh, kh, vh, oh, sc, sc2, hT, hT2, dkh, dvh []float32
}

func newPass(c Config, nseq, T int) *pass {
	hd := c.HeadDim()
	qd, kd := c.Heads*hd, c.KVHeads*hd
	N := nseq * T
	f := func(n int) []float32 { return make([]float32, n) }
	p := &pass{cfg: c, nseq: nseq, T: T, N: N, tokens: make([]int32, N)}
	p.cos, p.sin = ropeTables(T, hd, c.RopeBase)
	p.x0 = f(N * c.Dim)
	p.acts = make([]layerActs, c.Layers)
	for i := range p.acts {
		a := &p.acts[i]
		a.xin, a.inv1, a.xn1 = f(N*c.Dim), f(N), f(N*c.Dim)
		a.q, a.k, a.v = f(N*qd), f(N*kd), f(N*kd)
		a.p = f(nseq * c.Heads * T * T)
		a.att, a.xmid, a.inv2, a.xn2 = f(N*qd), f(N*c.Dim), f(N), f(N*c.Dim)
		a.g, a.u, a.h = f(N*c.FFN), f(N*c.FFN), f(N*c.FFN)
	}
	p.xL, p.xf, p.invF = f(N*c.Dim), f(N*c.Dim), f(N)
	p.logits = f(N * c.Vocab)
	p.rowLoss = make([]float64, N)
	wide := max(c.Dim, c.FFN, qd)
	p.dx, p.dxn, p.datt = f(N*c.Dim), f(N*c.Dim), f(N*qd)
	p.dh, p.dg, p.du = f(N*c.FFN), f(N*c.FFN), f(N*c.FFN)
	p.dq, p.dk, p.dv = f(N*qd), f(N*kd), f(N*kd)
	p.tA, p.tB = f(padded(N)*wide), f(padded(N)*wide)
	p.tBig = f(padded(N) * c.Vocab)
	p.qh, p.kh, p.vh, p.oh = f(T*hd), f(T*hd), f(T*hd), f(T*hd)
	p.sc, p.sc2 = f(T*T), f(T*T)
	p.hT, p.hT2 = f(T*hd), f(T*hd)
	p.dkh, p.dvh = f(T*hd), f(T*hd)
	return p
}

// gather copies head h's columns (width hd, row stride) of rows [r0, r0+T) into dst [T][hd].
func gather(dst, src []float32, r0, T, stride, h, hd int) {
	for t := range T {
		copy(dst[t*hd:(t+1)*hd], src[(r0+t)*stride+h*hd:])
	}
}

func scatter(dst, src []float32, r0, T, stride, h, hd int) {
	for t := range T {
		copy(dst[(r0+t)*stride+h*hd:(r0+t)*stride+(h+1)*hd], src[t*hd:(t+1)*hd])
	}
}

func scatterAdd(dst, src []float32, r0, T, stride, h, hd int) {
	for t := range T {
		addTo(dst[(r0+t)*stride+h*hd:(r0+t)*stride+(h+1)*hd], src[t*hd:(t+1)*hd])
	}
}

// forward computes the logits of p.tokens. With targets it returns the summed cross-entropy
// and leaves in p.logits its gradient scaled by scale (1/tokens in the whole batch). Negative
// targets are masked: they add no loss and no gradient.
func (p *pass) forward(w *Params, targets []int32, scale float32) float64 {
	c := p.cfg
	p.forwardHidden(w)
	matmulT(p.logits, p.xf, w.Embed, p.N, c.Vocab, c.Dim, false)
	if targets == nil {
		return 0
	}
	var loss float64
	V := c.Vocab
	for t := range p.N {
		row := p.logits[t*V : (t+1)*V]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		tg := int(targets[t])
		if tg < 0 { // a masked target: no loss, no gradient
			clear(row)
			p.rowLoss[t] = 0
			continue
		}
		logit := row[tg]
		var sum float32
		for i, v := range row {
			e := expf(v - mx)
			row[i] = e
			sum += e
		}
		l := float64(mx) + math.Log(float64(sum)) - float64(logit)
		p.rowLoss[t] = l
		loss += l
		k := scale / sum
		for i := range row {
			row[i] *= k
		}
		row[tg] -= scale
	}
	return loss
}

// forwardHidden runs the layers over p.tokens and leaves the final normalised hidden states
// (the input of the tied output layer, what an embedding pools) in p.xf.
func (p *pass) forwardHidden(w *Params) {
	c := p.cfg
	D, N, T := c.Dim, p.N, p.T
	hd := c.HeadDim()
	qd, kd := c.Heads*hd, c.KVHeads*hd
	for t, tok := range p.tokens {
		copy(p.x0[t*D:(t+1)*D], w.Embed[int(tok)*D:])
	}
	x := p.x0
	attScale := float32(1 / math.Sqrt(float64(hd)))
	group := c.Heads / c.KVHeads
	for li := range p.acts {
		a, l := &p.acts[li], &w.Layers[li]
		copy(a.xin, x)
		rmsNorm(a.xn1, a.inv1, a.xin, l.AttnNorm, N, D, c.NormEps)
		matmulT(a.q, a.xn1, l.WQ, N, qd, D, false)
		matmulT(a.k, a.xn1, l.WK, N, kd, D, false)
		matmulT(a.v, a.xn1, l.WV, N, kd, D, false)
		for t := range N {
			pos := t % T
			rope(a.q[t*qd:(t+1)*qd], p.cos, p.sin, pos, hd, false)
			rope(a.k[t*kd:(t+1)*kd], p.cos, p.sin, pos, hd, false)
		}
		for s := range p.nseq {
			r0 := s * T
			for kh := range c.KVHeads {
				gather(p.kh, a.k, r0, T, kd, kh, hd)
				gather(p.vh, a.v, r0, T, kd, kh, hd)
				transpose(p.hT, p.vh, T, hd) // [hd][T]
				for h := kh * group; h < (kh+1)*group; h++ {
					gather(p.qh, a.q, r0, T, qd, h, hd)
					P := a.p[(s*c.Heads+h)*T*T : (s*c.Heads+h+1)*T*T]
					matmulT(P, p.qh, p.kh, T, T, hd, false)
					for i := range T {
						row := P[i*T : (i+1)*T]
						mx := float32(math.Inf(-1))
						for j := 0; j <= i; j++ {
							row[j] *= attScale
							mx = max(mx, row[j])
						}
						var sum float32
						for j := 0; j <= i; j++ {
							e := expf(row[j] - mx)
							row[j] = e
							sum += e
						}
						inv := 1 / sum
						for j := 0; j <= i; j++ {
							row[j] *= inv
						}
						clear(row[i+1:])
					}
					matmulT(p.oh, P, p.hT, T, hd, T, false)
					scatter(a.att, p.oh, r0, T, qd, h, hd)
				}
			}
		}
		matmulT(a.xmid, a.att, l.WO, N, D, qd, false)
		addTo(a.xmid, a.xin)
		rmsNorm(a.xn2, a.inv2, a.xmid, l.FFNNorm, N, D, c.NormEps)
		matmulT(a.g, a.xn2, l.Gate, N, c.FFN, D, false)
		matmulT(a.u, a.xn2, l.Up, N, c.FFN, D, false)
		for i, g := range a.g {
			a.h[i] = g * sigmoid(g) * a.u[i]
		}
		var next []float32
		if li+1 < len(p.acts) {
			next = p.acts[li+1].xin
		} else {
			next = p.xL
		}
		matmulT(next, a.h, l.Down, N, D, c.FFN, false)
		addTo(next, a.xmid)
		x = next
	}
	if len(p.acts) == 0 {
		copy(p.xL, p.x0)
	}
	rmsNorm(p.xf, p.invF, p.xL, w.OutNorm, N, D, c.NormEps)
}

// backward adds the gradient of the loss whose logit gradient forward left in p.logits to g.
func (p *pass) backward(w, g *Params, wt *transposed) {
	c := p.cfg
	D, N, V := c.Dim, p.N, c.Vocab
	ldN := padded(N)

	// Output layer (tied): logits = xf·Eᵀ.
	matmulTS(p.dxn, p.logits, wt.embed, N, D, V, V, padded(V), false)
	transposeS(p.tBig, p.logits, N, V, ldN)
	transposeS(p.tA, p.xf, N, D, ldN)
	matmulTS(g.Embed, p.tBig, p.tA, V, D, N, ldN, ldN, true)
	p.backwardHidden(w, g, wt)
}

// backwardHidden adds to g the gradient of a loss whose gradient with respect to the final
// normalised hidden states (p.xf) is in p.dxn.
func (p *pass) backwardHidden(w, g *Params, wt *transposed) {
	c := p.cfg
	D, N, T, F := c.Dim, p.N, p.T, c.FFN
	hd := c.HeadDim()
	qd, kd := c.Heads*hd, c.KVHeads*hd
	group := c.Heads / c.KVHeads
	attScale := float32(1 / math.Sqrt(float64(hd)))
	ldN := padded(N)
	clear(p.dx)
	rmsNormBack(p.dx, g.OutNorm, p.dxn, p.xL, w.OutNorm, p.invF, N, D)

	for li := len(p.acts) - 1; li >= 0; li-- {
		a, l, gl, tl := &p.acts[li], &w.Layers[li], &g.Layers[li], &wt.layers[li]
		// Feed-forward: out = xmid + h·Downᵀ.
		matmulT(p.dh, p.dx, tl.down, N, F, D, false)
		transposeS(p.tA, p.dx, N, D, ldN)
		transposeS(p.tB, a.h, N, F, ldN)
		matmulTS(gl.Down, p.tA, p.tB, D, F, N, ldN, ldN, true)
		for i, gv := range a.g {
			sg := sigmoid(gv)
			p.du[i] = p.dh[i] * gv * sg
			p.dg[i] = p.dh[i] * a.u[i] * sg * (1 + gv*(1-sg))
		}
		matmulT(p.dxn, p.dg, tl.gate, N, D, F, false)
		matmulT(p.dxn, p.du, tl.up, N, D, F, true)
		transposeS(p.tB, a.xn2, N, D, ldN)
		transposeS(p.tA, p.dg, N, F, ldN)
		matmulTS(gl.Gate, p.tA, p.tB, F, D, N, ldN, ldN, true)
		transposeS(p.tA, p.du, N, F, ldN)
		matmulTS(gl.Up, p.tA, p.tB, F, D, N, ldN, ldN, true)
		rmsNormBack(p.dx, gl.FFNNorm, p.dxn, a.xmid, l.FFNNorm, a.inv2, N, D)

		// Attention output: xmid = xin + att·WOᵀ.
		matmulT(p.datt, p.dx, tl.wo, N, qd, D, false)
		transposeS(p.tA, p.dx, N, D, ldN)
		transposeS(p.tB, a.att, N, qd, ldN)
		matmulTS(gl.WO, p.tA, p.tB, D, qd, N, ldN, ldN, true)

		// Attention: for each head, O = P·V with P = softmax(scale·Q·Kᵀ) under the causal mask.
		for s := range p.nseq {
			r0 := s * T
			for kh := range c.KVHeads {
				gather(p.kh, a.k, r0, T, kd, kh, hd)
				gather(p.vh, a.v, r0, T, kd, kh, hd)
				clear(p.dkh)
				clear(p.dvh)
				for h := kh * group; h < (kh+1)*group; h++ {
					P := a.p[(s*c.Heads+h)*T*T : (s*c.Heads+h+1)*T*T]
					gather(p.oh, p.datt, r0, T, qd, h, hd) // dO
					// dV += Pᵀ·dO
					transpose(p.sc2, P, T, T)
					transpose(p.hT, p.oh, T, hd)
					matmulT(p.dvh, p.sc2, p.hT, T, hd, T, true)
					// dP = dO·Vᵀ, then dS = P⊙(dP − rowsum(P⊙dP)), with the score scale folded in.
					dS := p.sc
					matmulT(dS, p.oh, p.vh, T, T, hd, false)
					for i := range T {
						pr, dr := P[i*T:(i+1)*T], dS[i*T:(i+1)*T]
						var dot float32
						for j := 0; j <= i; j++ {
							dot += pr[j] * dr[j]
						}
						for j := 0; j <= i; j++ {
							dr[j] = pr[j] * (dr[j] - dot) * attScale
						}
						clear(dr[i+1:])
					}
					// dQ = dS·K
					transpose(p.hT, p.kh, T, hd)
					matmulT(p.qh, dS, p.hT, T, hd, T, false)
					scatter(p.dq, p.qh, r0, T, qd, h, hd)
					// dK += dSᵀ·Q
					gather(p.qh, a.q, r0, T, qd, h, hd)
					transpose(p.hT, p.qh, T, hd)
					transpose(p.sc2, dS, T, T)
					matmulT(p.dkh, p.sc2, p.hT, T, hd, T, true)
				}
				scatter(p.dk, p.dkh, r0, T, kd, kh, hd)
				scatter(p.dv, p.dvh, r0, T, kd, kh, hd)
			}
		}
		for t := range N {
			pos := t % T
			rope(p.dq[t*qd:(t+1)*qd], p.cos, p.sin, pos, hd, true)
			rope(p.dk[t*kd:(t+1)*kd], p.cos, p.sin, pos, hd, true)
		}
		matmulT(p.dxn, p.dq, tl.wq, N, D, qd, false)
		matmulT(p.dxn, p.dk, tl.wk, N, D, kd, true)
		matmulT(p.dxn, p.dv, tl.wv, N, D, kd, true)
		transposeS(p.tB, a.xn1, N, D, ldN)
		transposeS(p.tA, p.dq, N, qd, ldN)
		matmulTS(gl.WQ, p.tA, p.tB, qd, D, N, ldN, ldN, true)
		transposeS(p.tA, p.dk, N, kd, ldN)
		matmulTS(gl.WK, p.tA, p.tB, kd, D, N, ldN, ldN, true)
		transposeS(p.tA, p.dv, N, kd, ldN)
		matmulTS(gl.WV, p.tA, p.tB, kd, D, N, ldN, ldN, true)
		rmsNormBack(p.dx, gl.AttnNorm, p.dxn, a.xin, l.AttnNorm, a.inv1, N, D)
	}
	for t, tok := range p.tokens {
		addTo(g.Embed[int(tok)*D:(int(tok)+1)*D], p.dx[t*D:(t+1)*D])
	}
}
