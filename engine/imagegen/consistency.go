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
// finds the K training pictures nearest to it in a small index, and counts how many of those
// share a content word with the caption. The same count for pictures drawn from other captions
// is the baseline: a model that ignored its prompt would score the same on both.
//
// "Nearest" is measured two ways, and both are reported: by colour layout (the mean colour of
// each block of a 4×4 grid, squared distance), which asks for the right shape in the right
// colours, and by palette histogram (how many pixels of each palette colour, wherever they
// are; L1 distance), which asks only for the right colours in the right amounts.

// FeatureGrid is the side of the layout grid: the layout is the mean colour of each of
// FeatureGrid² blocks.
const FeatureGrid = 4

// LayoutLen is the length of a layout (r, g, b per block).
const LayoutLen = FeatureGrid * FeatureGrid * 3

// Feature is what the neighbour search knows of a picture.
type Feature struct {
	// Layout is the picture's coarse colour layout.
	Layout [LayoutLen]uint8
	// Hist counts the picture's pixels of each palette colour.
	Hist [256]uint16
}

// Features computes the feature of a Grid×Grid raster of palette indices.
func Features(p imagetok.Palette, idx []uint8) Feature {
	const block = imagetok.Grid / FeatureGrid
	var sum [LayoutLen]int
	var f Feature
	for y := range imagetok.Grid {
		for x := range imagetok.Grid {
			i := idx[y*imagetok.Grid+x]
			f.Hist[i]++
			c := p[i]
			k := 3 * ((y/block)*FeatureGrid + x/block)
			sum[k] += int(c[0])
			sum[k+1] += int(c[1])
			sum[k+2] += int(c[2])
		}
	}
	for i, s := range sum {
		f.Layout[i] = uint8((s + block*block/2) / (block * block))
	}
	return f
}

// layoutDistance is the squared distance between two layouts.
func layoutDistance(a, b *Feature) int {
	d := 0
	for i := range a.Layout {
		x := int(a.Layout[i]) - int(b.Layout[i])
		d += x * x
	}
	return d
}

// histDistance is the L1 distance between two palette histograms: twice the number of pixels
// whose colour would have to change to turn one picture's colours into the other's.
func histDistance(a, b *Feature) int {
	d := 0
	for i := range a.Hist {
		x := int(a.Hist[i]) - int(b.Hist[i])
		d += max(x, -x)
	}
	return d
}

// encodeHist writes a histogram's non-zero bins as (colour, count-1) byte pairs in colour
// order; decodeHist reads them back. A picture has imagetok.Pixels pixels, so a count fits a
// byte less one.
func encodeHist(h *[256]uint16) []byte {
	var out []byte
	for i, n := range h {
		if n > 0 {
			out = append(out, byte(i), byte(n-1))
		}
	}
	return out
}

func decodeHist(b []byte, h *[256]uint16) error {
	if len(b)%2 != 0 {
		return fmt.Errorf("odd histogram length %d", len(b))
	}
	total := 0
	for i := 0; i < len(b); i += 2 {
		h[b[i]] += uint16(b[i+1]) + 1
		total += int(b[i+1]) + 1
	}
	if total != imagetok.Pixels {
		return fmt.Errorf("histogram of %d pixels, want %d", total, imagetok.Pixels)
	}
	return nil
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

// IndexEntry is one training picture: its layout and its histogram (base64; the histogram
// as encodeHist writes it) and its caption's word ids.
type IndexEntry struct {
	F string `json:"f"`
	H string `json:"h"`
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
	e := IndexEntry{F: base64.StdEncoding.EncodeToString(f.Layout[:]),
		H: base64.StdEncoding.EncodeToString(encodeHist(&f.Hist))}
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
		if err != nil || len(raw) != LayoutLen {
			return nil, fmt.Errorf("imagegen: index entry %d: bad layout", i)
		}
		copy(d.f[i].Layout[:], raw)
		raw, err = base64.StdEncoding.DecodeString(e.H)
		if err == nil {
			err = decodeHist(raw, &d.f[i].Hist)
		}
		if err != nil {
			return nil, fmt.Errorf("imagegen: index entry %d: bad histogram: %v", i, err)
		}
		for _, id := range e.W {
			if id < 0 || id >= len(ix.Words) {
				return nil, fmt.Errorf("imagegen: index entry %d: word %d of %d", i, id, len(ix.Words))
			}
			d.words[i] = append(d.words[i], ix.Words[id])
		}
	}
	return d, nil
}

// nearest returns the k entries closest to f by dist (ties to the lower index).
func (d *decoded) nearest(f *Feature, k int, dist func(a, b *Feature) int) []int {
	type hit struct{ i, d int }
	hits := make([]hit, len(d.f))
	for i := range d.f {
		hits[i] = hit{i, dist(f, &d.f[i])}
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

// Scores are one measure's outcome.
type Scores struct {
	// Matched is the share of the K nearest training pictures to each prompt's picture whose
	// captions share a word with that prompt.
	Matched float64
	// Shuffled is the same share when each prompt is compared with the picture drawn for
	// another prompt (the next one in the list): the random-caption baseline.
	Shuffled float64
}

// Report is the outcome of the check, averaged over its rounds.
type Report struct {
	Prompts int
	K       int
	Rounds  int
	// Layout finds neighbours by colour layout, Colours by palette histogram.
	Layout, Colours Scores
	// Chance is the share of all indexed pictures whose captions share a word with a prompt,
	// averaged over the prompts: what K random training pictures would score.
	Chance float64
}

// RoundSeed is how far apart Consistency's rounds are in seed: round r draws prompt i's
// picture with seed base.Seed + r·RoundSeed + i.
const RoundSeed = 100

// Consistency draws one picture per index prompt in each of rounds rounds, with the sampling
// settings of base, and scores them.
func Consistency(ctx context.Context, m *Model, ix *Index, k, rounds int, base Request) (Report, error) {
	d, err := ix.decode()
	if err != nil {
		return Report{}, err
	}
	n := len(ix.Prompts)
	if n < 2 || k < 1 || rounds < 1 {
		return Report{}, fmt.Errorf("imagegen: consistency needs two prompts, k >= 1 and a round")
	}
	var r Report
	for round := range rounds {
		feats := make([]Feature, n)
		for i, p := range ix.Prompts {
			req := base
			req.Prompt, req.Seed = p, base.Seed+uint64(round*RoundSeed+i)
			idx, err := m.Generate(ctx, req, nil)
			if err != nil {
				return Report{}, err
			}
			feats[i] = Features(m.Palette(), idx)
		}
		one := score(d, ix.Prompts, feats, k)
		r.Prompts, r.K, r.Chance = one.Prompts, one.K, one.Chance
		r.Layout.Matched += one.Layout.Matched / float64(rounds)
		r.Layout.Shuffled += one.Layout.Shuffled / float64(rounds)
		r.Colours.Matched += one.Colours.Matched / float64(rounds)
		r.Colours.Shuffled += one.Colours.Shuffled / float64(rounds)
	}
	r.Rounds = rounds
	return r, nil
}

// score scores one round: feats[i] is the picture drawn for prompts[i].
func score(d *decoded, prompts []string, feats []Feature, k int) Report {
	n := len(prompts)
	r := Report{Prompts: n, K: k, Rounds: 1}
	words := make([]map[string]bool, n)
	for i, p := range prompts {
		words[i] = map[string]bool{}
		for _, w := range ContentWords(p) {
			words[i][w] = true
		}
	}
	count := func(f *Feature, prompt map[string]bool, dist func(a, b *Feature) int) float64 {
		hit := 0
		nn := d.nearest(f, k, dist)
		for _, j := range nn {
			if shares(d.words[j], prompt) {
				hit++
			}
		}
		return float64(hit) / float64(len(nn))
	}
	for _, m := range []struct {
		s    *Scores
		dist func(a, b *Feature) int
	}{{&r.Layout, layoutDistance}, {&r.Colours, histDistance}} {
		for i := range n {
			m.s.Matched += count(&feats[i], words[i], m.dist) / float64(n)
			m.s.Shuffled += count(&feats[(i+1)%n], words[i], m.dist) / float64(n)
		}
	}
	for i := range n {
		hit := 0
		for j := range d.words {
			if shares(d.words[j], words[i]) {
				hit++
			}
		}
		r.Chance += float64(hit) / float64(len(d.words)) / float64(n)
	}
	return r
}
