package retrieval

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/chorus-ai/chorus/engine"
)

// The figures models/chorus-embed.md reports for the fixed subset
// (models/chorus-embed-eval.json, 300 queries over 2000 documents). The
// model's recall@5 may not fall more than recallMargin below its figure; a
// model that scores better updates the card and these.
const (
	cardModelRecall5 = 0.483
	cardBM25Recall5  = 0.833
	// cardWeight is the hybrid's embedding weight (BM25's 1), chosen on the full set's
	// dev half (go run ./evals/cmd/retrievaleval).
	cardWeight   = 0.25
	recallMargin = 0.03
)

func load(t *testing.T) (*Set, *engine.Model) {
	t.Helper()
	models := filepath.Join("..", "..", "models")
	s, err := Load(filepath.Join(models, "chorus-embed-eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(filepath.Join(models, "chorus-embed.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return s, m
}

// TestShippedModelRetrieval recomputes the card's figures on the fixed subset: the shipped
// model's, BM25's and the hybrid's. It fails when the model's recall@5 drops more than
// recallMargin below the card's, when BM25 (deterministic) moves, or when the hybrid no
// longer beats both.
func TestShippedModelRetrieval(t *testing.T) {
	s, m := load(t)
	emb, err := Embeddings(context.Background(), m, s)
	if err != nil {
		t.Fatal(err)
	}
	bm, err := BM25(s)
	if err != nil {
		t.Fatal(err)
	}
	model, base, hybrid := Score(s, emb), Score(s, bm), Score(s, Fuse([]float64{cardWeight, 1}, emb, bm))
	t.Logf("chorus-embed  %v", model)
	t.Logf("BM25          %v", base)
	t.Logf("hybrid (RRF, w=%.2f)  %v", cardWeight, hybrid)
	if model.RecallAt5 < cardModelRecall5-recallMargin {
		t.Errorf("chorus-embed recall@5 %.3f, the card says %.3f (margin %.2f)", model.RecallAt5, cardModelRecall5, recallMargin)
	}
	if d := base.RecallAt5 - cardBM25Recall5; d > 0.005 || d < -0.005 {
		t.Errorf("BM25 recall@5 %.3f, the card says %.3f", base.RecallAt5, cardBM25Recall5)
	}
	if hybrid.RecallAt5 <= max(model.RecallAt5, base.RecallAt5) || hybrid.MRR <= max(model.MRR, base.MRR) {
		t.Errorf("the hybrid (%v) does not beat both the model (%v) and BM25 (%v)", hybrid, model, base)
	}
}

// TestScoreAndFuse checks the measures on a hand-made set: they must be able to tell a
// good ranking from a bad one.
func TestScoreAndFuse(t *testing.T) {
	s := &Set{}
	s.Queries = append(s.Queries, struct {
		Text     string `json:"text"`
		Relevant []int  `json:"relevant"`
	}{Text: "a", Relevant: []int{2}}, struct {
		Text     string `json:"text"`
		Relevant []int  `json:"relevant"`
	}{Text: "b", Relevant: []int{5, 7}})
	r := Rankings{{2, 0, 1}, {0, 1, 3, 4, 6, 7}}
	got := Score(s, r)
	if got.RecallAt1 != 0.5 || got.RecallAt5 != 0.5 || got.RecallAt10 != 1 || got.MRR != (1+1.0/6)/2 {
		t.Errorf("Score = %+v", got)
	}
	// Document 7 is second in one ranking and absent from the other; fused, it comes
	// before documents only one ranking holds lower down.
	f := Fuse([]float64{1, 1}, Rankings{{1, 2}, {9, 7, 3}}, Rankings{{2, 1}, {7, 8}})
	if f[0][0] != 1 && f[0][0] != 2 || f[1][0] != 7 {
		t.Errorf("Fuse = %v", f)
	}
	// Weighted: the second ranking's order wins when it weighs more.
	if f := Fuse([]float64{0.2, 1}, Rankings{{1, 2}}, Rankings{{2, 1}}); f[0][0] != 2 {
		t.Errorf("weighted Fuse = %v, want document 2 first", f)
	}
}
