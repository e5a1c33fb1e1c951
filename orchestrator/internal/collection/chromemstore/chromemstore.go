// Package chromemstore keeps collections on disk with chromem-go (an
// embedded vector database: exhaustive cosine search over vectors held in
// memory, every write persisted as it happens), so they survive restarts
// of the orchestrator.
package chromemstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	chromem "github.com/philippgille/chromem-go"

	"github.com/chorus-ai/chorus/orchestrator/internal/collection"
)

// Reserved metadata keys: each chunk's document and position, beside the
// document's own metadata (whose keys cannot start with '_').
const (
	keyDocument = "_document_id"
	keyIndex    = "_chunk_index"
)

// Store is a collection.Store in a directory: chromem-go's files under
// index/ and the collections' descriptions in collections.json.
type Store struct {
	dir string
	db  *chromem.DB

	// mu serialises writes, and guards infos; searches hold it shared, so
	// that a collection cannot shrink under one.
	mu    sync.RWMutex
	infos map[string]collection.Info
}

var _ collection.Store = (*Store)(nil)

// Open opens (creating if need be) the store in dir and loads it.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := chromem.NewPersistentDB(filepath.Join(dir, "index"), false)
	if err != nil {
		return nil, fmt.Errorf("chromemstore: %w", err)
	}
	s := &Store{dir: dir, db: db, infos: map[string]collection.Info{}}
	b, err := os.ReadFile(s.infoPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &s.infos); err != nil {
			return nil, fmt.Errorf("chromemstore: %s: %w", s.infoPath(), err)
		}
	}
	// A collection described but not indexed (a crash between the two
	// writes) gets an empty index; one indexed but not described is
	// dropped.
	for name := range s.db.ListCollections() {
		if _, ok := s.infos[name]; !ok {
			if err := s.db.DeleteCollection(name); err != nil {
				return nil, fmt.Errorf("chromemstore: %w", err)
			}
		}
	}
	for name := range s.infos {
		if _, err := s.db.GetOrCreateCollection(name, nil, noEmbed); err != nil {
			return nil, fmt.Errorf("chromemstore: %w", err)
		}
	}
	return s, nil
}

// noEmbed is the collections' embedding function: vectors always come
// with the chunks and queries, so chromem-go is never asked to embed.
func noEmbed(context.Context, string) ([]float32, error) {
	return nil, errors.New("chromemstore: text is embedded by the embedding service, not here")
}

func (s *Store) infoPath() string { return filepath.Join(s.dir, "collections.json") }

// saveInfos writes the descriptions, atomically. s.mu is held.
func (s *Store) saveInfos() error {
	b, err := json.MarshalIndent(s.infos, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.infoPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.infoPath())
}

// Create implements collection.Store.
func (s *Store) Create(_ context.Context, info collection.Info) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.infos[info.Name]; ok {
		return collection.ErrExists
	}
	if _, err := s.db.CreateCollection(info.Name, nil, noEmbed); err != nil {
		return err
	}
	info.Chunks = 0
	s.infos[info.Name] = info
	if err := s.saveInfos(); err != nil {
		delete(s.infos, info.Name)
		return errors.Join(err, s.db.DeleteCollection(info.Name))
	}
	return nil
}

// get returns a collection and its description. s.mu is held.
func (s *Store) get(name string) (*chromem.Collection, collection.Info, error) {
	info, ok := s.infos[name]
	c := s.db.GetCollection(name, noEmbed)
	if !ok || c == nil {
		return nil, info, collection.ErrNotFound
	}
	info.Chunks = int64(c.Count())
	return c, info, nil
}

// Get implements collection.Store.
func (s *Store) Get(_ context.Context, name string) (collection.Info, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, info, err := s.get(name)
	return info, err
}

// List implements collection.Store.
func (s *Store) List(context.Context) ([]collection.Info, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := slices.Sorted(maps.Keys(s.infos))
	out := make([]collection.Info, 0, len(names))
	for _, name := range names {
		if _, info, err := s.get(name); err == nil {
			out = append(out, info)
		}
	}
	return out, nil
}

// Delete implements collection.Store.
func (s *Store) Delete(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.infos[name]; !ok {
		return collection.ErrNotFound
	}
	delete(s.infos, name)
	if err := s.saveInfos(); err != nil {
		return err
	}
	return s.db.DeleteCollection(name)
}

// Put implements collection.Store.
func (s *Store) Put(ctx context.Context, name string, docs []string, chunks []collection.Chunk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, err := s.get(name)
	if err != nil {
		return err
	}
	for _, id := range docs {
		if err := c.Delete(ctx, map[string]string{keyDocument: id}, nil); err != nil {
			return err
		}
	}
	if len(chunks) == 0 {
		return nil
	}
	out := make([]chromem.Document, len(chunks))
	for i, ch := range chunks {
		md := maps.Clone(ch.Metadata)
		if md == nil {
			md = map[string]string{}
		}
		md[keyDocument], md[keyIndex] = ch.DocumentID, strconv.Itoa(ch.Index)
		out[i] = chromem.Document{ID: ch.DocumentID + "#" + strconv.Itoa(ch.Index), Metadata: md, Embedding: ch.Vector, Content: ch.Text}
	}
	return c.AddDocuments(ctx, out, 4)
}

// DeleteDocuments implements collection.Store.
func (s *Store) DeleteDocuments(ctx context.Context, name string, ids []string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, err := s.get(name)
	if err != nil {
		return 0, err
	}
	before := c.Count()
	for _, id := range ids {
		if err := c.Delete(ctx, map[string]string{keyDocument: id}, nil); err != nil {
			return int64(before - c.Count()), err
		}
	}
	return int64(before - c.Count()), nil
}

// Search implements collection.Store.
func (s *Store) Search(ctx context.Context, name string, q collection.Query) ([]collection.Hit, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, _, err := s.get(name)
	if err != nil {
		return nil, err
	}
	// chromem-go refuses to be asked for more results than it holds.
	n := min(q.TopK, c.Count())
	if n < 1 {
		return nil, nil
	}
	var where map[string]string
	if len(q.Filter) > 0 {
		where = q.Filter
	}
	res, err := c.QueryEmbedding(ctx, q.Vector, n, where, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	hits := make([]collection.Hit, 0, len(res))
	for _, r := range res {
		if q.MinScore != nil && r.Similarity < *q.MinScore {
			break
		}
		hits = append(hits, collection.Hit{Chunk: toChunk(r), Score: r.Similarity})
	}
	return hits, nil
}

// toChunk makes a stored document a chunk again, without its vector.
func toChunk(r chromem.Result) collection.Chunk {
	md := maps.Clone(r.Metadata)
	doc, idx := md[keyDocument], md[keyIndex]
	delete(md, keyDocument)
	delete(md, keyIndex)
	i, _ := strconv.Atoi(idx)
	return collection.Chunk{DocumentID: doc, Index: i, Text: r.Content, Metadata: md}
}

// Chunks implements collection.Store. chromem-go lists documents only as
// the results of a query, so it asks for all of them, nearest an
// arbitrary unit vector (the cost of one exhaustive vector search).
func (s *Store) Chunks(ctx context.Context, name string, filter map[string]string) ([]collection.Chunk, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, info, err := s.get(name)
	if err != nil {
		return nil, err
	}
	if c.Count() == 0 {
		return nil, nil
	}
	var where map[string]string
	if len(filter) > 0 {
		where = filter
	}
	probe := make([]float32, info.Dimensions)
	probe[0] = 1
	res, err := c.QueryEmbedding(ctx, probe, c.Count(), where, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	out := make([]collection.Chunk, len(res))
	for i, r := range res {
		out[i] = toChunk(r)
	}
	slices.SortFunc(out, func(a, b collection.Chunk) int {
		return cmp.Or(cmp.Compare(a.DocumentID, b.DocumentID), cmp.Compare(a.Index, b.Index))
	})
	return out, nil
}

// Close implements collection.Store; chromem-go has nothing to release.
func (s *Store) Close() error { return nil }
