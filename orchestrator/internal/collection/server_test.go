package collection_test

import (
	"context"
	"math"
	"net"
	"strings"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/orchestrator/internal/collection"
	"github.com/chorus-ai/chorus/orchestrator/internal/collection/chromemstore"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestServer serves CollectionService over a fresh store in dir (a
// temporary one when empty) and embed, and returns a client.
func newTestServer(tb testing.TB, dir string, embed genaiv1.EmbeddingServiceClient) retrievalv1.CollectionServiceClient {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	store, err := chromemstore.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	collection.NewServer(store, embed).Register(g)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = g.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///collections",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn.Close()
		g.Stop()
		<-served
		store.Close()
	})
	return retrievalv1.NewCollectionServiceClient(conn)
}

// downEmbedder is a client of an embedding service that is not running.
func downEmbedder(tb testing.TB) genaiv1.EmbeddingServiceClient {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return genaiv1.NewEmbeddingServiceClient(conn)
}

// wantCode fails unless err has code and, for INVALID_ARGUMENT, a field
// violation of field.
func wantCode(t *testing.T, what string, err error, code codes.Code, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	if field == "" {
		return
	}
	_, violations := rpcerr.Details(st)
	for _, v := range violations {
		if v.Field == field {
			return
		}
	}
	t.Errorf("%s: violations %+v name no %q", what, violations, field)
}

var docs = []*retrievalv1.Document{
	{Id: "tests.md", Text: "# Testing\n\nRun make test to run the tests. The tests need no network.", Metadata: map[string]string{"kind": "guide"}},
	{Id: "deploy.md", Text: "# Deploying\n\nThe Helm chart deploys Chorus on Kubernetes. Compose runs it on one machine.", Metadata: map[string]string{"kind": "guide"}},
	{Id: "notes.txt", Text: "Bananas are yellow. Apples are red or green."},
}

func TestCollections(t *testing.T) {
	ctx := t.Context()
	emb := genaitest.NewEmbedder()
	c := newTestServer(t, "", genaitest.ServeEmbedder(t, emb))

	// The minimal request: a name only.
	created, err := c.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	col := created.GetCollection()
	if col.GetEmbeddingModel() != genaitest.FakeEmbedModel || col.GetDimensions() != 256 || col.GetChunkSize() != collection.DefaultChunkSize ||
		col.GetChunkOverlap() != collection.DefaultChunkOverlap || col.GetCreateTime() == nil {
		t.Errorf("created %v: want the default model, its dimensions and the default chunking", col)
	}
	_, err = c.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: "docs"})
	wantCode(t, "duplicate create", err, codes.AlreadyExists, "")

	added, err := c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: "docs", Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	if added.GetChunkCount() != 3 || len(added.GetDocuments()) != 3 || added.GetDocuments()[1].GetId() != "deploy.md" || added.GetInputTokens() == 0 {
		t.Errorf("AddDocuments = %v, want one chunk per document, in order, with tokens", added)
	}

	res, err := c.Search(ctx, &retrievalv1.SearchRequest{Collection: "docs", Query: "How do I run the tests?"})
	if err != nil {
		t.Fatal(err)
	}
	rs := res.GetResults()
	if len(rs) != 3 || rs[0].GetDocumentId() != "tests.md" || !strings.Contains(rs[0].GetText(), "make test") ||
		rs[0].GetMetadata()["kind"] != "guide" || rs[0].GetScore() <= rs[1].GetScore() || res.GetEmbeddingModel() != genaitest.FakeEmbedModel {
		t.Errorf("Search = %v, want tests.md first, scores descending", rs)
	}
	res, err = c.Search(ctx, &retrievalv1.SearchRequest{Collection: "docs", Query: "apples", TopK: 3, Filter: map[string]string{"kind": "guide"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.GetResults() {
		if r.GetDocumentId() == "notes.txt" {
			t.Errorf("filter kind=guide returned %v", r)
		}
	}
	res, err = c.Search(ctx, &retrievalv1.SearchRequest{Collection: "docs", Query: "apples", MinScore: proto.Float32(0.2), Mode: retrievalv1.SearchMode_SEARCH_MODE_VECTOR})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetResults()) != 1 || res.GetResults()[0].GetDocumentId() != "notes.txt" {
		t.Errorf("vector, min_score 0.2: %v, want notes.txt only", res.GetResults())
	}
	// Hybrid (the default): notes.txt is first in both rankings, so it
	// scores 1; the others are in the vector ranking only.
	res, err = c.Search(ctx, &retrievalv1.SearchRequest{Collection: "docs", Query: "apples"})
	if rs := res.GetResults(); err != nil || len(rs) != 3 || rs[0].GetDocumentId() != "notes.txt" || math.Abs(float64(rs[0].GetScore())-1) > 1e-6 || rs[1].GetScore() >= 0.25 {
		t.Errorf("hybrid: %v, %v; want notes.txt first with score 1, the others under 0.25", rs, err)
	}
	// Lexical: only the document with the word, scored by BM25, and no
	// embedding (min_score may pass 1).
	res, err = c.Search(ctx, &retrievalv1.SearchRequest{Collection: "docs", Query: "apples", MinScore: proto.Float32(0.01), Mode: retrievalv1.SearchMode_SEARCH_MODE_LEXICAL})
	if rs := res.GetResults(); err != nil || len(rs) != 1 || rs[0].GetDocumentId() != "notes.txt" || rs[0].GetScore() <= 0 || res.GetEmbeddingModel() != "" {
		t.Errorf("lexical: %v, %v; want notes.txt alone, a BM25 score and no embedding model", res, err)
	}
	if _, err := c.Search(ctx, &retrievalv1.SearchRequest{Collection: "docs", Query: "apples", MinScore: proto.Float32(5), Mode: retrievalv1.SearchMode_SEARCH_MODE_LEXICAL}); err != nil {
		t.Errorf("lexical, min_score 5: %v, want it accepted", err)
	}

	// Replacing a document, then deleting documents.
	if _, err := c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: "docs", Documents: []*retrievalv1.Document{{Id: "notes.txt", Text: "Cherries are dark."}}}); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteDocuments(ctx, &retrievalv1.DeleteDocumentsRequest{Collection: "docs", Ids: []string{"notes.txt", "missing"}})
	if err != nil || del.GetDeletedChunks() != 1 {
		t.Fatalf("DeleteDocuments = %v, %v; want 1 chunk", del, err)
	}
	got, err := c.GetCollection(ctx, &retrievalv1.GetCollectionRequest{Name: "docs"})
	if err != nil || got.GetCollection().GetChunkCount() != 2 {
		t.Fatalf("GetCollection = %v, %v; want 2 chunks", got, err)
	}
	list, err := c.ListCollections(ctx, &retrievalv1.ListCollectionsRequest{})
	if err != nil || len(list.GetCollections()) != 1 || list.GetCollections()[0].GetName() != "docs" {
		t.Fatalf("ListCollections = %v, %v", list, err)
	}
	if _, err := c.DeleteCollection(ctx, &retrievalv1.DeleteCollectionRequest{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetCollection(ctx, &retrievalv1.GetCollectionRequest{Name: "docs"})
	wantCode(t, "get after delete", err, codes.NotFound, "")
}

func TestCollectionErrors(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c := newTestServer(t, dir, genaitest.ServeEmbedder(t, genaitest.NewEmbedder()))
	if _, err := c.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: "c", ChunkSize: 100}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 65)
	tests := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"create bad name", func() error {
			_, err := c.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: "-x"})
			return err
		}, codes.InvalidArgument, "name"},
		{"create long name", func() error {
			_, err := c.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: long})
			return err
		}, codes.InvalidArgument, "name"},
		{"create chunk size", func() error {
			_, err := c.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: "y", ChunkSize: 10})
			return err
		}, codes.InvalidArgument, "chunk_size"},
		{"create overlap", func() error {
			_, err := c.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: "y", ChunkSize: 100, ChunkOverlap: proto.Int32(51)})
			return err
		}, codes.InvalidArgument, "chunk_overlap"},
		{"create unknown model", func() error {
			_, err := c.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: "y", EmbeddingModel: "nope"})
			return err
		}, codes.InvalidArgument, "embedding_model"},
		{"get unknown", func() error {
			_, err := c.GetCollection(ctx, &retrievalv1.GetCollectionRequest{Name: "nope"})
			return err
		}, codes.NotFound, ""},
		{"delete unknown", func() error {
			_, err := c.DeleteCollection(ctx, &retrievalv1.DeleteCollectionRequest{Name: "nope"})
			return err
		}, codes.NotFound, ""},
		{"add to unknown", func() error {
			_, err := c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: "nope", Documents: docs})
			return err
		}, codes.NotFound, ""},
		{"add none", func() error {
			_, err := c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: "c"})
			return err
		}, codes.InvalidArgument, "documents"},
		{"add empty text", func() error {
			_, err := c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: "c", Documents: []*retrievalv1.Document{{Id: "a", Text: " "}}})
			return err
		}, codes.InvalidArgument, "documents[0].text"},
		{"add duplicate ids", func() error {
			_, err := c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: "c", Documents: []*retrievalv1.Document{{Id: "a", Text: "x"}, {Id: "a", Text: "y"}}})
			return err
		}, codes.InvalidArgument, "documents[1].id"},
		{"add reserved metadata key", func() error {
			_, err := c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: "c", Documents: []*retrievalv1.Document{{Id: "a", Text: "x", Metadata: map[string]string{"_document_id": "b"}}}})
			return err
		}, codes.InvalidArgument, "documents[0].metadata"},
		{"delete no ids", func() error {
			_, err := c.DeleteDocuments(ctx, &retrievalv1.DeleteDocumentsRequest{Collection: "c"})
			return err
		}, codes.InvalidArgument, "ids"},
		{"search empty query", func() error {
			_, err := c.Search(ctx, &retrievalv1.SearchRequest{Collection: "c", Query: " "})
			return err
		}, codes.InvalidArgument, "query"},
		{"search top_k", func() error {
			_, err := c.Search(ctx, &retrievalv1.SearchRequest{Collection: "c", Query: "q", TopK: 101})
			return err
		}, codes.InvalidArgument, "top_k"},
		{"search min_score", func() error {
			_, err := c.Search(ctx, &retrievalv1.SearchRequest{Collection: "c", Query: "q", MinScore: proto.Float32(2)})
			return err
		}, codes.InvalidArgument, "min_score"},
		{"search mode", func() error {
			_, err := c.Search(ctx, &retrievalv1.SearchRequest{Collection: "c", Query: "q", Mode: 99})
			return err
		}, codes.InvalidArgument, "mode"},
		{"search min_score NaN", func() error {
			_, err := c.Search(ctx, &retrievalv1.SearchRequest{Collection: "c", Query: "q", MinScore: proto.Float32(float32(math.NaN())), Mode: retrievalv1.SearchMode_SEARCH_MODE_LEXICAL})
			return err
		}, codes.InvalidArgument, "min_score"},
		{"search unknown", func() error {
			_, err := c.Search(ctx, &retrievalv1.SearchRequest{Collection: "nope", Query: "q"})
			return err
		}, codes.NotFound, ""},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, tt.call(), tt.code, tt.field)
	}

	// The same store, with the embedding service down: what needs it is
	// UNAVAILABLE, what does not still works.
	c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: "c", Documents: docs})
	down := newTestServer(t, dir, downEmbedder(t))
	_, err := down.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: "d"})
	wantCode(t, "create, embedder down", err, codes.Unavailable, "")
	_, err = down.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: "c", Documents: docs})
	wantCode(t, "add, embedder down", err, codes.Unavailable, "")
	_, err = down.Search(ctx, &retrievalv1.SearchRequest{Collection: "c", Query: "tests"})
	wantCode(t, "search, embedder down", err, codes.Unavailable, "")
	if res, err := down.Search(ctx, &retrievalv1.SearchRequest{Collection: "c", Query: "tests", Mode: retrievalv1.SearchMode_SEARCH_MODE_LEXICAL}); err != nil || len(res.GetResults()) == 0 {
		t.Errorf("lexical search, embedder down: %v, %v; want results (it embeds nothing)", res, err)
	}
	if got, err := down.GetCollection(ctx, &retrievalv1.GetCollectionRequest{Name: "c"}); err != nil || got.GetCollection().GetChunkCount() != 3 {
		t.Errorf("get, embedder down: %v, %v; want the collection with 3 chunks", got, err)
	}
}
