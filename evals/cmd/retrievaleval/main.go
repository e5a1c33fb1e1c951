// Command retrievaleval measures an embedding model on a retrieval set beside BM25 and
// their hybrid (package retrieval), for the model card:
//
//	go run ./evals/cmd/retrievaleval -set out/embedtrain/retrieval.json -model models/chorus-embed.gguf
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/chorus-ai/chorus/engine"

	"github.com/chorus-ai/chorus/evals/retrieval"
)

func main() {
	set := flag.String("set", "out/embedtrain/retrieval.json", "retrieval set (embedtrain evalset)")
	model := flag.String("model", "models/chorus-embed.gguf", "GGUF embedding model")
	flag.Parse()
	if err := run(*set, *model, weightFlag); err != nil {
		fmt.Fprintln(os.Stderr, "retrievaleval:", err)
		os.Exit(1)
	}
}

// weightFlag, when set, is the hybrid's weight for a set with no dev half of its own (the
// subset, drawn from the test half): figures for it alone, no tuning.
var weightFlag = flag.Float64("weight", 0, "the weighted hybrid's embedding weight (BM25 1); 0: choose it on the set's dev half")

func run(setPath, modelPath string, weight *float64) error {
	s, err := retrieval.Load(setPath)
	if err != nil {
		return err
	}
	m, err := engine.Load(modelPath)
	if err != nil {
		return err
	}
	defer m.Close()
	start := time.Now()
	emb, err := retrieval.Embeddings(context.Background(), m, s)
	if err != nil {
		return err
	}
	embTime := time.Since(start)
	start = time.Now()
	bm, err := retrieval.BM25(s)
	if err != nil {
		return err
	}
	fmt.Printf("%s\n%d queries over %d documents\n", s.Description, len(s.Queries), len(s.Docs))
	fmt.Printf("%-22s %v  (%v)\n", m.Info().Name, retrieval.Score(s, emb), embTime.Round(time.Millisecond))
	fmt.Printf("%-22s %v  (%v)\n", "BM25 (bleve)", retrieval.Score(s, bm), time.Since(start).Round(time.Millisecond))
	fmt.Printf("%-22s %v\n", "hybrid (RRF)", retrieval.Score(s, retrieval.Fuse([]float64{1, 1}, emb, bm)))
	if *weight > 0 {
		fmt.Printf("%-22s %v\n", fmt.Sprintf("hybrid (RRF, w=%.2f)", *weight), retrieval.Score(s, retrieval.Fuse([]float64{*weight, 1}, emb, bm)))
		return nil
	}
	// The weighted hybrid: its weight chosen on the dev half, reported on the test half.
	dev, test := retrieval.Split(s)
	w := retrieval.TuneWeight(dev, emb.Select(0), bm.Select(0))
	te, tb := emb.Select(1), bm.Select(1)
	fmt.Printf("test half (%d queries); the weight chosen on the dev half (%d): %.2f\n", len(test.Queries), len(dev.Queries), w)
	fmt.Printf("%-22s %v\n", m.Info().Name, retrieval.Score(test, te))
	fmt.Printf("%-22s %v\n", "BM25 (bleve)", retrieval.Score(test, tb))
	fmt.Printf("%-22s %v\n", "hybrid (RRF)", retrieval.Score(test, retrieval.Fuse([]float64{1, 1}, te, tb)))
	fmt.Printf("%-22s %v\n", fmt.Sprintf("hybrid (RRF, w=%.2f)", w), retrieval.Score(test, retrieval.Fuse([]float64{w, 1}, te, tb)))
	return nil
}
