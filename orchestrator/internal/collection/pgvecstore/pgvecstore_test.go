package pgvecstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chorus-ai/chorus/orchestrator/internal/collection"
	"github.com/chorus-ai/chorus/orchestrator/internal/collection/pgvecstore"
	"github.com/chorus-ai/chorus/orchestrator/internal/collection/storetest"
	"github.com/chorus-ai/chorus/orchestrator/internal/pgtest"
)

// TestStore runs the store suite against a real PostgreSQL server. Debian
// bookworm packages no pgvector: where the server lacks it the test skips,
// saying so (docs/collections.md says how to build it).
func TestStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL; skipped in -short mode")
	}
	dsn := pgtest.Start(t)
	s, err := pgvecstore.Open(t.Context(), dsn)
	if errors.Is(err, pgvecstore.ErrNoVector) {
		t.Skipf("SKIPPED: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	storetest.Run(t, func(t *testing.T, fresh bool) collection.Store {
		if fresh {
			conn, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			_, err = conn.Exec(t.Context(), `DELETE FROM collections`)
			conn.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
		}
		s, err := pgvecstore.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
