package collection

import (
	"fmt"
	"math"
	"testing"
)

func TestTokens(t *testing.T) {
	for text, want := range map[string]string{
		"How do I run the tests?":       "[run test]",
		"Running `make test`, TESTING!": "[run make test test]",
		"gRPC's 4 MiB; x2-y_3":          "[grpc 4 mib x2 y 3]",
		"café Überraschung":             "[café überraschung]",
		"the of and":                    "[]",
		"":                              "[]",
	} {
		if got := fmt.Sprint(tokens(text)); got != want {
			t.Errorf("tokens(%q) = %s, want %s", text, got, want)
		}
	}
}

func TestBM25(t *testing.T) {
	chunks := []Chunk{
		{Text: "make test runs the tests"}, // make test run test: 4 terms
		{Text: "apples and pears"},         // appl pear: 2
		{Text: "a test"},                   // test: 1
		{Text: "nothing here at all"},      // noth: 1 ("here", "at", "all" are stop words)
	}
	// N = 4, avgdl = 2, "test" in 2 chunks: idf = ln(1 + 2.5/2.5).
	idf := math.Log(2)
	want := func(tf, dl float64) float64 { return idf * tf * 2.2 / (tf + 1.2*(0.25+0.75*dl/2)) }
	got := bm25("Tests?", chunks, 10)
	// The short chunk first: length normalisation outweighs the second
	// occurrence.
	if len(got) != 2 || got[0].i != 2 || got[1].i != 0 {
		t.Fatalf("BM25 = %v, want chunks 2 and 0", got)
	}
	if math.Abs(got[0].score-want(1, 1)) > 1e-9 || math.Abs(got[1].score-want(2, 4)) > 1e-9 {
		t.Errorf("scores %v, want %v and %v", got, want(1, 1), want(2, 4))
	}
	if got := bm25("make tests", chunks, 1); len(got) != 1 || got[0].i != 0 {
		t.Errorf("limit 1: %v", got)
	}
	for _, q := range []string{"", "the", "zebra"} {
		if got := bm25(q, chunks, 10); len(got) != 0 {
			t.Errorf("bm25(%q) = %v, want nothing", q, got)
		}
	}
	if got := bm25("test", nil, 10); len(got) != 0 {
		t.Errorf("BM25 over no chunks = %v", got)
	}
}
