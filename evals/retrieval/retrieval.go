// Package retrieval measures embedding models on a retrieval set (queries, each with the
// documents that answer it, over a pool of documents): recall@k and MRR of the model's
// cosine ranking, of a BM25 baseline (bleve, English analysis), and of their hybrid by
// reciprocal rank fusion. It lives in its own module so that bleve stays out of the product
// binaries.
package retrieval

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/chorus-ai/chorus/engine"
)

// Set is a retrieval set as engine/cmd/embedtrain's evalset writes it.
type Set struct {
	Description string `json:"description"`
	Docs        []struct {
		ID   int    `json:"id"`
		Text string `json:"text"`
	} `json:"docs"`
	Queries []struct {
		Text     string `json:"text"`
		Relevant []int  `json:"relevant"`
	} `json:"queries"`
}

// Load reads a set.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Set
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, d := range s.Docs {
		if d.ID != i {
			return nil, fmt.Errorf("%s: document %d has id %d", path, i, d.ID)
		}
	}
	return &s, nil
}

// Depth is how many documents each ranking keeps: enough for MRR to count any hit that
// matters (1/Depth is noise) and for the fusion to see what either ranking found.
const Depth = 100

// Rankings are, per query, document ids best first (at most Depth).
type Rankings [][]int

// BM25 ranks the documents for each query with bleve's BM25 over English analysis
// (lower-casing, stop words, Porter stemming).
func BM25(s *Set) (Rankings, error) {
	m := bleve.NewIndexMapping()
	m.ScoringModel = index.BM25Scoring
	m.DefaultAnalyzer = en.AnalyzerName
	idx, err := bleve.NewMemOnly(m)
	if err != nil {
		return nil, err
	}
	defer idx.Close()
	b := idx.NewBatch()
	for _, d := range s.Docs {
		if err := b.Index(strconv.Itoa(d.ID), map[string]string{"text": d.Text}); err != nil {
			return nil, err
		}
	}
	if err := idx.Batch(b); err != nil {
		return nil, err
	}
	out := make(Rankings, len(s.Queries))
	for i, q := range s.Queries {
		mq := bleve.NewMatchQuery(q.Text)
		mq.SetField("text")
		req := bleve.NewSearchRequestOptions(mq, Depth, 0, false)
		res, err := idx.Search(req)
		if err != nil {
			return nil, err
		}
		for _, h := range res.Hits {
			id, err := strconv.Atoi(h.ID)
			if err != nil {
				return nil, err
			}
			out[i] = append(out[i], id)
		}
	}
	return out, nil
}

// Embeddings ranks the documents for each query by the cosine similarity of m's
// embeddings (inputs over the context are cut, as a collection's chunks would not be).
func Embeddings(ctx context.Context, m *engine.Model, s *Set) (Rankings, error) {
	embed := func(text string) ([]float32, error) {
		e, err := m.Embed(ctx, text, true)
		return e.Vector, err
	}
	docs := make([][]float32, len(s.Docs))
	for i, d := range s.Docs {
		v, err := embed(d.Text)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		docs[i] = v
	}
	out := make(Rankings, len(s.Queries))
	scores := make([]float32, len(docs))
	for i, q := range s.Queries {
		v, err := embed(q.Text)
		if err != nil {
			return nil, fmt.Errorf("query %d: %w", i, err)
		}
		for j, d := range docs {
			var dot float32
			for k, x := range v {
				dot += x * d[k]
			}
			scores[j] = dot
		}
		out[i] = top(scores, Depth)
	}
	return out, nil
}

// top returns the ids of the n highest scores, best first (ties by id).
func top(scores []float32, n int) []int {
	ids := make([]int, len(scores))
	for i := range ids {
		ids[i] = i
	}
	sort.SliceStable(ids, func(a, b int) bool { return scores[ids[a]] > scores[ids[b]] })
	return ids[:min(n, len(ids))]
}

// RRFK is reciprocal rank fusion's constant (Cormack et al., 2009).
const RRFK = 60

// Fuse combines rankings by weighted reciprocal rank fusion: a document scores the sum, over
// the rankings that hold it, of the ranking's weight times 1/(RRFK+rank). Equal weights are
// plain RRF.
func Fuse(weights []float64, rs ...Rankings) Rankings {
	out := make(Rankings, len(rs[0]))
	for q := range out {
		score := map[int]float64{}
		for i, r := range rs {
			for rank, id := range r[q] {
				score[id] += weights[i] / float64(RRFK+rank+1)
			}
		}
		ids := make([]int, 0, len(score))
		for id := range score {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(a, b int) bool {
			if score[ids[a]] != score[ids[b]] {
				return score[ids[a]] > score[ids[b]]
			}
			return ids[a] < ids[b]
		})
		out[q] = ids[:min(Depth, len(ids))]
	}
	return out
}

// Split divides a set's queries: dev holds those at even positions, on which a hybrid's weight
// is chosen; test those at odd positions, on which it is reported (embedtrain's subset draws
// from test only). Both keep every document.
func Split(s *Set) (dev, test *Set) {
	dev, test = &Set{Description: s.Description + " (dev half)", Docs: s.Docs}, &Set{Description: s.Description + " (test half)", Docs: s.Docs}
	for i, q := range s.Queries {
		if i%2 == 0 {
			dev.Queries = append(dev.Queries, q)
		} else {
			test.Queries = append(test.Queries, q)
		}
	}
	return dev, test
}

// Select keeps the rankings of the queries at the positions Split gives one half (parity 0:
// dev, 1: test).
func (r Rankings) Select(parity int) Rankings {
	var out Rankings
	for i := parity; i < len(r); i += 2 {
		out = append(out, r[i])
	}
	return out
}

// TuneWeight returns the embedding ranking's weight (BM25's being 1), among 0.05 to 1 in steps
// of 0.05, that gives the fused ranking the best MRR on s.
func TuneWeight(s *Set, emb, bm Rankings) float64 {
	best, bestMRR := 1.0, -1.0
	for i := 1; i <= 20; i++ {
		w := float64(i) / 20
		if m := Score(s, Fuse([]float64{w, 1}, emb, bm)).MRR; m > bestMRR {
			best, bestMRR = w, m
		}
	}
	return best
}

// Metrics are a ranking's scores over a set.
type Metrics struct {
	RecallAt1, RecallAt5, RecallAt10 float64
	// MRR is the mean reciprocal rank of the first relevant document (0 when none is in the
	// top Depth).
	MRR float64
}

// Score measures r against s's relevant documents.
func Score(s *Set, r Rankings) Metrics {
	var m Metrics
	for i, q := range s.Queries {
		rel := map[int]bool{}
		for _, d := range q.Relevant {
			rel[d] = true
		}
		for rank, id := range r[i] {
			if !rel[id] {
				continue
			}
			m.MRR += 1 / float64(rank+1)
			if rank < 1 {
				m.RecallAt1++
			}
			if rank < 5 {
				m.RecallAt5++
			}
			if rank < 10 {
				m.RecallAt10++
			}
			break
		}
	}
	n := float64(len(s.Queries))
	return Metrics{RecallAt1: m.RecallAt1 / n, RecallAt5: m.RecallAt5 / n, RecallAt10: m.RecallAt10 / n, MRR: m.MRR / n}
}

func (m Metrics) String() string {
	return fmt.Sprintf("recall@1 %.3f  recall@5 %.3f  recall@10 %.3f  MRR %.3f", m.RecallAt1, m.RecallAt5, m.RecallAt10, m.MRR)
}
