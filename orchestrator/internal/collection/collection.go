// Package collection keeps collections of documents for retrieval: it cuts
// documents into chunks of whole sentences, embeds them through the
// EmbeddingService, keeps the vectors in a Store (on disk, or PostgreSQL
// with pgvector) and serves CollectionService over gRPC. Search ranks by
// vectors, by BM25 over the stored chunks' words, or (the default) by a
// weighted fusion of the two (see Search).
package collection

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every Store returns (wrapped or not) for these cases.
var (
	// ErrNotFound: no collection by that name.
	ErrNotFound = errors.New("collection not found")
	// ErrExists: a collection by that name already exists.
	ErrExists = errors.New("collection already exists")
)

// Info describes a collection.
type Info struct {
	Name        string
	Description string
	// Model is the embedding model of its vectors; Dimensions their length.
	Model      string
	Dimensions int
	// ChunkSize and ChunkOverlap are how documents are cut (see Split).
	ChunkSize, ChunkOverlap int
	// Chunks is how many chunks it holds (filled by Get and List).
	Chunks  int64
	Created time.Time
}

// Chunk is one stored piece of a document.
type Chunk struct {
	DocumentID string
	// Index is the chunk's position in its document, from 0.
	Index    int
	Text     string
	Metadata map[string]string
	// Vector is its embedding, L2-normalised, Dimensions long.
	Vector []float32
}

// Hit is a chunk a search found (without its vector) and its score: the
// cosine similarity to the query in a Store's Search; see Search for the
// other modes.
type Hit struct {
	Chunk
	Score float32
}

// Query is one search.
type Query struct {
	// Mode is how the package's Search ranks (a Store's Search is always
	// Vector).
	Mode Mode
	// Text is the query's text, for the lexical ranking.
	Text string
	// Vector is the query's embedding, L2-normalised (unused in Lexical
	// mode).
	Vector []float32
	// TopK is the most hits, at least 1.
	TopK int
	// Filter keeps only chunks whose metadata holds every pair.
	Filter map[string]string
	// MinScore, when set, drops hits less similar than it.
	MinScore *float32
}

// Store keeps collections and their chunks. Implementations are safe for
// concurrent use; names and inputs arrive validated.
type Store interface {
	// Create adds an empty collection; ErrExists if the name is taken.
	Create(ctx context.Context, info Info) error
	// Get describes a collection; ErrNotFound if there is none.
	Get(ctx context.Context, name string) (Info, error)
	// List describes every collection, by name.
	List(ctx context.Context) ([]Info, error)
	// Delete removes a collection and its chunks; ErrNotFound if there is
	// none.
	Delete(ctx context.Context, name string) error
	// Put replaces the chunks of the documents named in docs by chunks
	// (which belong to those documents only); ErrNotFound if there is no
	// collection.
	Put(ctx context.Context, name string, docs []string, chunks []Chunk) error
	// DeleteDocuments removes the chunks of the documents ids and returns
	// how many it removed; ErrNotFound if there is no collection.
	DeleteDocuments(ctx context.Context, name string, ids []string) (int64, error)
	// Search returns the chunks nearest q.Vector, most similar first
	// (q.Mode and q.Text aside); ErrNotFound if there is no collection.
	Search(ctx context.Context, name string, q Query) ([]Hit, error)
	// Chunks returns every chunk whose metadata holds every pair of
	// filter, without their vectors, by document id and index (the
	// lexical ranking's input); ErrNotFound if there is no collection.
	Chunks(ctx context.Context, name string, filter map[string]string) ([]Chunk, error)
	// Close releases the store.
	Close() error
}
