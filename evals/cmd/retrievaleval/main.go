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
	if err := run(*set, *model); err != nil {
		fmt.Fprintln(os.Stderr, "retrievaleval:", err)
		os.Exit(1)
	}
}

func run(setPath, modelPath string) error {
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
	fmt.Printf("%-14s %v  (%v)\n", m.Info().Name, retrieval.Score(s, emb), embTime.Round(time.Millisecond))
	fmt.Printf("%-14s %v  (%v)\n", "BM25 (bleve)", retrieval.Score(s, bm), time.Since(start).Round(time.Millisecond))
	fmt.Printf("%-14s %v\n", "hybrid (RRF)", retrieval.Score(s, retrieval.Fuse(emb, bm)))
	return nil
}
