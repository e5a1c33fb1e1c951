// Package pgstore keeps jobs and their events in PostgreSQL (through pgx),
// so that several orchestrators can share them: each job records the
// process that runs it, each process renews a lease in the owners table
// while its Store is open, and a job whose owner's lease has lapsed is an
// orphan that exactly one live process claims (and records as failed).
package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/jobsql"
)

// migrations bring the schema from version i to i+1. Append only.
var migrations = []string{
	`CREATE TABLE owners (
		id        TEXT PRIMARY KEY,
		renewed   TIMESTAMPTZ NOT NULL
	);
	` + jobsql.JobsSchema(jobsql.Types{Serial: "BIGSERIAL PRIMARY KEY", BigInt: "BIGINT", Blob: "BYTEA"}),
}

// DefaultLease is how long an owner's lease lasts without renewal.
const DefaultLease = 15 * time.Second

// Store is a jobs.Store in PostgreSQL.
type Store struct {
	pool  *pgxpool.Pool
	owner string
	lease time.Duration
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

var _ jobs.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL), brings the
// schema up to date and starts renewing this process's lease (every third
// of lease; DefaultLease if 0).
func Open(ctx context.Context, dsn string, lease time.Duration) (*Store, error) {
	if lease <= 0 {
		lease = DefaultLease
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("job store: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	s := &Store{pool: pool, owner: hex.EncodeToString(b[:]), lease: lease}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("job store: %w", err)
	}
	if err := s.renew(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("job store: %w", err)
	}
	rctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Go(func() {
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				_ = s.renew(rctx) // a missed renewal is retried; two in a row lose the lease
			}
		}
	})
	return s, nil
}

func (s *Store) renew(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO owners (id, renewed) VALUES ($1, now())
		ON CONFLICT (id) DO UPDATE SET renewed = now()`, s.owner)
	return err
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	// Processes starting together migrate one at a time.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(8201452)`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version VALUES (0)`); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("the database is at schema version %d, newer than this orchestrator knows (%d)", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(migrations)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Close stops renewing the lease, gives it up, and closes the pool.
func (s *Store) Close() error {
	s.stop()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.pool.Exec(ctx, `DELETE FROM owners WHERE id = $1`, s.owner)
	s.pool.Close()
	return err
}

// Create implements jobs.Store.
func (s *Store) Create(ctx context.Context, job *orchestratorv1.Job) (*orchestratorv1.Job, bool, error) {
	blob, err := proto.Marshal(job)
	if err != nil {
		return nil, false, err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO jobs (id, request_id, pipeline, state, owner, job) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (request_id) DO NOTHING`,
		job.GetId(), jobsql.Nullable(job.GetRequestId()), job.GetPipeline(), int32(job.GetState()), s.owner, blob)
	if err != nil {
		return nil, false, fmt.Errorf("job store: %w", err)
	}
	if tag.RowsAffected() == 0 {
		existing, err := s.one(ctx, `request_id = $1`, job.GetRequestId())
		return existing, false, err
	}
	return job, true, nil
}

func (s *Store) one(ctx context.Context, where string, args ...any) (*orchestratorv1.Job, error) {
	var (
		count int64
		blob  []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT event_count, job FROM jobs WHERE `+where, args...).Scan(&count, &blob)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, jobs.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("job store: %w", err)
	}
	return jobsql.DecodeJob(blob, count)
}

// Get implements jobs.Store.
func (s *Store) Get(ctx context.Context, id string) (*orchestratorv1.Job, error) {
	return s.one(ctx, `id = $1`, id)
}

// List implements jobs.Store.
func (s *Store) List(ctx context.Context, f jobs.Filter) ([]*orchestratorv1.Job, int64, error) {
	q, args := jobsql.ListQuery(f, func(n int) string { return "$" + strconv.Itoa(n) })
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("job store: %w", err)
	}
	defer rows.Close()
	return jobsql.ScanPage(rows, f.Limit)
}

// Update implements jobs.Store.
func (s *Store) Update(ctx context.Context, job *orchestratorv1.Job) error {
	blob, err := jobsql.EncodeJob(job)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE jobs SET state = $1, job = $2 WHERE id = $3`, int32(job.GetState()), blob, job.GetId())
	if err != nil {
		return fmt.Errorf("job store: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return jobs.ErrNotFound
	}
	return nil
}

// AppendEvent implements jobs.Store.
func (s *Store) AppendEvent(ctx context.Context, id string, seq int64, ev *orchestratorv1.RunPipelineResponse) error {
	blob, err := proto.Marshal(ev)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO events (job_id, seq, event) VALUES ($1, $2, $3)`, id, seq, blob); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE jobs SET event_count = $1 WHERE id = $2`, seq, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("job store: %w", err)
	}
	return nil
}

// Events implements jobs.Store.
func (s *Store) Events(ctx context.Context, id string, after int64, limit int) ([]*orchestratorv1.WatchJobResponse, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, event FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("job store: %w", err)
	}
	defer rows.Close()
	return jobsql.ScanEvents(rows)
}

// Orphans implements jobs.Store: it claims, in one statement, every
// unfinished job whose owner's lease has lapsed (so that one process alone
// records each) and returns them.
func (s *Store) Orphans(ctx context.Context) ([]*orchestratorv1.Job, error) {
	rows, err := s.pool.Query(ctx, `UPDATE jobs SET owner = $1
		WHERE state IN ($2, $3) AND owner <> $1
		  AND owner NOT IN (SELECT id FROM owners WHERE renewed > now() - make_interval(secs => $4))
		RETURNING event_count, job`,
		s.owner, int32(orchestratorv1.JobState_JOB_STATE_QUEUED), int32(orchestratorv1.JobState_JOB_STATE_RUNNING), s.lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("job store: %w", err)
	}
	defer rows.Close()
	var out []*orchestratorv1.Job
	for rows.Next() {
		var (
			count int64
			blob  []byte
		)
		if err := rows.Scan(&count, &blob); err != nil {
			return nil, fmt.Errorf("job store: %w", err)
		}
		job, err := jobsql.DecodeJob(blob, count)
		if err != nil {
			return nil, err
		}
		out = append(out, job)
	}
	return out, rows.Err()
}
