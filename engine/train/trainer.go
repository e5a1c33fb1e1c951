package train

import (
	"fmt"
	"math"
	"sync"
)

// Hyper holds the training recipe.
type Hyper struct {
	Seed        uint64  `json:"seed"`
	Steps       int     `json:"steps"`
	Warmup      int     `json:"warmup"`
	BatchSeqs   int     `json:"batch_seqs"` // sequences per step, split evenly between Workers
	Workers     int     `json:"workers"`    // shards of the batch, one goroutine each
	LR          float64 `json:"lr"`
	MinLR       float64 `json:"min_lr"`
	WeightDecay float64 `json:"weight_decay"`
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	Clip        float64 `json:"clip"` // global gradient norm limit; 0 turns clipping off
	// Objective is ObjectiveLM ("" too) or ObjectiveContrastive; Temperature divides the
	// contrastive objective's similarities.
	Objective   string  `json:"objective,omitempty"`
	Temperature float64 `json:"temperature,omitempty"`
}

// Validate checks the recipe.
func (h Hyper) Validate() error {
	switch {
	case h.Steps <= 0 || h.Warmup < 0 || h.BatchSeqs <= 0 || h.Workers <= 0:
		return fmt.Errorf("%w: steps, batch and workers must be positive", ErrConfig)
	case h.BatchSeqs%h.Workers != 0:
		return fmt.Errorf("%w: batch of %d sequences does not split over %d workers", ErrConfig, h.BatchSeqs, h.Workers)
	case h.LR <= 0 || h.MinLR < 0 || h.MinLR > h.LR || h.Beta1 < 0 || h.Beta1 >= 1 || h.Beta2 < 0 || h.Beta2 >= 1 || h.Eps <= 0:
		return fmt.Errorf("%w: learning rates or Adam coefficients out of range", ErrConfig)
	}
	return h.validateObjective()
}

// LRAt is the learning rate of step (0-based): linear warmup to LR, then a cosine decay to
// MinLR at the last step.
func (h Hyper) LRAt(step int) float64 {
	if step < h.Warmup {
		return h.LR * float64(step+1) / float64(h.Warmup)
	}
	span := max(1, h.Steps-h.Warmup-1)
	t := min(1, float64(step-h.Warmup)/float64(span))
	return h.MinLR + 0.5*(h.LR-h.MinLR)*(1+math.Cos(math.Pi*t))
}

// State is everything a checkpoint holds: resuming from it continues bit for bit.
type State struct {
	Cfg   Config `json:"config"`
	Hyper Hyper  `json:"hyper"`
	Step  int    `json:"step"` // steps done
	Data  Cursor `json:"data"`
	// Params, M and V share the Params layout.
	Params, M, V []float32 `json:"-"`
}

// NewState initialises a model and its optimizer.
func NewState(c Config, h Hyper) (*State, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	n := c.NumParams()
	s := &State{Cfg: c, Hyper: h, Params: make([]float32, n), M: make([]float32, n), V: make([]float32, n)}
	Init(View(c, s.Params), h.Seed)
	s.Data = Cursor{Seed: h.Seed}
	return s, nil
}

// Trainer runs steps over a State.
type Trainer struct {
	S      *State
	params *Params
	grads  []*Params // one per worker, summed in worker order so results do not depend on timing
	passes []*pass
	wt     *transposed
	decay  []bool
	batch  [][]int32 // BatchSeqs sequences of Context+1 tokens
}

// NewTrainer prepares the buffers for s.
func NewTrainer(s *State) (*Trainer, error) {
	if err := s.Cfg.Validate(); err != nil {
		return nil, err
	}
	if err := s.Hyper.Validate(); err != nil {
		return nil, err
	}
	c, h := s.Cfg, s.Hyper
	t := &Trainer{S: s, params: View(c, s.Params), wt: newTransposed(c), decay: decayMask(c)}
	per := h.BatchSeqs / h.Workers
	for range h.Workers {
		t.grads = append(t.grads, View(c, make([]float32, c.NumParams())))
		t.passes = append(t.passes, newPass(c, per, c.Context))
	}
	t.batch = make([][]int32, h.BatchSeqs)
	for i := range t.batch {
		t.batch[i] = make([]int32, c.Context+1)
	}
	return t, nil
}

// StepStats reports one step.
type StepStats struct {
	Step     int
	Loss     float64 // mean cross-entropy, nats per token (the InfoNCE loss for ObjectiveContrastive)
	GradNorm float64 // before clipping
	LR       float64
	Tokens   int
}

// Batcher fills training batches: each sequence of Context+1 tokens, positions the cursor
// tracks so that a resumed run draws the same batches. Dataset is the plain token stream.
type Batcher interface {
	Next(c *Cursor, batch [][]int32) error
}

// Masked marks token id as one the model reads but is not trained to predict: as a target it
// adds no loss. Batchers use it for prompts and padding (see Unmask).
func Masked(id int32) int32 { return -id - 1 }

// Unmask returns the token id of a batch entry, masked or not.
func Unmask(v int32) int32 {
	if v < 0 {
		return -v - 1
	}
	return v
}

// Step draws the next batch from d, computes the gradient and applies AdamW.
func (t *Trainer) Step(d Batcher) (StepStats, error) {
	s := t.S
	if err := d.Next(&s.Data, t.batch); err != nil {
		return StepStats{}, err
	}
	var loss float64
	if s.Hyper.Objective == ObjectiveContrastive {
		loss = t.contrastiveGradient(t.batch)
	} else {
		loss = t.gradient(t.batch)
	}
	g := t.grads[0].Data
	var ss float64
	for _, v := range g {
		ss += float64(v) * float64(v)
	}
	norm := math.Sqrt(ss)
	lr := s.Hyper.LRAt(s.Step)
	t.adamw(g, norm, lr)
	s.Step++
	return StepStats{Step: s.Step, Loss: loss, GradNorm: norm, LR: lr, Tokens: len(t.batch) * s.Cfg.Context}, nil
}

// gradient leaves the mean-loss gradient of the batch in t.grads[0] and returns the mean loss
// over the targets that are not masked.
func (t *Trainer) gradient(batch [][]int32) float64 {
	c, h := t.S.Cfg, t.S.Hyper
	T := c.Context
	per := h.BatchSeqs / h.Workers
	counted := 0
	for _, seq := range batch {
		for _, v := range seq[1 : T+1] {
			if v >= 0 {
				counted++
			}
		}
	}
	counted = max(counted, 1)
	scale := float32(1 / float64(counted))
	losses := make([]float64, h.Workers)
	var wg sync.WaitGroup
	for w := range h.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.wt.update(t.params, w, h.Workers)
		}()
	}
	wg.Wait()
	for w := range h.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := t.passes[w]
			targets := make([]int32, p.N)
			for i := range per {
				seq := batch[w*per+i]
				for j, v := range seq[:T] {
					p.tokens[i*T+j] = Unmask(v)
				}
				for j, v := range seq[1 : T+1] {
					targets[i*T+j] = max(v, -1)
				}
			}
			clear(t.grads[w].Data)
			losses[w] = p.forward(t.params, targets, scale)
			p.backward(t.params, t.grads[w], t.wt)
		}()
	}
	wg.Wait()
	var loss float64
	for w := range h.Workers {
		loss += losses[w]
	}
	g0 := t.grads[0].Data
	for w := 1; w < h.Workers; w++ {
		addTo(g0, t.grads[w].Data)
	}
	return loss / float64(counted)
}

// adamw applies one AdamW update with decoupled weight decay, after scaling the gradient
// down to the clip norm when it is larger.
func (t *Trainer) adamw(g []float32, norm, lr float64) {
	s, h := t.S, t.S.Hyper
	gs := 1.0
	if h.Clip > 0 && norm > h.Clip {
		gs = h.Clip / norm
	}
	step := float64(s.Step + 1)
	bc1 := 1 - math.Pow(h.Beta1, step)
	bc2 := 1 - math.Pow(h.Beta2, step)
	b1, b2 := float32(h.Beta1), float32(h.Beta2)
	lrf, eps, wd := float32(lr), float32(h.Eps), float32(lr*h.WeightDecay)
	c1, c2 := float32(1/bc1), float32(1/math.Sqrt(bc2))
	p, m, v := s.Params, s.M, s.V
	for i, gi := range g {
		gi *= float32(gs)
		m[i] = b1*m[i] + (1-b1)*gi
		v[i] = b2*v[i] + (1-b2)*gi*gi
		if t.decay[i] {
			p[i] -= wd * p[i]
		}
		p[i] -= lrf * (m[i] * c1) / (float32(math.Sqrt(float64(v[i])))*c2 + eps)
	}
}

// Logits runs the forward pass on one sequence and returns its logits, token-major.
func Logits(c Config, params []float32, tokens []int32) []float32 {
	p := newPass(c, 1, len(tokens))
	copy(p.tokens, tokens)
	p.forward(View(c, params), nil, 0)
	return p.logits
}

// Loss returns the summed cross-entropy of predicting seq[1:] from seq[:len-1], one pass;
// masked entries (Masked) are read but not scored.
func Loss(c Config, params []float32, seq []int32) float64 {
	T := len(seq) - 1
	p := newPass(c, 1, T)
	for i, v := range seq[:T] {
		p.tokens[i] = Unmask(v)
	}
	targets := make([]int32, T)
	for i, v := range seq[1:] {
		targets[i] = max(v, -1)
	}
	return p.forward(View(c, params), targets, 1)
}
