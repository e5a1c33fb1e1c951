package bpe

import (
	"fmt"
	"sort"

	"github.com/chorus-ai/chorus/engine/tokenizer"
)

// Counter accumulates pre-tokenized word counts from text.
type Counter struct {
	words map[string]int
	buf   []string
}

// NewCounter returns an empty Counter.
func NewCounter() *Counter { return &Counter{words: map[string]int{}} }

// Add counts the pre-tokenized pieces of text, split as the engine's gpt-2
// pre-tokenizer splits it.
func (c *Counter) Add(text string) {
	c.buf = tokenizer.SplitGPT2(text, c.buf[:0])
	for _, w := range c.buf {
		c.words[w]++
	}
}

// Train learns merges until the vocabulary holds size tokens: 256 byte tokens, the merges, and
// EndOfText last. Ties between equally frequent pairs go to the pair of lower token ids, so
// training is deterministic.
func Train(c *Counter, size int) (*Vocab, error) {
	if size < 257 {
		return nil, fmt.Errorf("%w: %d < 257", ErrVocabSize, size)
	}
	v := &Vocab{}
	for b := range 256 {
		v.Tokens = append(v.Tokens, string(byteToRune[b]))
		v.Types = append(v.Types, int32(tokenizer.TypeNormal))
	}
	// Sorting the words fixes the order in which equal counts are visited.
	keys := make([]string, 0, len(c.words))
	for w := range c.words {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	type word struct {
		syms  []int32
		count int
	}
	words := make([]word, len(keys))
	type pair [2]int32
	counts := map[pair]int{}
	where := map[pair][]int32{} // words that held the pair when it was counted (may be stale)
	for i, k := range keys {
		w := word{count: c.words[k], syms: make([]int32, len(k))}
		for j := 0; j < len(k); j++ {
			w.syms[j] = int32(k[j])
		}
		words[i] = w
		for j := 0; j+1 < len(w.syms); j++ {
			p := pair{w.syms[j], w.syms[j+1]}
			counts[p] += w.count
			where[p] = append(where[p], int32(i))
		}
	}
	merges := size - 256 - 1
	for len(v.Merges) < merges {
		best, bestN := pair{-1, -1}, 0
		for p, n := range counts {
			if n > bestN || (n == bestN && (p[0] < best[0] || (p[0] == best[0] && p[1] < best[1]))) {
				best, bestN = p, n
			}
		}
		if bestN < 2 {
			break // nothing left worth merging
		}
		id := int32(len(v.Tokens))
		v.Tokens = append(v.Tokens, v.Tokens[best[0]]+v.Tokens[best[1]])
		v.Types = append(v.Types, int32(tokenizer.TypeNormal))
		v.Merges = append(v.Merges, v.Tokens[best[0]]+" "+v.Tokens[best[1]])
		list := where[best]
		delete(where, best)
		last := int32(-1)
		for _, wi := range list {
			if wi == last { // listed once per occurrence
				continue
			}
			last = wi
			w := &words[wi]
			s := w.syms
			changed := false
			out := s[:0:0]
			for j := 0; j < len(s); j++ {
				if j+1 < len(s) && s[j] == best[0] && s[j+1] == best[1] {
					out = append(out, id)
					j++
					changed = true
				} else {
					out = append(out, s[j])
				}
			}
			if !changed {
				continue
			}
			for j := 0; j+1 < len(s); j++ {
				p := pair{s[j], s[j+1]}
				if counts[p] -= w.count; counts[p] <= 0 {
					delete(counts, p)
				}
			}
			for j := 0; j+1 < len(out); j++ {
				p := pair{out[j], out[j+1]}
				counts[p] += w.count
				if out[j] == id || out[j+1] == id {
					where[p] = append(where[p], wi)
				}
			}
			w.syms = out
		}
		delete(counts, best)
	}
	v.EOT = int32(len(v.Tokens))
	v.Tokens = append(v.Tokens, EndOfText)
	v.Types = append(v.Types, int32(tokenizer.TypeControl))
	// Tokens are byte-encoded, so a merged token's text is its pieces' texts joined; no merge
	// can produce a duplicate since each pair is merged once.
	return v, nil
}
