package collection

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/blevesearch/snowballstem"
	"github.com/blevesearch/snowballstem/english"
)

// Mode is how Search ranks a collection's chunks.
type Mode int

// Search modes.
const (
	// Hybrid (the default) fuses the vector and the lexical rankings.
	Hybrid Mode = iota
	// Vector ranks by cosine similarity to the query's embedding alone.
	Vector
	// Lexical ranks by BM25 over the chunks' words alone.
	Lexical
)

// Parameters of the lexical ranking and the fusion. They are those of the
// retrieval eval (evals/retrieval, evals/cmd/retrievaleval) that measured
// the hybrid in models/chorus-embed.md, so that the figures there hold for
// the collections' search.
const (
	// BM25K1 and BM25B are BM25's term-frequency saturation and length
	// normalisation.
	BM25K1 = 1.2
	BM25B  = 0.75
	// RRFK is reciprocal rank fusion's constant (Cormack et al., 2009).
	RRFK = 60
	// VectorWeight is the vector ranking's weight in the fusion against the
	// lexical ranking's 1, chosen on the eval's dev half for chorus-embed.
	VectorWeight = 0.25
	// FusionDepth is how many chunks each ranking hands the fusion.
	FusionDepth = 100
)

// stopWords are common English words left out of the lexical ranking: the
// Snowball project's English list, which bleve's English analysis (the
// retrieval eval's BM25) uses too. Question words are among them, so that
// "How do I run the tests?" ranks by "run" and "test"; so are "s" and "t"
// (of "it's", "don't").
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`i me my myself we our ours ourselves you your yours yourself
		yourselves he him his himself she her hers herself it its itself they them their theirs
		themselves what which who whom this that these those am is are was were be been being have
		has had having do does did doing would should could ought a an the and but if or because as
		until while of at by for with about against between into through during before after above
		below to from up down in out on off over under again further then once here there when where
		why how all any both each few more most other some such no nor not only own same so than too
		very s t`) {
		stopWords[w] = true
	}
}

// tokens cuts text into the terms the lexical ranking compares: runs of
// letters and digits, lowercased, English stop words dropped and the rest
// stemmed (Porter2, "tests" and "testing" both "test").
func tokens(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if stopWords[w] {
			continue
		}
		env := snowballstem.NewEnv(w)
		english.Stem(env)
		out = append(out, env.Current())
	}
	return out
}

// scored is a position in a slice of chunks and its score.
type scored struct {
	i     int
	score float64
}

// bm25 scores chunks against query (Okapi BM25, k1 = BM25K1, b = BM25B,
// idf = ln(1 + (N - n + 0.5) / (n + 0.5)) over the chunks given) and
// returns the positions of those sharing at least one term with it, best
// first (ties in the order given), at most limit of them.
func bm25(query string, chunks []Chunk, limit int) []scored {
	terms := slices.Compact(slices.Sorted(slices.Values(tokens(query))))
	if len(terms) == 0 || len(chunks) == 0 {
		return nil
	}
	tf := make([]map[string]int, len(chunks))
	lens := make([]int, len(chunks))
	df := map[string]int{}
	total := 0
	for i, c := range chunks {
		toks := tokens(c.Text)
		lens[i], total = len(toks), total+len(toks)
		counts := map[string]int{}
		for _, t := range toks {
			if _, ok := slices.BinarySearch(terms, t); ok {
				counts[t]++
			}
		}
		for t := range counts {
			df[t]++
		}
		tf[i] = counts
	}
	n := float64(len(chunks))
	avg := max(float64(total)/n, 1)
	var out []scored
	for i, counts := range tf {
		s := 0.0
		for t, f := range counts {
			idf := math.Log(1 + (n-float64(df[t])+0.5)/(float64(df[t])+0.5))
			ff := float64(f)
			s += idf * ff * (BM25K1 + 1) / (ff + BM25K1*(1-BM25B+BM25B*float64(lens[i])/avg))
		}
		if s > 0 {
			out = append(out, scored{i, s})
		}
	}
	slices.SortStableFunc(out, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	return out[:min(limit, len(out))]
}

func key(c Chunk) string { return c.DocumentID + "#" + strconv.Itoa(c.Index) }

// Search runs q over the collection name in s, in q.Mode:
//
//   - Vector: s.Search; Score is the cosine similarity, -1 to 1.
//   - Lexical: BM25 (see bm25) over the chunks s.Chunks returns for
//     q.Filter; Score is the BM25 score, 0 or more (unbounded), and only
//     chunks sharing a term with q.Text are found.
//   - Hybrid: weighted reciprocal rank fusion of the top FusionDepth of
//     both: each chunk scores the sum, over the rankings holding it, of
//     the ranking's weight (VectorWeight for the vector one, 1 for the
//     lexical one) over RRFK + its rank (from 1). Score is that sum
//     divided by its greatest value, (VectorWeight + 1) / (RRFK + 1), so
//     it is in (0, 1], 1 for a chunk first in both rankings.
//
// q.MinScore applies to Score as each mode defines it.
func Search(ctx context.Context, s Store, name string, q Query) ([]Hit, error) {
	switch q.Mode {
	case Vector:
		return s.Search(ctx, name, q)
	case Lexical, Hybrid:
	default:
		return nil, fmt.Errorf("collection: unknown search mode %d", q.Mode)
	}
	chunks, err := s.Chunks(ctx, name, q.Filter)
	if err != nil {
		return nil, err
	}
	lex := bm25(q.Text, chunks, FusionDepth)
	if q.Mode == Lexical {
		var hits []Hit
		for _, r := range lex {
			if len(hits) == q.TopK || q.MinScore != nil && r.score < float64(*q.MinScore) {
				break
			}
			hits = append(hits, Hit{Chunk: chunks[r.i], Score: float32(r.score)})
		}
		return hits, nil
	}
	vq := q
	vq.TopK, vq.MinScore = FusionDepth, nil
	vec, err := s.Search(ctx, name, vq)
	if err != nil {
		return nil, err
	}
	fused := map[string]*Hit{}
	var order []*Hit
	add := func(c Chunk, w float64, rank int) {
		h := fused[key(c)]
		if h == nil {
			h = &Hit{Chunk: c}
			fused[key(c)] = h
			order = append(order, h)
		}
		h.Score += float32(w / float64(RRFK+rank+1))
	}
	for rank, h := range vec {
		add(h.Chunk, VectorWeight, rank)
	}
	for rank, r := range lex {
		add(chunks[r.i], 1, rank)
	}
	norm := float32((VectorWeight + 1) / (RRFK + 1))
	slices.SortStableFunc(order, func(a, b *Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.DocumentID, b.DocumentID), cmp.Compare(a.Index, b.Index))
	})
	var hits []Hit
	for _, h := range order {
		h.Score /= norm
		if len(hits) == q.TopK || q.MinScore != nil && h.Score < *q.MinScore {
			break
		}
		h.Vector = nil
		hits = append(hits, *h)
	}
	return hits, nil
}
