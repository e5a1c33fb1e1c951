// Package jobsql holds what the SQL job stores (sqlitestore, pgstore) share
// beyond their dialects: jobs and events kept as Protobuf blobs, the query
// behind List, and reading rows back into jobs and events.
package jobsql

import (
	"fmt"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
)

// Types are the column types and table options that differ between the
// dialects, for the schema both stores share.
type Types struct {
	Serial, BigInt, Blob string // an auto-incrementing key, a 64-bit integer, bytes
	Events               string // appended to CREATE TABLE events
}

// JobsSchema creates the jobs and events tables in the dialect of t: the
// first migration of both stores. Like every released migration, it never
// changes.
func JobsSchema(t Types) string {
	return `CREATE TABLE jobs (
		seq         ` + t.Serial + `,
		id          TEXT NOT NULL UNIQUE,
		request_id  TEXT UNIQUE,
		pipeline    TEXT NOT NULL,
		state       INTEGER NOT NULL,
		owner       TEXT NOT NULL,
		event_count ` + t.BigInt + ` NOT NULL DEFAULT 0,
		job         ` + t.Blob + ` NOT NULL
	);
	CREATE INDEX jobs_state ON jobs (state, seq);
	CREATE INDEX jobs_pipeline ON jobs (pipeline, seq);
	CREATE TABLE events (
		job_id TEXT NOT NULL,
		seq    ` + t.BigInt + ` NOT NULL,
		event  ` + t.Blob + ` NOT NULL,
		PRIMARY KEY (job_id, seq)
	)` + t.Events + `;`
}

// Rows is what both database/sql's and pgx's result sets provide.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Nullable is s as a column value, NULL for "" (so that UNIQUE columns
// allow many jobs without one).
func Nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// EncodeJob is the blob a job is stored as. Its EventCount is left out:
// the stores keep it in a column of its own.
func EncodeJob(job *orchestratorv1.Job) ([]byte, error) {
	clone := proto.CloneOf(job)
	clone.EventCount = 0
	return proto.Marshal(clone)
}

// DecodeJob reads a job stored by EncodeJob, with count as its EventCount.
func DecodeJob(blob []byte, count int64) (*orchestratorv1.Job, error) {
	job := &orchestratorv1.Job{}
	if err := proto.Unmarshal(blob, job); err != nil {
		return nil, fmt.Errorf("job store: a stored job does not decode: %w", err)
	}
	job.EventCount = count
	return job, nil
}

// ListQuery is the statement and arguments that select a page of jobs for
// f, newest first, as rows of (seq, event_count, job) that ScanPage reads:
// f.Limit of them and one more that says whether a next page exists.
// placeholder writes the dialect's n-th parameter ("?", "$n").
func ListQuery(f jobs.Filter, placeholder func(n int) string) (string, []any) {
	q := `SELECT seq, event_count, job FROM jobs WHERE 1=1`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return placeholder(len(args))
	}
	if f.State != orchestratorv1.JobState_JOB_STATE_UNSPECIFIED {
		q += ` AND state = ` + arg(int32(f.State))
	}
	if f.Pipeline != "" {
		q += ` AND pipeline = ` + arg(f.Pipeline)
	}
	if f.RequestID != "" {
		q += ` AND request_id = ` + arg(f.RequestID)
	}
	if f.Before > 0 {
		q += ` AND seq < ` + arg(f.Before)
	}
	q += ` ORDER BY seq DESC LIMIT ` + arg(f.Limit+1)
	return q, args
}

// ScanPage reads the rows of a ListQuery for a page of limit jobs: the jobs
// and the cursor for the next page (0 on the last), as jobs.Store.List
// returns them.
func ScanPage(rows Rows, limit int) ([]*orchestratorv1.Job, int64, error) {
	var (
		out  []*orchestratorv1.Job
		seqs []int64
	)
	for rows.Next() {
		var (
			seq, count int64
			blob       []byte
		)
		if err := rows.Scan(&seq, &count, &blob); err != nil {
			return nil, 0, fmt.Errorf("job store: %w", err)
		}
		job, err := DecodeJob(blob, count)
		if err != nil {
			return nil, 0, err
		}
		out, seqs = append(out, job), append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("job store: %w", err)
	}
	if len(out) > limit {
		return out[:limit], seqs[limit-1], nil
	}
	return out, 0, nil
}

// ScanEvents reads rows of (seq, event) into the events of a job, as
// jobs.Store.Events returns them.
func ScanEvents(rows Rows) ([]*orchestratorv1.WatchJobResponse, error) {
	var out []*orchestratorv1.WatchJobResponse
	for rows.Next() {
		var (
			seq  int64
			blob []byte
		)
		if err := rows.Scan(&seq, &blob); err != nil {
			return nil, fmt.Errorf("job store: %w", err)
		}
		ev := &orchestratorv1.RunPipelineResponse{}
		if err := proto.Unmarshal(blob, ev); err != nil {
			return nil, fmt.Errorf("job store: a stored event does not decode: %w", err)
		}
		out = append(out, &orchestratorv1.WatchJobResponse{Sequence: seq, Event: ev})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("job store: %w", err)
	}
	return out, nil
}
