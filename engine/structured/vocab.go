package structured

import (
	"slices"
	"unicode/utf8"
)

// Vocab is a model's tokens as byte strings, arranged in a trie so that tokens sharing a
// prefix are checked against a Matcher once for that prefix. Build it once per model; it is
// safe for concurrent use.
type Vocab struct {
	nodes []trieNode // every text token; node 0 is the root
	other int32      // the root of a second trie of the tokens that are not plain
	edges []edge
	eog   []int32
	size  int
	// plain are the tokens made of whole string characters that need no escape (no '"',
	// '\\' or control byte, complete UTF-8), with their character counts: inside a string
	// they are allowed by arithmetic, without a walk, which is most of the vocabulary.
	plain      []int32
	plainRunes []int32
}

type trieNode struct {
	first, n int32   // the node's edges: edges[first : first+n], sorted by byte
	ids      []int32 // tokens spelt exactly by the path to this node
}

type edge struct {
	b    byte
	node int32
}

// NewVocab indexes pieces (the bytes each token id decodes to; "" for tokens that are never
// text, such as control tokens) and the end-of-generation ids, allowed once the value is
// complete.
func NewVocab(pieces []string, eog []int32) *Vocab {
	type building struct {
		kids map[byte]int
		ids  []int32
	}
	tree := []building{{kids: map[byte]int{}}, {kids: map[byte]int{}}}
	var plain, plainRunes []int32
	add := func(root int, id int, p string) {
		at := root
		for i := 0; i < len(p); i++ {
			next, ok := tree[at].kids[p[i]]
			if !ok {
				next = len(tree)
				tree = append(tree, building{kids: map[byte]int{}})
				tree[at].kids[p[i]] = next
			}
			at = next
		}
		tree[at].ids = append(tree[at].ids, int32(id))
	}
	for id, p := range pieces {
		if p == "" || slices.Contains(eog, int32(id)) {
			continue
		}
		add(0, id, p)
		if isPlain(p) {
			plain = append(plain, int32(id))
			plainRunes = append(plainRunes, int32(utf8.RuneCountInString(p)))
		} else {
			add(1, id, p)
		}
	}
	v := &Vocab{nodes: make([]trieNode, len(tree)), other: 1, eog: slices.Clone(eog), size: len(pieces),
		plain: plain, plainRunes: plainRunes}
	for i, t := range tree {
		keys := make([]byte, 0, len(t.kids))
		for b := range t.kids {
			keys = append(keys, b)
		}
		slices.Sort(keys)
		v.nodes[i] = trieNode{first: int32(len(v.edges)), n: int32(len(keys)), ids: t.ids}
		for _, b := range keys {
			v.edges = append(v.edges, edge{b: b, node: int32(t.kids[b])})
		}
	}
	return v
}

// Size is the number of token ids the vocabulary covers.
func (v *Vocab) Size() int { return v.size }

// Mask sets allowed[id] for every token that may come next after the text m has followed,
// such that the value can still be completed within budget tokens counting this one (each
// further byte can be written as one token: byte-level vocabularies hold every byte).
// End-of-generation tokens are allowed once the value is complete. allowed must have Size
// entries; it is cleared first. Mask returns how many tokens it allowed.
func (v *Vocab) Mask(m *Matcher, budget int, allowed []bool) int {
	clear(allowed)
	count := 0
	if m.Complete() {
		for _, id := range v.eog {
			allowed[id] = true
			count++
		}
	}
	if budget <= 0 {
		return count
	}
	root := int32(0)
	if f := &m.stack[len(m.stack)-1]; f.n.kind == kString && f.phase == phString && f.cont == 0 && f.n.pattern == nil {
		// Inside a plain string: a plain token of r characters fits while the string has
		// room, and brings the completion r characters nearer while minLength is unmet.
		rem := m.Remaining()
		room := f.n.maxLen - f.i
		short := max(0, f.n.minLen-f.i)
		for k, id := range v.plain {
			r := int(v.plainRunes[k])
			if r <= room && rem-(short-max(0, short-r)) <= budget-1 {
				allowed[id] = true
				count++
			}
		}
		root = v.other
	}
	// A depth-first walk of the trie; states[d] is the matcher after d bytes of the path.
	states := []Matcher{{stack: slices.Clone(m.stack)}}
	var walk func(node int32, depth int)
	walk = func(node int32, depth int) {
		t := &v.nodes[node]
		if depth > 0 && len(t.ids) > 0 {
			if states[depth].Remaining() <= budget-1 {
				for _, id := range t.ids {
					allowed[id] = true
				}
				count += len(t.ids)
			}
		}
		if len(states) <= depth+1 {
			states = append(states, Matcher{})
		}
		for _, e := range v.edges[t.first : t.first+t.n] {
			next := &states[depth+1]
			next.stack = append(next.stack[:0], states[depth].stack...)
			if next.step(e.b) {
				walk(e.node, depth+1)
			}
		}
	}
	walk(root, 0)
	return count
}

// isPlain reports text that a JSON string holds as is: whole UTF-8 characters, none of them
// '"', '\\' or a control character.
func isPlain(p string) bool {
	if !utf8.ValidString(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == '"' || c == '\\' || c == 0x7F {
			return false
		}
	}
	return true
}
