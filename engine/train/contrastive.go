package train

import (
	"fmt"
	"math"
	"sync"
)

// Training objectives (Hyper.Objective).
const (
	// ObjectiveLM is next-token prediction (the default, "").
	ObjectiveLM = "lm"
	// ObjectiveContrastive trains an embedding model: symmetric InfoNCE over in-batch
	// negatives between mean-pooled, L2-normalised final hidden states. A batch of
	// BatchSeqs sequences holds BatchSeqs/2 pairs: sequence i (a query) pairs with
	// sequence BatchSeqs/2+i (its document). Only the first Context tokens of each sequence
	// are read, up to its first Masked entry (padding).
	ObjectiveContrastive = "contrastive"
)

func (h Hyper) validateObjective() error {
	switch h.Objective {
	case "", ObjectiveLM:
		return nil
	case ObjectiveContrastive:
		if h.Temperature <= 0 {
			return fmt.Errorf("%w: contrastive training needs a positive temperature", ErrConfig)
		}
		if h.BatchSeqs < 4 || h.BatchSeqs%2 != 0 {
			return fmt.Errorf("%w: contrastive batch of %d sequences is not an even number of at least 4 (query, document pairs)", ErrConfig, h.BatchSeqs)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown objective %q (want %q or %q)", ErrConfig, h.Objective, ObjectiveLM, ObjectiveContrastive)
}

// seqLen is the number of tokens of seq's first T that are read: those before the first
// masked entry.
func seqLen(seq []int32, T int) int {
	for i, v := range seq[:T] {
		if v < 0 {
			return i
		}
	}
	return T
}

// meanPool writes the L2-normalised mean of the first n rows of xf (rows of D values) to e
// and returns the mean's norm.
func meanPool(e, xf []float32, n, D int) float32 {
	clear(e)
	for t := range n {
		addTo(e, xf[t*D:(t+1)*D])
	}
	var ss float64
	for i := range e {
		e[i] /= float32(n)
		ss += float64(e[i]) * float64(e[i])
	}
	norm := float32(math.Sqrt(ss))
	if norm > 0 {
		for i := range e {
			e[i] /= norm
		}
	}
	return norm
}

// infoNCE returns the symmetric InfoNCE loss (mean over both directions) of B queries q
// against B documents d (normalised rows of D values, pair i matching), and sets dq and dd
// to its gradient with respect to them.
func infoNCE(q, d, dq, dd []float32, B, D int, temp float64) float64 {
	S := make([]float64, B*B)
	for i := range B {
		for j := range B {
			S[i*B+j] = float64(dot(q[i*D:(i+1)*D], d[j*D:(j+1)*D])) / temp
		}
	}
	dS := make([]float64, B*B)
	var loss float64
	// softmax over xs (stride apart from first), the loss of target tgt, and into dS.
	ce := func(first, stride, tgt int) {
		mx := math.Inf(-1)
		for k := range B {
			mx = max(mx, S[first+k*stride])
		}
		var sum float64
		for k := range B {
			sum += math.Exp(S[first+k*stride] - mx)
		}
		loss += mx + math.Log(sum) - S[first+tgt*stride]
		for k := range B {
			g := math.Exp(S[first+k*stride]-mx) / sum
			if k == tgt {
				g--
			}
			dS[first+k*stride] += g / float64(2*B)
		}
	}
	for i := range B {
		ce(i*B, 1, i) // query i against every document
		ce(i, B, i)   // document i against every query
	}
	clear(dq)
	clear(dd)
	for i := range B {
		for j := range B {
			g := float32(dS[i*B+j] / temp)
			if g == 0 {
				continue
			}
			axpy(dq[i*D:(i+1)*D], g, d[j*D:(j+1)*D])
			axpy(dd[j*D:(j+1)*D], g, q[i*D:(i+1)*D])
		}
	}
	return loss / float64(2*B)
}

func axpy(dst []float32, a float32, x []float32) {
	for i, v := range x {
		dst[i] += a * v
	}
}

// contrastiveGradient is gradient for ObjectiveContrastive: it leaves the gradient of the
// batch's InfoNCE loss in t.grads[0] and returns the loss. Every embedding of the batch is
// needed before any gradient, so the forward passes run first, then the loss on this
// goroutine, then the backward passes.
func (t *Trainer) contrastiveGradient(batch [][]int32) float64 {
	c, h := t.S.Cfg, t.S.Hyper
	T, D, n := c.Context, c.Dim, h.BatchSeqs
	per := n / h.Workers
	emb, demb := make([]float32, n*D), make([]float32, n*D)
	norms, lens := make([]float32, n), make([]int, n)
	parallel := func(f func(w int)) {
		var wg sync.WaitGroup
		for w := range h.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f(w)
			}()
		}
		wg.Wait()
	}
	parallel(func(w int) { t.wt.update(t.params, w, h.Workers) })
	parallel(func(w int) {
		p := t.passes[w]
		for i := range per {
			k := w*per + i
			seq := batch[k]
			for j, v := range seq[:T] {
				p.tokens[i*T+j] = Unmask(v)
			}
			lens[k] = max(seqLen(seq, T), 1)
		}
		p.forwardHidden(t.params)
		for i := range per {
			k := w*per + i
			norms[k] = meanPool(emb[k*D:(k+1)*D], p.xf[i*T*D:], lens[k], D)
		}
	})
	B := n / 2
	loss := infoNCE(emb[:B*D], emb[B*D:], demb[:B*D], demb[B*D:], B, D, h.Temperature)
	parallel(func(w int) {
		p := t.passes[w]
		clear(p.dxn)
		du := make([]float32, D)
		for i := range per {
			k := w*per + i
			e, de := emb[k*D:(k+1)*D], demb[k*D:(k+1)*D]
			if norms[k] == 0 {
				continue
			}
			// e = u/|u|: du = (de − e(e·de))/|u|; u is the mean of the first lens[k] rows.
			ed := dot(e, de)
			scale := 1 / (norms[k] * float32(lens[k]))
			for j := range du {
				du[j] = (de[j] - e[j]*ed) * scale
			}
			for r := range lens[k] {
				copy(p.dxn[(i*T+r)*D:(i*T+r+1)*D], du)
			}
		}
		clear(t.grads[w].Data)
		p.backwardHidden(t.params, t.grads[w], t.wt)
	})
	g0 := t.grads[0].Data
	for w := 1; w < h.Workers; w++ {
		addTo(g0, t.grads[w].Data)
	}
	return loss
}

// Embed returns the embedding of tokens as ObjectiveContrastive trains it: the L2-normalised
// mean of the final normalised hidden states, one pass over at most Context tokens.
func Embed(c Config, params []float32, tokens []int32) []float32 {
	p := newPass(c, 1, len(tokens))
	copy(p.tokens, tokens)
	p.forwardHidden(View(c, params))
	e := make([]float32, c.Dim)
	meanPool(e, p.xf, len(tokens), c.Dim)
	return e
}

// ContrastiveLoss is the symmetric InfoNCE loss of a batch laid out as for
// ObjectiveContrastive (queries, then their documents), at temperature temp, one sequence at
// a time: the validation loss of a contrastive run.
func ContrastiveLoss(c Config, params []float32, batch [][]int32, temp float64) float64 {
	D, n := c.Dim, len(batch)
	emb := make([]float32, n*D)
	for k, seq := range batch {
		l := max(seqLen(seq, min(c.Context, len(seq))), 1)
		copy(emb[k*D:], Embed(c, params, seq[:l]))
	}
	B := n / 2
	return infoNCE(emb[:B*D], emb[B*D:B*2*D], make([]float32, B*D), make([]float32, B*D), B, D, temp)
}

func dot(a, b []float32) float32 {
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}
