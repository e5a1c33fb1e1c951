package engine

import (
	"errors"
	"fmt"
	"math"

	"github.com/chorus-ai/chorus/engine/structured"
	"github.com/chorus-ai/chorus/engine/tokenizer"
)

// ErrNoContinuation reports a structured generation that reached a state no token continues
// (a schema whose bounds the automaton cannot tell apart in time); the text so far is returned.
var ErrNoContinuation = errors.New("engine: no token continues the structured output")

// constraint masks logits to the tokens a JSON Schema allows next.
type constraint struct {
	vocab   *structured.Vocab
	match   *structured.Matcher
	allowed []bool
	masked  []float32
}

func (m *Model) newConstraint(s *structured.Schema, logits int) *constraint {
	v := m.schemaVocab()
	return &constraint{vocab: v, match: s.NewMatcher(), allowed: make([]bool, v.Size()),
		masked: make([]float32, logits)}
}

// schemaVocab builds, once per model, the token trie the constraint walks: every token that
// is text (normal, byte and user-defined tokens; control tokens never are).
func (m *Model) schemaVocab() *structured.Vocab {
	m.vocabOnce.Do(func() {
		pieces := make([]string, m.tok.VocabSize())
		for id := range pieces {
			switch m.tok.Type(int32(id)) {
			case tokenizer.TypeControl, tokenizer.TypeUnknown, tokenizer.TypeUnused:
			default:
				pieces[id] = m.tok.Piece(int32(id))
			}
		}
		m.vocab = structured.NewVocab(pieces, m.tok.EOGTokens())
	})
	return m.vocab
}

// mask returns logits with every token the schema does not allow next set to -Inf; done
// reports a complete value that no token may continue on a model without an end-of-text
// token to sample.
func (c *constraint) mask(logits []float32, budget int) (_ []float32, done bool, _ error) {
	if c.vocab.Mask(c.match, budget, c.allowed) == 0 {
		if c.match.Complete() {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("%w (%d tokens left)", ErrNoContinuation, budget)
	}
	negInf := float32(math.Inf(-1))
	for i, l := range logits {
		if i < len(c.allowed) && c.allowed[i] {
			c.masked[i] = l
		} else {
			c.masked[i] = negInf
		}
	}
	return c.masked, false, nil
}
