package bpe

import (
	"fmt"
	"sort"
	"unicode"

	"github.com/chorus-ai/chorus/engine/tokenizer"
)

// Counter accumulates pre-tokenized word counts from text.
type Counter struct {
	words map[string]int
	buf   []string
}

// NewCounter returns an empty Counter.
func NewCounter() *Counter { return &Counter{words: map[string]int{}} }

// Add counts the pre-tokenized pieces of text.
func (c *Counter) Add(text string) {
	c.buf = SplitGPT2(text, c.buf[:0])
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

// class is the subset of Unicode properties GPT-2's regex tests.
type class uint8

const (
	clsNone class = iota
	clsOther
	clsLetter
	clsNumber
	clsSpace
)

func classOf(r rune) class {
	switch {
	case r < 0:
		return clsNone
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

// SplitGPT2 splits s by GPT-2's pre-tokenizer regex
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+,
// appending the pieces (raw text) to out. engine/tokenizer has the same splitter
// (unexported); a test checks that both produce the same tokens.
func SplitGPT2(s string, out []string) []string {
	var rs []rune
	var off []int
	for i, r := range s {
		rs = append(rs, r)
		off = append(off, i)
	}
	off = append(off, len(s))
	n := len(rs)
	at := func(i int) rune {
		if i < n {
			return rs[i]
		}
		return -1
	}
	cls := func(i int) class { return classOf(at(i)) }
	prev := 0
	emit := func(end int) {
		if end > prev {
			out = append(out, s[off[prev]:off[end]])
		}
		prev = end
	}
	for pos := 0; pos < n; {
		if at(pos) == '\'' && pos+1 < n {
			c1 := at(pos + 1)
			k := 0
			if c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd' {
				k = 2
			} else if pos+2 < n {
				c2 := at(pos + 2)
				if (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l') {
					k = 3
				}
			}
			if k > 0 {
				pos += k
				emit(pos)
				continue
			}
		}
		c := cls(pos)
		if at(pos) == ' ' {
			c = cls(pos + 1)
		}
		if c == clsLetter || c == clsNumber || c == clsOther {
			if at(pos) == ' ' {
				pos++
			}
			for cls(pos) == c {
				pos++
			}
			emit(pos)
			continue
		}
		ws := 0
		for cls(pos+ws) == clsSpace {
			ws++
		}
		switch {
		case ws > 1 && pos+ws < n: // \s+(?!\S): leave the last space to the next word
			pos += ws - 1
		case ws > 0:
			pos += ws
		default:
			pos++
		}
		emit(pos)
	}
	return out
}
