package jobs

import (
	"context"
	"errors"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

// ErrNotFound is returned by a Store for an id that names no job.
var ErrNotFound = errors.New("jobs: no such job")

// Store keeps jobs and their events durably. SQLite (package sqlitestore)
// implements it for one orchestrator; a shared database would let several
// share the work.
type Store interface {
	// Create stores a new job. If job.RequestId is set and a job with that
	// request id exists, Create stores nothing and returns the existing
	// job with created false.
	Create(ctx context.Context, job *orchestratorv1.Job) (stored *orchestratorv1.Job, created bool, err error)
	// Get returns a job (with its EventCount), or ErrNotFound.
	Get(ctx context.Context, id string) (*orchestratorv1.Job, error)
	// List returns up to f.Limit jobs, newest first, and the cursor to
	// pass as f.Before for the next page (0 on the last).
	List(ctx context.Context, f Filter) (jobs []*orchestratorv1.Job, next int64, err error)
	// Update replaces a job's state, times, outputs and failure.
	Update(ctx context.Context, job *orchestratorv1.Job) error
	// AppendEvent stores event number seq (from 1, consecutive) of a job.
	AppendEvent(ctx context.Context, id string, seq int64, ev *orchestratorv1.RunPipelineResponse) error
	// Events returns up to limit events of a job after sequence number
	// after, in order.
	Events(ctx context.Context, id string, after int64, limit int) ([]*orchestratorv1.WatchJobResponse, error)
	// Orphans returns the jobs left QUEUED or RUNNING by a process that is
	// gone (they will never end by themselves).
	Orphans(ctx context.Context) ([]*orchestratorv1.Job, error)
	Close() error
}

// Filter selects jobs for List.
type Filter struct {
	State     orchestratorv1.JobState // JOB_STATE_UNSPECIFIED: any
	Pipeline  string                  // "": any
	RequestID string                  // "": any
	Before    int64                   // a cursor from List; 0: from the newest
	Limit     int
}
