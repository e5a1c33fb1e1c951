// Package pgvecstore keeps collections in PostgreSQL with the pgvector
// extension, so that several orchestrators share them. Search is exact
// (a scan of the collection's rows ordered by cosine distance): the
// embedding column has no fixed dimensions, since each collection has its
// own, and pgvector indexes only columns of fixed dimensions.
package pgvecstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-ai/chorus/orchestrator/internal/collection"
)

// schema is created if absent. The tables' names leave room for the job
// store's in the same database.
const schema = `
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS collections (
	name          TEXT PRIMARY KEY,
	description   TEXT NOT NULL,
	model         TEXT NOT NULL,
	dimensions    INTEGER NOT NULL,
	chunk_size    INTEGER NOT NULL,
	chunk_overlap INTEGER NOT NULL,
	created       TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS collection_chunks (
	collection  TEXT NOT NULL REFERENCES collections (name) ON DELETE CASCADE,
	document_id TEXT NOT NULL,
	chunk_index INTEGER NOT NULL,
	text        TEXT NOT NULL,
	metadata    JSONB NOT NULL,
	embedding   vector NOT NULL,
	PRIMARY KEY (collection, document_id, chunk_index)
);`

// ErrNoVector is returned by Open when the server lacks pgvector.
var ErrNoVector = errors.New("the PostgreSQL server has no pgvector extension (see docs/collections.md, PostgreSQL)")

// Store is a collection.Store in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ collection.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL) and creates the
// extension and tables it lacks.
func Open(ctx context.Context, dsn string) (*Store, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("collection store: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("collection store: %w", err)
	}
	return &Store{pool: pool}, nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	// Processes starting together create the schema one at a time.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(8201453)`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, schema); err != nil {
		var pgErr *pgconn.PgError
		// 0A000 feature_not_supported, 58P01 undefined_file: the
		// extension's files are not installed.
		if errors.As(err, &pgErr) && (pgErr.Code == "0A000" || pgErr.Code == "58P01") {
			return fmt.Errorf("%w: %s", ErrNoVector, pgErr.Message)
		}
		return err
	}
	return tx.Commit(ctx)
}

// vector is v in pgvector's text form, "[1,2,3]".
func vector(v []float32) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(float64(x), 'g', -1, 32))
	}
	b.WriteByte(']')
	return b.String()
}

// Create implements collection.Store.
func (s *Store) Create(ctx context.Context, info collection.Info) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO collections (name, description, model, dimensions, chunk_size, chunk_overlap, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		info.Name, info.Description, info.Model, info.Dimensions, info.ChunkSize, info.ChunkOverlap, info.Created)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return collection.ErrExists
	}
	return err
}

const selectInfo = `SELECT name, description, model, dimensions, chunk_size, chunk_overlap, created,
	(SELECT count(*) FROM collection_chunks k WHERE k.collection = c.name) FROM collections c`

func scanInfo(row pgx.Row) (collection.Info, error) {
	var i collection.Info
	err := row.Scan(&i.Name, &i.Description, &i.Model, &i.Dimensions, &i.ChunkSize, &i.ChunkOverlap, &i.Created, &i.Chunks)
	i.Created = i.Created.UTC()
	return i, err
}

// Get implements collection.Store.
func (s *Store) Get(ctx context.Context, name string) (collection.Info, error) {
	info, err := scanInfo(s.pool.QueryRow(ctx, selectInfo+` WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return info, collection.ErrNotFound
	}
	return info, err
}

// List implements collection.Store.
func (s *Store) List(ctx context.Context) ([]collection.Info, error) {
	rows, err := s.pool.Query(ctx, selectInfo+` ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (collection.Info, error) { return scanInfo(r) })
}

// Delete implements collection.Store.
func (s *Store) Delete(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM collections WHERE name = $1`, name)
	if err == nil && tag.RowsAffected() == 0 {
		return collection.ErrNotFound
	}
	return err
}

// lock takes a share lock on the collection's row for the transaction, so
// that it cannot be deleted meanwhile; ErrNotFound if there is none.
func lock(ctx context.Context, tx pgx.Tx, name string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM collections WHERE name = $1 FOR SHARE`, name).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return collection.ErrNotFound
	}
	return err
}

// Put implements collection.Store.
func (s *Store) Put(ctx context.Context, name string, docs []string, chunks []collection.Chunk) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lock(ctx, tx, name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM collection_chunks WHERE collection = $1 AND document_id = ANY($2)`, name, docs); err != nil {
			return err
		}
		if len(chunks) == 0 {
			return nil
		}
		var batch pgx.Batch
		for _, c := range chunks {
			md := c.Metadata
			if md == nil {
				md = map[string]string{}
			}
			js, err := json.Marshal(md)
			if err != nil {
				return err
			}
			batch.Queue(`INSERT INTO collection_chunks (collection, document_id, chunk_index, text, metadata, embedding)
				VALUES ($1, $2, $3, $4, $5::jsonb, $6::vector)`, name, c.DocumentID, c.Index, c.Text, string(js), vector(c.Vector))
		}
		return tx.SendBatch(ctx, &batch).Close()
	})
}

// DeleteDocuments implements collection.Store.
func (s *Store) DeleteDocuments(ctx context.Context, name string, ids []string) (n int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lock(ctx, tx, name); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM collection_chunks WHERE collection = $1 AND document_id = ANY($2)`, name, ids)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// Search implements collection.Store.
func (s *Store) Search(ctx context.Context, name string, q collection.Query) (hits []collection.Hit, err error) {
	filter := q.Filter
	if filter == nil {
		filter = map[string]string{}
	}
	js, err := json.Marshal(filter)
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lock(ctx, tx, name); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT document_id, chunk_index, text, metadata, 1 - (embedding <=> $2::vector) AS score
			FROM collection_chunks
			WHERE collection = $1 AND metadata @> $3::jsonb AND ($5::real IS NULL OR 1 - (embedding <=> $2::vector) >= $5::real)
			ORDER BY embedding <=> $2::vector, document_id, chunk_index
			LIMIT $4`, name, vector(q.Vector), string(js), q.TopK, q.MinScore)
		if err != nil {
			return err
		}
		hits, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (collection.Hit, error) {
			var (
				h     collection.Hit
				md    []byte
				score float64
			)
			if err := r.Scan(&h.DocumentID, &h.Index, &h.Text, &md, &score); err != nil {
				return h, err
			}
			h.Score = float32(score)
			return h, json.Unmarshal(md, &h.Metadata)
		})
		return err
	})
	return hits, err
}

// Chunks implements collection.Store.
func (s *Store) Chunks(ctx context.Context, name string, filter map[string]string) (chunks []collection.Chunk, err error) {
	if filter == nil {
		filter = map[string]string{}
	}
	js, err := json.Marshal(filter)
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lock(ctx, tx, name); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT document_id, chunk_index, text, metadata FROM collection_chunks
			WHERE collection = $1 AND metadata @> $2::jsonb ORDER BY document_id, chunk_index`, name, string(js))
		if err != nil {
			return err
		}
		chunks, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (collection.Chunk, error) {
			var (
				c  collection.Chunk
				md []byte
			)
			if err := r.Scan(&c.DocumentID, &c.Index, &c.Text, &md); err != nil {
				return c, err
			}
			return c, json.Unmarshal(md, &c.Metadata)
		})
		return err
	})
	return chunks, err
}

// Close implements collection.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
