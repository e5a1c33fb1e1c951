package sample

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// ErrInvalidConfig is returned by Config.Validate and New for out-of-range settings.
var ErrInvalidConfig = errors.New("sample: invalid config")

// Config selects the sampling knobs. The zero value is greedy decoding with no penalties; note
// that TopP 0 means "keep only the most likely token", so set TopP to 1 to sample without it.
// Filters apply in llama.cpp's order: penalties, top-k, top-p, min-p, then temperature.
type Config struct {
	Temperature float32 // <= 0 picks the most likely token (greedy)
	TopK        int     // keep the K most likely tokens; <= 0 disables
	TopP        float32 // keep the smallest set with probability >= TopP; >= 1 disables, 0 keeps one token
	MinP        float32 // drop tokens less likely than MinP times the most likely; 0 disables

	RepeatPenalty    float32 // divide positive logits (multiply negative ones) of recent tokens; 0 or 1 disables
	FrequencyPenalty float32 // subtract count*FrequencyPenalty from recent tokens' logits
	PresencePenalty  float32 // subtract PresencePenalty from the logits of recent tokens
	RepeatLastN      int     // how many recent tokens the penalties look at; 0 disables them

	Seed uint64 // the same seed, config and logits give the same tokens
}

// DefaultConfig is llama.cpp's default sampling: temperature 0.8, top-k 40, top-p 0.95,
// min-p 0.05, no repetition penalty.
func DefaultConfig() Config {
	return Config{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1, RepeatLastN: 64}
}

// Validate reports settings that have no meaning.
func (c Config) Validate() error {
	bad := func(f float32) bool { return math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) }
	switch {
	case bad(c.Temperature) || bad(c.TopP) || bad(c.MinP) || bad(c.RepeatPenalty) ||
		bad(c.FrequencyPenalty) || bad(c.PresencePenalty):
		return fmt.Errorf("%w: non-finite value", ErrInvalidConfig)
	case c.TopP < 0:
		return fmt.Errorf("%w: top_p %v < 0", ErrInvalidConfig, c.TopP)
	case c.MinP < 0 || c.MinP > 1:
		return fmt.Errorf("%w: min_p %v outside [0, 1]", ErrInvalidConfig, c.MinP)
	case c.RepeatPenalty < 0:
		return fmt.Errorf("%w: repeat penalty %v < 0", ErrInvalidConfig, c.RepeatPenalty)
	case c.RepeatLastN < 0:
		return fmt.Errorf("%w: repeat window %d < 0", ErrInvalidConfig, c.RepeatLastN)
	}
	return nil
}

// Sampler draws tokens according to a Config. It keeps the recent tokens for the penalties and
// a candidate buffer reused across calls. Not safe for concurrent use.
type Sampler struct {
	cfg    Config
	rng    *rand.Rand
	cands  []cand
	w      []float64 // the softmax weights of cands, reused between tokens
	recent []int32   // ring buffer of the last RepeatLastN tokens
	next   int
	counts map[int32]int32
}

type cand struct {
	id    int32
	logit float32
}

// New returns a sampler for cfg.
func New(cfg Config) (*Sampler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sampler{cfg: cfg, counts: map[int32]int32{}}
	s.Reset()
	return s, nil
}

// Reset forgets recent tokens and restarts the random sequence from the seed.
func (s *Sampler) Reset() {
	// The second PCG word is fixed so that one user-visible seed picks the stream.
	s.rng = rand.New(rand.NewPCG(s.cfg.Seed, 0x9E3779B97F4A7C15))
	s.recent = s.recent[:0]
	s.next = 0
	clear(s.counts)
}

// Accept records a token for the repetition penalties. Sample accepts the tokens it returns;
// call Accept for prompt tokens that should count too.
func (s *Sampler) Accept(id int32) {
	n := s.cfg.RepeatLastN
	if n <= 0 {
		return
	}
	if len(s.recent) < n {
		s.recent = append(s.recent, id)
	} else {
		old := s.recent[s.next]
		if s.counts[old]--; s.counts[old] <= 0 {
			delete(s.counts, old)
		}
		s.recent[s.next] = id
		s.next = (s.next + 1) % n
	}
	s.counts[id]++
}

func (s *Sampler) penalize() {
	c := s.cfg
	if !s.penalizing() {
		return
	}
	for id, n := range s.counts {
		if id < 0 || int(id) >= len(s.cands) {
			continue
		}
		l := &s.cands[id].logit
		if c.RepeatPenalty != 0 && c.RepeatPenalty != 1 {
			if *l > 0 {
				*l /= c.RepeatPenalty
			} else {
				*l *= c.RepeatPenalty
			}
		}
		*l -= float32(n)*c.FrequencyPenalty + c.PresencePenalty
	}
}

// penalizing reports whether the configuration penalizes repeated tokens.
func (s *Sampler) penalizing() bool {
	c := s.cfg
	return c.RepeatLastN > 0 && (c.RepeatPenalty != 0 && c.RepeatPenalty != 1 || c.FrequencyPenalty != 0 || c.PresencePenalty != 0)
}

// Sample picks a token id from logits (which it does not modify) and accepts it. NaN logits
// count as -Inf; if every logit is -Inf the lowest id is returned. It returns -1 only for empty
// logits.
func (s *Sampler) Sample(logits []float32) int32 {
	id := s.pick(logits)
	if id >= 0 {
		s.Accept(id)
	}
	return id
}

func (s *Sampler) pick(logits []float32) int32 {
	if len(logits) == 0 {
		return -1
	}
	if s.cfg.Temperature <= 0 && !s.penalizing() {
		// Greedy with nothing to adjust: the first highest logit, without
		// the candidate list (49,152 or more entries a token).
		return argmaxLogits(logits)
	}
	if cap(s.cands) < len(logits) {
		s.cands = make([]cand, len(logits))
	}
	s.cands = s.cands[:len(logits)]
	negInf := float32(math.Inf(-1))
	for i, l := range logits {
		if l != l { // NaN
			l = negInf
		}
		s.cands[i] = cand{id: int32(i), logit: l}
	}
	s.penalize()
	c := s.cands

	top := argmax(c)
	cfg := s.cfg
	if cfg.Temperature <= 0 || math.IsInf(float64(c[top].logit), 0) {
		// Greedy, or degenerate: all -Inf (nothing to weigh) or some +Inf (they win outright).
		return c[top].id
	}

	sorted := false
	if cfg.TopK > 0 && cfg.TopK < len(c) {
		selectTop(c, cfg.TopK)
		c = c[:cfg.TopK]
		slices.SortFunc(c, byLogitDesc)
		sorted = true
	}
	if cfg.TopP < 1 {
		c = topP(c, cfg.TopP, sorted)
		sorted = true
	}
	if cfg.MinP > 0 {
		c = minP(c, cfg.MinP)
	}

	// Temperature, then a draw from the softmax.
	// Each weight is computed once: over a whole vocabulary the exponentials are most of a
	// token's sampling time.
	maxL := c[argmax(c)].logit
	inv := 1 / float64(cfg.Temperature)
	if cap(s.w) < len(c) {
		s.w = make([]float64, len(c))
	}
	w := s.w[:len(c)]
	var sum float64
	for i, x := range c {
		w[i] = math.Exp(float64(x.logit-maxL) * inv)
		sum += w[i]
	}
	r := s.rng.Float64() * sum
	for i, x := range c {
		r -= w[i]
		if r < 0 {
			return x.id
		}
	}
	return c[argmax(c)].id // rounding left r just above zero
}

// byLogitDesc orders candidates by logit, highest first, then by id, so results never depend on
// the order of ties.
func byLogitDesc(a, b cand) int {
	if a.logit != b.logit {
		if a.logit > b.logit {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.id, b.id)
}

// argmaxLogits is argmax over logits taken as candidates: the first highest,
// NaN counting as -Inf, 0 when every logit is -Inf or NaN.
func argmaxLogits(logits []float32) int32 {
	best, bv := 0, float32(math.Inf(-1))
	for i, l := range logits {
		if l > bv { // false for NaN
			best, bv = i, l
		}
	}
	return int32(best)
}

func argmax(c []cand) int {
	best := 0
	for i := 1; i < len(c); i++ {
		if c[i].logit > c[best].logit {
			best = i
		}
	}
	return best
}

// selectTop moves the k best candidates (by byLogitDesc) to c[:k], in no particular order,
// in linear time rather than sorting 150k logits a token.
func selectTop(c []cand, k int) {
	if k <= 0 || k >= len(c) {
		return
	}
	if k <= 1024 {
		selectTopHeap(c, k)
		return
	}
	quickselect(c, k)
}

// selectTopHeap keeps the best k seen so far as a heap in c[:k] with the worst at the root. For
// small k almost every logit loses a single comparison with the root, which beats quickselect's
// repeated passes.
func selectTopHeap(c []cand, k int) {
	h := c[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for i := k; i < len(c); i++ {
		if c[i].logit < h[0].logit || byLogitDesc(c[i], h[0]) >= 0 {
			continue
		}
		h[0], c[i] = c[i], h[0]
		siftDown(h, 0)
	}
}

// siftDown restores the worst-at-root heap order below i.
func siftDown(h []cand, i int) {
	for {
		worst, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && byLogitDesc(h[l], h[worst]) > 0 {
			worst = l
		}
		if r < len(h) && byLogitDesc(h[r], h[worst]) > 0 {
			worst = r
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}

func quickselect(c []cand, k int) {
	lo, hi := 0, len(c)-1
	for lo < hi {
		// Median of three as pivot; the order is total, so the result is deterministic.
		mid := lo + (hi-lo)/2
		if byLogitDesc(c[mid], c[lo]) < 0 {
			c[mid], c[lo] = c[lo], c[mid]
		}
		if byLogitDesc(c[hi], c[lo]) < 0 {
			c[hi], c[lo] = c[lo], c[hi]
		}
		if byLogitDesc(c[hi], c[mid]) < 0 {
			c[hi], c[mid] = c[mid], c[hi]
		}
		pivot := c[mid]
		i, j := lo, hi
		for i <= j {
			for byLogitDesc(c[i], pivot) < 0 {
				i++
			}
			for byLogitDesc(pivot, c[j]) < 0 {
				j--
			}
			if i <= j {
				c[i], c[j] = c[j], c[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}

// topP keeps the smallest most-likely prefix whose probability reaches p (at least one token).
// Unless c is already sorted, it sorts only a growing head of the candidates, since the nucleus
// is usually a few dozen tokens out of the whole vocabulary.
func topP(c []cand, p float32, sorted bool) []cand {
	maxL := c[argmax(c)].logit
	var total float64
	for _, x := range c {
		total += math.Exp(float64(x.logit - maxL))
	}
	target := float64(p) * total
	m := len(c)
	if !sorted {
		m = min(64, len(c))
	}
	for {
		if !sorted {
			if m < len(c) {
				selectTop(c, m)
			}
			slices.SortFunc(c[:m], byLogitDesc)
		}
		var cum float64
		for i, x := range c[:m] {
			cum += math.Exp(float64(x.logit - maxL))
			if cum >= target {
				return c[:i+1]
			}
		}
		if m == len(c) {
			return c // rounding: the whole set is the nucleus
		}
		m = min(m*4, len(c))
	}
}

// minP keeps candidates whose probability is at least p times the best one's, preserving order.
func minP(c []cand, p float32) []cand {
	maxL := c[argmax(c)].logit
	threshold := maxL + float32(math.Log(float64(p)))
	kept := c[:0]
	for _, x := range c {
		if x.logit >= threshold {
			kept = append(kept, x)
		}
	}
	return kept
}
