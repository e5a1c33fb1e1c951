package imagegen

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/chorus-ai/chorus/engine/imagetok"
)

// The prompt-consistency check asks whether a generated picture looks like training pictures
// whose captions share a word with its prompt: for each held-out caption it draws a picture,
// finds the K training pictures nearest to it (by their colours on a coarse grid) in a small
// index, and counts how many of those share a content word with the caption. The same count
// for pictures drawn from other captions is the baseline: a model that ignored its prompt
// would score the same on both.

// FeatureGrid is the side of the coarse grid: a picture's feature is the mean colour of each
// of FeatureGrid² blocks.
const FeatureGrid = 4

// FeatureLen is the length of a feature vector (r, g, b per block).
const FeatureLen = FeatureGrid * FeatureGrid * 3

// Feature is a picture's coarse colour layout.
type Feature [FeatureLen]uint8

// Features computes the feature of a Grid×Grid raster of palette indices.
func Features(p imagetok.Palette, idx []uint8) Feature {
	const block = imagetok.Grid / FeatureGrid
	var sum [FeatureLen]int
	for y := range imagetok.Grid {
		for x := range imagetok.Grid {
			c := p[idx[y*imagetok.Grid+x]]
			k := 3 * ((y/block)*FeatureGrid + x/block)
			sum[k] += int(c[0])
			sum[k+1] += int(c[1])
			sum[k+2] += int(c[2])
		}
	}
	var f Feature
	for i, s := range sum {
		f[i] = uint8((s + block*block/2) / (block * block))
	}
	return f
}

func distance(a, b *Feature) int {
	d := 0
	for i := range a {
		x := int(a[i]) - int(b[i])
		d += x * x
	}
	return d
}

// stopWords carry no subject.
var stopWords = map[string]bool{"the": true, "and": true, "with": true, "for": true, "from": true, "of": true,
	"a": true, "an": true, "in": true, "on": true, "at": true, "to": true, "by": true, "or": true, "its": true}

// ContentWords returns the distinct lowercase words of s of two or more letters that are not
// stop words, in order of first appearance.
func ContentWords(s string) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len([]rune(w)) < 2 || stopWords[w] || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out
}

// Index is the committed summary of the training pictures the check needs (the corpus itself
// is not in the repository): each picture's feature and caption words, and the held-out
// captions to prompt with.
type Index struct {
	// Words is the vocabulary that entries refer to.
	Words []string `json:"words"`
	// Entries are the training pictures.
	Entries []IndexEntry `json:"entries"`
	// Prompts are held-out captions (pictures the model never saw).
	Prompts []string `json:"prompts"`
}

// IndexEntry is one training picture: its feature (base64) and its caption's word ids.
type IndexEntry struct {
	F string `json:"f"`
	W []int  `json:"w"`
}

// IndexBuilder collects entries, numbering words as they come.
type IndexBuilder struct {
	ix  Index
	ids map[string]int
}

// Add records a training picture with its caption text.
func (b *IndexBuilder) Add(f Feature, caption string) {
	if b.ids == nil {
		b.ids = map[string]int{}
	}
	e := IndexEntry{F: base64.StdEncoding.EncodeToString(f[:])}
	for _, w := range ContentWords(caption) {
		id, ok := b.ids[w]
		if !ok {
			id = len(b.ix.Words)
			b.ids[w] = id
			b.ix.Words = append(b.ix.Words, w)
		}
		e.W = append(e.W, id)
	}
	b.ix.Entries = append(b.ix.Entries, e)
}

// Index returns the index with prompts.
func (b *IndexBuilder) Index(prompts []string) *Index {
	ix := b.ix
	ix.Prompts = prompts
	return &ix
}

// decoded is an index ready for search.
type decoded struct {
	f     []Feature
	words [][]string
}

func (ix *Index) decode() (*decoded, error) {
	d := &decoded{f: make([]Feature, len(ix.Entries)), words: make([][]string, len(ix.Entries))}
	for i, e := range ix.Entries {
		raw, err := base64.StdEncoding.DecodeString(e.F)
		if err != nil || len(raw) != FeatureLen {
			return nil, fmt.Errorf("imagegen: index entry %d: bad feature", i)
		}
		copy(d.f[i][:], raw)
		for _, id := range e.W {
			if id < 0 || id >= len(ix.Words) {
				return nil, fmt.Errorf("imagegen: index entry %d: word %d of %d", i, id, len(ix.Words))
			}
			d.words[i] = append(d.words[i], ix.Words[id])
		}
	}
	return d, nil
}

// nearest returns the k entries closest to f (ties to the lower index).
func (d *decoded) nearest(f *Feature, k int) []int {
	type hit struct{ i, d int }
	hits := make([]hit, len(d.f))
	for i := range d.f {
		hits[i] = hit{i, distance(f, &d.f[i])}
	}
	sort.Slice(hits, func(a, b int) bool {
		if hits[a].d != hits[b].d {
			return hits[a].d < hits[b].d
		}
		return hits[a].i < hits[b].i
	})
	out := make([]int, 0, k)
	for _, h := range hits[:min(k, len(hits))] {
		out = append(out, h.i)
	}
	return out
}

func shares(words []string, prompt map[string]bool) bool {
	for _, w := range words {
		if prompt[w] {
			return true
		}
	}
	return false
}

// Report is the outcome of the check.
type Report struct {
	Prompts int
	K       int
	// Matched is the share of the K nearest training pictures to each prompt's picture whose
	// captions share a word with that prompt.
	Matched float64
	// Shuffled is the same share when each prompt is compared with the picture drawn for
	// another prompt (the next one in the list): the random-caption baseline.
	Shuffled float64
	// Chance is the share of all indexed pictures whose captions share a word with a prompt,
	// averaged over the prompts: what K random training pictures would score.
	Chance float64
}

// Consistency draws one picture per index prompt with the sampling settings of base (seed
// base.Seed+i for prompt i) and scores it.
func Consistency(ctx context.Context, m *Model, ix *Index, k int, base Request) (Report, error) {
	d, err := ix.decode()
	if err != nil {
		return Report{}, err
	}
	n := len(ix.Prompts)
	if n < 2 || k < 1 {
		return Report{}, fmt.Errorf("imagegen: consistency needs two prompts and k >= 1")
	}
	feats := make([]Feature, n)
	for i, p := range ix.Prompts {
		req := base
		req.Prompt, req.Seed = p, base.Seed+uint64(i)
		idx, err := m.Generate(ctx, req, nil)
		if err != nil {
			return Report{}, err
		}
		feats[i] = Features(m.Palette(), idx)
	}
	return score(d, ix.Prompts, feats, k), nil
}

func score(d *decoded, prompts []string, feats []Feature, k int) Report {
	n := len(prompts)
	r := Report{Prompts: n, K: k}
	words := make([]map[string]bool, n)
	for i, p := range prompts {
		words[i] = map[string]bool{}
		for _, w := range ContentWords(p) {
			words[i][w] = true
		}
	}
	count := func(f *Feature, prompt map[string]bool) float64 {
		hit := 0
		nn := d.nearest(f, k)
		for _, j := range nn {
			if shares(d.words[j], prompt) {
				hit++
			}
		}
		return float64(hit) / float64(len(nn))
	}
	for i := range n {
		r.Matched += count(&feats[i], words[i])
		r.Shuffled += count(&feats[(i+1)%n], words[i])
		hit := 0
		for j := range d.words {
			if shares(d.words[j], words[i]) {
				hit++
			}
		}
		r.Chance += float64(hit) / float64(len(d.words))
	}
	r.Matched /= float64(n)
	r.Shuffled /= float64(n)
	r.Chance /= float64(n)
	return r
}
