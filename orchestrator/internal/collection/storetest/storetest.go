// Package storetest is the behaviour every collection.Store must have, as
// one test suite that each implementation runs against itself.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/chorus-ai/chorus/orchestrator/internal/collection"
)

// Opener opens the store under test: a new, empty one when fresh is true,
// otherwise the same data as the last store it opened (a restart). It
// closes the store when the test ends, even if the suite closed it first.
type Opener func(t *testing.T, fresh bool) collection.Store

// unit returns the unit vector at angle deg in the plane of the first two
// of three coordinates: the cosine similarity of unit(a) and unit(b) is
// cos(a-b), so the order of results is known in advance.
func unit(deg float64) []float32 {
	r := deg * math.Pi / 180
	return []float32{float32(math.Cos(r)), float32(math.Sin(r)), 0}
}

func info(name string) collection.Info {
	return collection.Info{Name: name, Description: "d " + name, Model: "m", Dimensions: 3, ChunkSize: 100, ChunkOverlap: 10,
		Created: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
}

// chunks makes n chunks of doc, chunk i at angle base+10*i degrees.
func chunks(doc string, n int, base float64, md map[string]string) []collection.Chunk {
	out := make([]collection.Chunk, n)
	for i := range out {
		out[i] = collection.Chunk{DocumentID: doc, Index: i, Text: fmt.Sprintf("%s chunk %d", doc, i), Metadata: md, Vector: unit(base + 10*float64(i))}
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ids(hits []collection.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = fmt.Sprintf("%s#%d", h.DocumentID, h.Index)
	}
	return out
}

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("lifecycle", func(t *testing.T) {
		s := open(t, true)
		if _, err := s.Get(ctx, "a"); !errors.Is(err, collection.ErrNotFound) {
			t.Fatalf("Get of a missing collection: %v, want ErrNotFound", err)
		}
		must(t, s.Create(ctx, info("b")))
		must(t, s.Create(ctx, info("a")))
		if err := s.Create(ctx, info("a")); !errors.Is(err, collection.ErrExists) {
			t.Fatalf("second Create: %v, want ErrExists", err)
		}
		got, err := s.Get(ctx, "a")
		must(t, err)
		want := info("a")
		if got.Name != "a" || got.Description != want.Description || got.Model != "m" || got.Dimensions != 3 ||
			got.ChunkSize != 100 || got.ChunkOverlap != 10 || !got.Created.Equal(want.Created) || got.Chunks != 0 {
			t.Errorf("Get = %+v, want %+v", got, want)
		}
		list, err := s.List(ctx)
		must(t, err)
		if len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
			t.Errorf("List = %+v, want a and b by name", list)
		}
		must(t, s.Delete(ctx, "a"))
		if err := s.Delete(ctx, "a"); !errors.Is(err, collection.ErrNotFound) {
			t.Errorf("second Delete: %v, want ErrNotFound", err)
		}
		for name, err := range map[string]error{
			"Put":    s.Put(ctx, "a", []string{"x"}, chunks("x", 1, 0, nil)),
			"Search": func() error { _, err := s.Search(ctx, "a", collection.Query{Vector: unit(0), TopK: 1}); return err }(),
			"DeleteDocuments": func() error {
				_, err := s.DeleteDocuments(ctx, "a", []string{"x"})
				return err
			}(),
		} {
			if !errors.Is(err, collection.ErrNotFound) {
				t.Errorf("%s on a deleted collection: %v, want ErrNotFound", name, err)
			}
		}
	})
	t.Run("search", func(t *testing.T) {
		s := open(t, true)
		must(t, s.Create(ctx, info("c")))
		must(t, s.Put(ctx, "c", []string{"x", "y"}, append(chunks("x", 3, 0, map[string]string{"lang": "en", "kind": "doc"}),
			chunks("y", 3, 5, map[string]string{"lang": "fr"})...)))
		if got, _ := s.Get(ctx, "c"); got.Chunks != 6 {
			t.Errorf("Chunks = %d, want 6", got.Chunks)
		}
		min := float32(math.Cos(17 * math.Pi / 180))
		tests := []struct {
			name  string
			q     collection.Query
			want  []string
			score float32 // of the first hit
		}{
			{name: "order", q: collection.Query{Vector: unit(12), TopK: 3}, want: []string{"x#1", "y#1", "y#0"}, score: float32(math.Cos(2 * math.Pi / 180))},
			{name: "top_k over the size", q: collection.Query{Vector: unit(40), TopK: 50}, want: []string{"y#2", "x#2", "y#1", "x#1", "y#0", "x#0"}},
			{name: "filter", q: collection.Query{Vector: unit(12), TopK: 5, Filter: map[string]string{"lang": "en"}}, want: []string{"x#1", "x#2", "x#0"}},
			{name: "filter two keys", q: collection.Query{Vector: unit(0), TopK: 5, Filter: map[string]string{"lang": "en", "kind": "doc"}}, want: []string{"x#0", "x#1", "x#2"}},
			{name: "filter none", q: collection.Query{Vector: unit(0), TopK: 5, Filter: map[string]string{"lang": "de"}}, want: []string{}},
			{name: "min score", q: collection.Query{Vector: unit(0), TopK: 5, MinScore: &min}, want: []string{"x#0", "y#0", "x#1", "y#1"}},
		}
		for _, tt := range tests {
			hits, err := s.Search(ctx, "c", tt.q)
			must(t, err)
			if fmt.Sprint(ids(hits)) != fmt.Sprint(tt.want) {
				t.Errorf("%s: hits %v, want %v", tt.name, ids(hits), tt.want)
			}
			if tt.score != 0 && len(hits) > 0 && math.Abs(float64(hits[0].Score-tt.score)) > 1e-4 {
				t.Errorf("%s: score %v, want %v", tt.name, hits[0].Score, tt.score)
			}
		}
		hits, err := s.Search(ctx, "c", collection.Query{Vector: unit(0), TopK: 1})
		must(t, err)
		if h := hits[0]; h.Text != "x chunk 0" || h.Metadata["lang"] != "en" || h.Metadata["kind"] != "doc" || len(h.Metadata) != 2 {
			t.Errorf("hit = %+v, want x's chunk 0 with its metadata only", h)
		}
		// Replacing a document drops its old chunks, even the ones past
		// the new count.
		must(t, s.Put(ctx, "c", []string{"x"}, chunks("x", 1, 90, nil)))
		if got, _ := s.Get(ctx, "c"); got.Chunks != 4 {
			t.Errorf("after replacing x: Chunks = %d, want 4", got.Chunks)
		}
		n, err := s.DeleteDocuments(ctx, "c", []string{"y", "nope"})
		must(t, err)
		if n != 3 {
			t.Errorf("DeleteDocuments removed %d chunks, want 3", n)
		}
		hits, err = s.Search(ctx, "c", collection.Query{Vector: unit(0), TopK: 5})
		must(t, err)
		if fmt.Sprint(ids(hits)) != "[x#0]" || hits[0].Metadata["lang"] != "" {
			t.Errorf("after deletes: %v %v, want x#0 alone, without metadata", ids(hits), hits)
		}
	})
	t.Run("lexical and hybrid", func(t *testing.T) {
		s := open(t, true)
		if _, err := s.Chunks(ctx, "h", nil); !errors.Is(err, collection.ErrNotFound) {
			t.Fatalf("Chunks of a missing collection: %v, want ErrNotFound", err)
		}
		must(t, s.Create(ctx, info("h")))
		if got, err := s.Chunks(ctx, "h", nil); err != nil || len(got) != 0 {
			t.Fatalf("Chunks of an empty collection: %v, %v", got, err)
		}
		// The vector ranking for unit(0) is h#1, h#2, h#3, h#0; the
		// lexical one for "apples" is h#3, h#0 (the others lack the word).
		texts := []string{"Apple pie: a recipe with apples.", "The weather today is cold.", "Banana bread", "apple"}
		angles := []float64{90, 0, 10, 80}
		var cs []collection.Chunk
		for i, text := range texts {
			md := map[string]string{"lang": "en"}
			if i == 3 {
				md["lang"] = "fr"
			}
			cs = append(cs, collection.Chunk{DocumentID: "h", Index: i, Text: text, Metadata: md, Vector: unit(angles[i])})
		}
		must(t, s.Put(ctx, "h", []string{"h"}, cs))
		all, err := s.Chunks(ctx, "h", nil)
		must(t, err)
		if len(all) != 4 || all[0].Text != texts[0] || all[3].Metadata["lang"] != "fr" || len(all[3].Metadata) != 1 || all[2].Vector != nil {
			t.Errorf("Chunks = %+v, want the 4 chunks in order, with their metadata, without vectors", all)
		}
		if fr, err := s.Chunks(ctx, "h", map[string]string{"lang": "fr"}); err != nil || len(fr) != 1 || fr[0].Index != 3 {
			t.Errorf("Chunks filtered on lang=fr: %+v, %v; want h#3 alone", fr, err)
		}
		// BM25 with avgdl 2.5 (10 terms: apple pie recip appl | weather
		// today cold | banana bread | appl), idf ln(1 + 2.5/2.5) = ln 2.
		bm := func(tf, dl float64) float32 {
			return float32(math.Ln2 * tf * 2.2 / (tf + 1.2*(0.25+0.75*dl/2.5)))
		}
		// The hybrid: 0.25/(60+vector rank) + 1/(60+lexical rank), over
		// its greatest value 1.25/61.
		rrf := func(v, l int) float32 {
			s := 0.25 / float64(60+v)
			if l > 0 {
				s += 1 / float64(60+l)
			}
			return float32(s / (1.25 / 61))
		}
		lo, half := float32(1.25*math.Ln2), float32(0.5) // lo: between the two BM25 scores
		tests := []struct {
			name   string
			q      collection.Query
			want   []string
			scores []float32
		}{
			{name: "vector", q: collection.Query{Mode: collection.Vector, Text: "apples", Vector: unit(0), TopK: 4}, want: []string{"h#1", "h#2", "h#3", "h#0"}},
			{name: "lexical", q: collection.Query{Mode: collection.Lexical, Text: "apples", TopK: 4}, want: []string{"h#3", "h#0"},
				scores: []float32{bm(1, 1), bm(2, 4)}},
			{name: "lexical top_k", q: collection.Query{Mode: collection.Lexical, Text: "APPLE!", TopK: 1}, want: []string{"h#3"}},
			{name: "lexical min score", q: collection.Query{Mode: collection.Lexical, Text: "apples", TopK: 4, MinScore: &lo}, want: []string{"h#3"}},
			{name: "lexical stop words only", q: collection.Query{Mode: collection.Lexical, Text: "the is a", TopK: 4}, want: []string{}},
			{name: "lexical filter", q: collection.Query{Mode: collection.Lexical, Text: "apples", TopK: 4, Filter: map[string]string{"lang": "en"}}, want: []string{"h#0"}},
			{name: "hybrid", q: collection.Query{Text: "apples", Vector: unit(0), TopK: 4}, want: []string{"h#3", "h#0", "h#1", "h#2"},
				scores: []float32{rrf(3, 1), rrf(4, 2), rrf(1, 0), rrf(2, 0)}},
			{name: "hybrid top_k", q: collection.Query{Text: "apples", Vector: unit(0), TopK: 2}, want: []string{"h#3", "h#0"}},
			{name: "hybrid min score", q: collection.Query{Text: "apples", Vector: unit(0), TopK: 4, MinScore: &half}, want: []string{"h#3", "h#0"}},
			{name: "hybrid filter", q: collection.Query{Text: "apples", Vector: unit(0), TopK: 4, Filter: map[string]string{"lang": "fr"}}, want: []string{"h#3"},
				scores: []float32{1}},
		}
		for _, tt := range tests {
			hits, err := collection.Search(ctx, s, "h", tt.q)
			must(t, err)
			if fmt.Sprint(ids(hits)) != fmt.Sprint(tt.want) {
				t.Errorf("%s: hits %v, want %v", tt.name, ids(hits), tt.want)
			}
			for i, want := range tt.scores {
				if i < len(hits) && math.Abs(float64(hits[i].Score-want)) > 1e-4 {
					t.Errorf("%s: score of %s %v, want %v", tt.name, ids(hits)[i], hits[i].Score, want)
				}
			}
		}
		hits, err := collection.Search(ctx, s, "h", collection.Query{Text: "apples", Vector: unit(0), TopK: 1})
		must(t, err)
		if h := hits[0]; h.Text != "apple" || h.Metadata["lang"] != "fr" || h.Vector != nil {
			t.Errorf("hybrid hit = %+v, want h#3 with its text and metadata, without its vector", h)
		}
		if _, err := collection.Search(ctx, s, "nope", collection.Query{Text: "apples", Vector: unit(0), TopK: 1}); !errors.Is(err, collection.ErrNotFound) {
			t.Errorf("hybrid Search of a missing collection: %v, want ErrNotFound", err)
		}
	})
	t.Run("restart", func(t *testing.T) {
		s := open(t, true)
		must(t, s.Create(ctx, info("p")))
		must(t, s.Create(ctx, info("gone")))
		must(t, s.Put(ctx, "p", []string{"x"}, chunks("x", 2, 0, map[string]string{"k": "v"})))
		must(t, s.Delete(ctx, "gone"))
		must(t, s.Close())
		s = open(t, false)
		got, err := s.Get(ctx, "p")
		must(t, err)
		if got.Chunks != 2 || got.Description != "d p" || !got.Created.Equal(info("p").Created) {
			t.Errorf("after restart: %+v", got)
		}
		if _, err := s.Get(ctx, "gone"); !errors.Is(err, collection.ErrNotFound) {
			t.Errorf("deleted collection after restart: %v, want ErrNotFound", err)
		}
		hits, err := s.Search(ctx, "p", collection.Query{Vector: unit(10), TopK: 1, Filter: map[string]string{"k": "v"}})
		must(t, err)
		if fmt.Sprint(ids(hits)) != "[x#1]" || hits[0].Text != "x chunk 1" {
			t.Errorf("search after restart: %v", hits)
		}
		// The lexical ranking comes back too (from the stored chunks).
		hits, err = collection.Search(ctx, s, "p", collection.Query{Mode: collection.Lexical, Text: "1", TopK: 2, Filter: map[string]string{"k": "v"}})
		must(t, err)
		if fmt.Sprint(ids(hits)) != "[x#1]" {
			t.Errorf("lexical search after restart: %v, want x#1", ids(hits))
		}
	})
}
