package main

import (
	"os"
	"path/filepath"
	"testing"

	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"

	"github.com/chorus-ai/chorus/platform/genai/genaitest"
)

// TestCollectionsSurviveARestart adds documents to a collection of the
// orchestrator process, kills it, starts another on the same -data-dir,
// and searches.
func TestCollectionsSurviveARestart(t *testing.T) {
	bin := buildOrchestrator(t)
	data := t.TempDir()
	args := []string{"-embed-addr", genaitest.ListenEmbedder(t, genaitest.NewEmbedder()),
		"-text-addr", "127.0.0.1:1", "-image-addr", "127.0.0.1:1", "-audio-addr", "127.0.0.1:1", "-data-dir", data}
	o := start(t, bin, args...)
	c := retrievalv1.NewCollectionServiceClient(o.conn)
	ctx := t.Context()
	if _, err := c.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: "notes", ChunkSize: 64}); err != nil {
		t.Fatal(err)
	}
	added, err := c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: "notes", Documents: []*retrievalv1.Document{
		{Id: "sea.md", Text: "The sea is wide and deep. Waves roll over the sea all day. Fish swim in the sea.", Metadata: map[string]string{"topic": "sea"}},
		{Id: "mill.md", Text: "The old mill grinds wheat into flour.", Metadata: map[string]string{"topic": "mill"}},
	}})
	if err != nil || added.GetChunkCount() < 3 {
		t.Fatalf("AddDocuments = %v, %v; want the sea cut into chunks", added, err)
	}
	o.Kill(t)

	o = start(t, bin, args...)
	c = retrievalv1.NewCollectionServiceClient(o.conn)
	got, err := c.GetCollection(ctx, &retrievalv1.GetCollectionRequest{Name: "notes"})
	if err != nil || got.GetCollection().GetChunkCount() != added.GetChunkCount() || got.GetCollection().GetChunkSize() != 64 {
		t.Fatalf("after the restart: %v, %v; want %d chunks of at most 64 bytes", got, err, added.GetChunkCount())
	}
	res, err := c.Search(ctx, &retrievalv1.SearchRequest{Collection: "notes", Query: "flour from wheat", TopK: 2})
	if err != nil || len(res.GetResults()) != 2 || res.GetResults()[0].GetDocumentId() != "mill.md" || res.GetResults()[0].GetMetadata()["topic"] != "mill" {
		t.Fatalf("search after the restart: %v, %v; want mill.md first", res, err)
	}
	if _, err := os.Stat(filepath.Join(data, "collections", "collections.json")); err != nil {
		t.Errorf("no collections under -data-dir: %v", err)
	}
}
