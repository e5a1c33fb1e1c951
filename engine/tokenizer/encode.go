package tokenizer

import (
	"container/heap"
	"strings"
	"unicode/utf8"
)

// fragment is a run of raw text, or a special token found verbatim in the text.
type fragment struct {
	text  string
	token int32 // NoToken for text
	off   int   // byte offset of text in the whole input
}

// Encode tokenizes text. Control and user-defined tokens written in the text (such as
// "<|im_start|>") become their ids, as llama.cpp does with parse_special; with addSpecial the
// model's BOS/EOS are added when its metadata asks for them.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int32 {
	return t.encode(text, addSpecial, true)
}

// EncodeLiteral is Encode without recognising control tokens in the text, for untrusted text
// that must not be able to inject turn markers. User-defined tokens are still matched, as in
// llama.cpp.
func (t *Tokenizer) EncodeLiteral(text string, addSpecial bool) []int32 {
	return t.encode(text, addSpecial, false)
}

func (t *Tokenizer) encode(text string, addSpecial, parseSpecial bool) []int32 {
	if !parseSpecial {
		return t.encodeSpans(text, addSpecial, [][2]int{{0, len(text)}})
	}
	return t.encodeSpans(text, addSpecial, nil)
}

// encodeSpans is Encode with control tokens recognised everywhere but in the
// literal byte spans of text (sorted, not overlapping).
func (t *Tokenizer) encodeSpans(text string, addSpecial bool, literal [][2]int) []int32 {
	var frags []fragment
	if text != "" {
		frags = t.partition(text, literal)
	}
	out := make([]int32, 0, len(text)/3+2)
	if addSpecial && t.addBOS && t.bos != NoToken {
		out = append(out, t.bos)
	}
	switch t.model {
	case modelSPM:
		prevSpecial := true // SentencePiece adds a space before the text and after each special token
		for _, f := range frags {
			if f.token != NoToken {
				out = append(out, f.token)
				prevSpecial = true
				continue
			}
			s := f.text
			if t.addSpacePrefix && prevSpecial {
				s = " " + s
			}
			out = t.spm(strings.ReplaceAll(s, " ", "▁"), out)
			prevSpecial = false
		}
	case modelBPE:
		var words []string
		var buf []byte
		for _, f := range frags {
			if f.token != NoToken {
				out = append(out, f.token)
				continue
			}
			words = append(words[:0], f.text)
			for _, stage := range t.pre {
				next := make([]string, 0, len(words))
				for _, w := range words {
					next = stage(w, next)
				}
				words = next
			}
			for _, w := range words {
				buf = byteEncode(w, buf[:0])
				out = t.bpe(string(buf), out)
			}
		}
	}
	if addSpecial && t.addEOS && t.eos != NoToken {
		out = append(out, t.eos)
	}
	return out
}

// partition cuts text at every verbatim occurrence of a special token, longest tokens first.
// Control (and unknown) tokens are not recognised where they overlap a literal span.
func (t *Tokenizer) partition(text string, literal [][2]int) []fragment {
	inLiteral := func(start, end int) bool {
		for _, l := range literal {
			if start < l[1] && end > l[0] {
				return true
			}
		}
		return false
	}
	frags := []fragment{{text: text, token: NoToken}}
	for _, id := range t.special {
		ty := t.types[id]
		control := ty == TypeControl || ty == TypeUnknown
		tok := t.tokens[id]
		var next []fragment
		changed := false
		for _, f := range frags {
			if f.token != NoToken || !strings.Contains(f.text, tok) {
				next = append(next, f)
				continue
			}
			from, pos := 0, 0 // text from f.text[from:] is not yet emitted; search from pos
			for {
				i := strings.Index(f.text[pos:], tok)
				if i < 0 {
					break
				}
				i += pos
				if control && inLiteral(f.off+i, f.off+i+len(tok)) {
					pos = i + len(tok)
					continue
				}
				changed = true
				if i > from {
					next = append(next, fragment{text: f.text[from:i], token: NoToken, off: f.off + from})
				}
				next = append(next, fragment{token: id, off: f.off + i})
				from = i + len(tok)
				if t.rstrip[id] {
					// The token swallows the whitespace after it (llama.cpp's RSTRIP).
					for from < len(f.text) && isSpaceC(f.text[from]) {
						from++
					}
				}
				pos = from
			}
			if from < len(f.text) {
				next = append(next, fragment{text: f.text[from:], token: NoToken, off: f.off + from})
			}
		}
		if changed {
			frags = next
		}
	}
	return frags
}

// isSpaceC is C's isspace in the "C" locale.
func isSpaceC(b byte) bool { return b == ' ' || b >= '\t' && b <= '\r' }

// symbol is a piece of a word being merged, linked to its neighbours.
type symbol struct {
	start, end int // byte range in the word; end == start once merged away
	prev, next int
}

// pair is a candidate merge of two adjacent symbols. For SPM, rank is the negated score.
type pair struct {
	left, right int
	rank        float64
	size        int
}

type pairHeap []pair

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].left < h[j].left
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pair)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// splitChars makes one symbol per UTF-8 character of word (a stray byte is its own symbol).
func splitChars(word string) []symbol {
	syms := make([]symbol, 0, len(word))
	for i := 0; i < len(word); {
		_, size := utf8.DecodeRuneInString(word[i:])
		syms = append(syms, symbol{start: i, end: i + size, prev: len(syms) - 1, next: len(syms) + 1})
		i += size
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	return syms
}

// merge runs the greedy lowest-rank-first pair merging shared by both models. rankOf returns
// the rank of joining two symbol texts, or false if they do not merge.
func merge(word string, syms []symbol, rankOf func(l, r string) (float64, bool)) {
	h := &pairHeap{}
	add := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		rank, ok := rankOf(word[syms[l].start:syms[l].end], word[syms[r].start:syms[r].end])
		if ok {
			heap.Push(h, pair{left: l, right: r, rank: rank, size: syms[r].end - syms[l].start})
		}
	}
	for i := 1; i < len(syms); i++ {
		add(i-1, i)
	}
	for h.Len() > 0 {
		p := heap.Pop(h).(pair)
		l, r := &syms[p.left], &syms[p.right]
		// Skip pairs made stale by an earlier merge.
		if l.end == l.start || r.end == r.start || l.next != p.right || r.end-l.start != p.size {
			continue
		}
		l.end = r.end
		r.end = r.start
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = p.left
		}
		add(l.prev, p.left)
		add(p.left, l.next)
	}
}

// bpe encodes one byte-encoded word with merge ranks.
func (t *Tokenizer) bpe(word string, out []int32) []int32 {
	if t.ignoreMerges {
		if id, ok := t.ids[word]; ok {
			return append(out, id)
		}
	}
	syms := splitChars(word)
	var key []byte
	merge(word, syms, func(l, r string) (float64, bool) {
		key = append(append(append(key[:0], l...), ' '), r...)
		rank, ok := t.ranks[string(key)]
		return float64(rank), ok
	})
	for i := 0; i >= 0 && i < len(syms); i = syms[i].next {
		s := word[syms[i].start:syms[i].end]
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
			continue
		}
		// llama.cpp's fallback: each byte looked up as a one-byte token; missing ones are dropped.
		for j := 0; j < len(s); j++ {
			if id, ok := t.ids[s[j:j+1]]; ok {
				out = append(out, id)
			}
		}
	}
	return out
}

// spm encodes escaped text (spaces already "▁") by merging the adjacent pair whose joined text
// is the highest-scoring token, then falling back to <0xNN> byte tokens for what is left.
func (t *Tokenizer) spm(text string, out []int32) []int32 {
	syms := splitChars(text)
	merge(text, syms, func(l, r string) (float64, bool) {
		id, ok := t.ids[l+r]
		if !ok {
			return 0, false
		}
		return -float64(t.scores[id]), true
	})
	for i := 0; i >= 0 && i < len(syms); i = syms[i].next {
		s := text[syms[i].start:syms[i].end]
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(s); j++ {
			if id := t.byteToken(s[j]); id != NoToken {
				out = append(out, id)
			}
		}
	}
	return out
}

const hexDigits = "0123456789ABCDEF"

// byteToken finds the <0xNN> token for b, then the byte itself as a token, then unknown.
func (t *Tokenizer) byteToken(b byte) int32 {
	name := [6]byte{'<', '0', 'x', hexDigits[b>>4], hexDigits[b&15], '>'}
	if id, ok := t.ids[string(name[:])]; ok {
		return id
	}
	if id, ok := t.ids[string([]byte{b})]; ok {
		return id
	}
	return t.unk
}
