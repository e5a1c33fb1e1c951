// Package sqlitestore keeps jobs and their events in SQLite (through the
// pure-Go modernc.org/sqlite driver, in WAL mode), for one orchestrator.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/protobuf/proto"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/jobsql"
)

// migrations bring a database from version i to i+1 (PRAGMA user_version).
// Append only: a released migration never changes.
var migrations = []string{
	jobsql.JobsSchema(jobsql.Types{Serial: "INTEGER PRIMARY KEY AUTOINCREMENT", BigInt: "INTEGER", Blob: "BLOB", Events: " WITHOUT ROWID"}),
}

// Store is a jobs.Store in one SQLite file. Several processes may share
// the file: each job records the process that runs it (its owner), and
// each process holds an advisory lock on a file named for itself in the
// directory "<database>.owners" while the Store is open, so that a job
// whose owner's lock is free is known to be orphaned.
type Store struct {
	db    *sql.DB
	owner *owner
}

var _ jobs.Store = (*Store)(nil)

// Open opens (creating it and its directory if needed) the database at
// path and brings its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("job store: %w", err)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("job store %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("job store %s: %w", path, err)
	}
	if s.owner, err = lockOwner(path + ".owners"); err != nil {
		db.Close()
		return nil, fmt.Errorf("job store %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("the database is at schema version %d, newer than this orchestrator knows (%d)", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the database and gives up its owner lock.
func (s *Store) Close() error {
	err := s.db.Close()
	s.owner.release()
	return err
}

// Create implements jobs.Store.
func (s *Store) Create(ctx context.Context, job *orchestratorv1.Job) (*orchestratorv1.Job, bool, error) {
	blob, err := proto.Marshal(job)
	if err != nil {
		return nil, false, err
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO jobs (id, request_id, pipeline, state, owner, job) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`,
		job.GetId(), jobsql.Nullable(job.GetRequestId()), job.GetPipeline(), int32(job.GetState()), s.owner.id, blob)
	if err != nil {
		return nil, false, fmt.Errorf("job store: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		existing, err := s.scanOne(ctx, `WHERE request_id = ?`, job.GetRequestId())
		return existing, false, err
	}
	return job, true, nil
}

const columns = `SELECT seq, event_count, job FROM jobs `

func (s *Store) scanOne(ctx context.Context, where string, args ...any) (*orchestratorv1.Job, error) {
	var (
		seq, count int64
		blob       []byte
	)
	err := s.db.QueryRowContext(ctx, columns+where, args...).Scan(&seq, &count, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, jobs.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("job store: %w", err)
	}
	return jobsql.DecodeJob(blob, count)
}

// Get implements jobs.Store.
func (s *Store) Get(ctx context.Context, id string) (*orchestratorv1.Job, error) {
	return s.scanOne(ctx, `WHERE id = ?`, id)
}

// List implements jobs.Store.
func (s *Store) List(ctx context.Context, f jobs.Filter) ([]*orchestratorv1.Job, int64, error) {
	q, args := jobsql.ListQuery(f, func(int) string { return "?" })
	rows, err := s.db.QueryContext(ctx, q, args...)
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
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET state = ?, job = ? WHERE id = ?`, int32(job.GetState()), blob, job.GetId())
	if err != nil {
		return fmt.Errorf("job store: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
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
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("job store: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (job_id, seq, event) VALUES (?, ?, ?)`, id, seq, blob); err != nil {
		return fmt.Errorf("job store: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET event_count = ? WHERE id = ?`, seq, id); err != nil {
		return fmt.Errorf("job store: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("job store: %w", err)
	}
	return nil
}

// Events implements jobs.Store.
func (s *Store) Events(ctx context.Context, id string, after int64, limit int) ([]*orchestratorv1.WatchJobResponse, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, event FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("job store: %w", err)
	}
	defer rows.Close()
	return jobsql.ScanEvents(rows)
}

// Orphans implements jobs.Store: the unfinished jobs whose owner holds
// no lock.
func (s *Store) Orphans(ctx context.Context) ([]*orchestratorv1.Job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT owner, event_count, job FROM jobs WHERE state IN (?, ?) ORDER BY seq`,
		int32(orchestratorv1.JobState_JOB_STATE_QUEUED), int32(orchestratorv1.JobState_JOB_STATE_RUNNING))
	if err != nil {
		return nil, fmt.Errorf("job store: %w", err)
	}
	defer rows.Close()
	var out []*orchestratorv1.Job
	alive := map[string]bool{}
	for rows.Next() {
		var (
			owner string
			count int64
			blob  []byte
		)
		if err := rows.Scan(&owner, &count, &blob); err != nil {
			return nil, fmt.Errorf("job store: %w", err)
		}
		live, ok := alive[owner]
		if !ok {
			live = s.owner.alive(owner)
			alive[owner] = live
		}
		if live {
			continue
		}
		job, err := jobsql.DecodeJob(blob, count)
		if err != nil {
			return nil, err
		}
		out = append(out, job)
	}
	return out, rows.Err()
}
