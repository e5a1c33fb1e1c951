package train

import (
	"fmt"
	"math"

	"github.com/chorus-ai/chorus/engine/llama"
)

// Unigram is the baseline a language model must beat: each token predicted by its frequency
// in the training split, add-one smoothed so unseen tokens keep some probability.
type Unigram struct {
	Counts []int64 `json:"counts"`
	Total  int64   `json:"total"`
}

// NewUnigram counts ids over a vocabulary of vocab tokens.
func NewUnigram(ids []int32, vocab int) *Unigram {
	u := &Unigram{Counts: make([]int64, vocab)}
	for _, id := range ids {
		u.Counts[id]++
	}
	u.Total = int64(len(ids))
	return u
}

// NLL is the negative log-likelihood of token id in nats.
func (u *Unigram) NLL(id int32) float64 {
	return -math.Log(float64(u.Counts[id]+1) / float64(u.Total+int64(len(u.Counts))))
}

// Score is a summed negative log-likelihood over Tokens predictions.
type Score struct {
	NLL    float64
	Tokens int
}

// Perplexity is exp of the mean negative log-likelihood.
func (s Score) Perplexity() float64 { return math.Exp(s.NLL / float64(s.Tokens)) }

// Evaluate scores a token stream under a model loaded by the engine and under u, over
// non-overlapping windows of window tokens: every token but each window's first is predicted,
// from at most window−1 tokens of context.
func Evaluate(m *llama.Model, u *Unigram, ids []int32, window int) (model, unigram Score, err error) {
	s := m.NewSession(window)
	defer s.Close()
	vocab := m.Config().Vocab
	for start := 0; start+1 < len(ids); start += window {
		chunk := ids[start:min(start+window, len(ids))]
		if len(chunk) < 2 {
			break
		}
		s.Reset()
		logits, err := s.DecodeAll(chunk[:len(chunk)-1])
		if err != nil {
			return model, unigram, fmt.Errorf("evaluate: %w", err)
		}
		for i, target := range chunk[1:] {
			row := logits[i*vocab : (i+1)*vocab]
			mx := row[0]
			for _, v := range row {
				mx = max(mx, v)
			}
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v - mx))
			}
			model.NLL += float64(mx) + math.Log(sum) - float64(row[target])
			unigram.NLL += u.NLL(target)
		}
		model.Tokens += len(chunk) - 1
		unigram.Tokens += len(chunk) - 1
	}
	return model, unigram, nil
}
