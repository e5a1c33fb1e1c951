// Package jobs runs pipelines as asynchronous jobs: it records each job,
// its events and its outcome in a Store as the run goes, so that clients
// can come back for them (and watch them) and so that nothing is lost when
// the orchestrator stops.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chorus-ai/chorus/orchestrator/internal/admission"
	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/orchestrator/internal/runner"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Runner runs one pipeline (runner.Runner does).
type Runner interface {
	Run(ctx context.Context, p *pipeline.Pipeline, inputs map[string]string, emit runner.Emit) error
}

// Causes of a job's context ending, told apart when the job is recorded.
var (
	errCancelled = errors.New("jobs: cancelled by CancelJob")
	errShutdown  = errors.New("jobs: the orchestrator is shutting down")
)

// Config configures a Manager.
type Config struct {
	Store  Store
	Runner Runner
	Gate   *admission.Gate
	// RunTimeout bounds each job's run.
	RunTimeout time.Duration
	Log        *slog.Logger
}

// Manager starts, tracks, cancels and watches jobs.
type Manager struct {
	cfg    Config
	ctx    context.Context // ends (errShutdown) when Close is called
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	live map[string]*liveJob // jobs running (or queued) in this process
}

// liveJob is a job this process is running.
type liveJob struct {
	cancel  context.CancelCauseFunc
	changed chan struct{} // closed and replaced at every new event
	done    chan struct{} // closed once the job is recorded as ended
}

// New returns a Manager. Call Recover before serving, and Close at the end.
func New(cfg Config) *Manager {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Manager{cfg: cfg, ctx: ctx, cancel: cancel, live: map[string]*liveJob{}}
}

// ReasonInterrupted is the RunFailed message of jobs that were running
// when their orchestrator stopped.
const ReasonInterrupted = "the orchestrator stopped while the job was running (a restart or a crash); its work is lost, create the job again"

// Recover marks every job left QUEUED or RUNNING by a process that is gone
// (this one's previous life, after a crash) as FAILED, with a run_failed
// event saying why. Call it at start, and now and then when processes
// share a store.
func (m *Manager) Recover(ctx context.Context) (int, error) {
	unfinished, err := m.cfg.Store.Orphans(ctx)
	if err != nil {
		return 0, err
	}
	for _, job := range unfinished {
		failure := &orchestratorv1.RunFailed{Code: "ABORTED", Message: ReasonInterrupted}
		if err := m.finish(ctx, job, job.GetEventCount(), orchestratorv1.JobState_JOB_STATE_FAILED, nil, failure); err != nil {
			return 0, err
		}
		m.cfg.Log.Warn("job interrupted by a restart marked failed", "job_id", job.GetId(), "pipeline", job.GetPipeline())
	}
	return len(unfinished), nil
}

// finish records a job's end: a run_failed event unless the run already
// sent its last event (RunCompleted or RunFailed), then the job itself.
func (m *Manager) finish(ctx context.Context, job *orchestratorv1.Job, seq int64, state orchestratorv1.JobState, outputs []*orchestratorv1.RunOutput, failure *orchestratorv1.RunFailed) error {
	if failure != nil {
		ev := &orchestratorv1.RunPipelineResponse{RunId: job.GetId(), Time: timestamppb.Now(),
			Event: &orchestratorv1.RunPipelineResponse_RunFailed{RunFailed: failure}}
		if err := m.cfg.Store.AppendEvent(ctx, job.GetId(), seq+1, ev); err != nil {
			return err
		}
	}
	job.State, job.Outputs, job.Failure, job.EndTime = state, outputs, failure, timestamppb.Now()
	return m.cfg.Store.Update(ctx, job)
}

// ErrFull is returned by Create when the orchestrator's runs and queue are
// full.
var ErrFull = admission.ErrFull

// Create records a job and starts it in the background (it waits for a
// place among the orchestrator's runs first). inputs must be resolved
// (pipeline.ResolveInputs). A requestID already used returns that job.
func (m *Manager) Create(ctx context.Context, p *pipeline.Pipeline, given, inputs map[string]string, requestID string) (*orchestratorv1.Job, error) {
	if requestID != "" {
		if job, err := m.findRequest(ctx, requestID); err != nil || job != nil {
			return job, err
		}
	}
	ticket, err := m.cfg.Gate.Reserve()
	if err != nil {
		return nil, err
	}
	job := &orchestratorv1.Job{
		Id: newID(), Pipeline: p.Name, Inputs: given, RequestId: requestID,
		State: orchestratorv1.JobState_JOB_STATE_QUEUED, CreateTime: timestamppb.Now(),
	}
	stored, created, err := m.cfg.Store.Create(ctx, job)
	if err != nil || !created {
		ticket.Cancel()
		return stored, err
	}
	jctx, cancel := context.WithCancelCause(m.ctx)
	lj := &liveJob{cancel: cancel, changed: make(chan struct{}), done: make(chan struct{})}
	m.mu.Lock()
	m.live[job.Id] = lj
	m.mu.Unlock()
	m.wg.Go(func() {
		defer cancel(nil)
		m.run(jctx, lj, proto.CloneOf(job), p, inputs, ticket)
	})
	m.cfg.Log.InfoContext(ctx, "job created", "job_id", job.Id, "pipeline", p.Name)
	return job, nil
}

// findRequest returns the job created with requestID, or nil.
func (m *Manager) findRequest(ctx context.Context, requestID string) (*orchestratorv1.Job, error) {
	// The store's Create is the authority (two concurrent requests race to
	// it); this only spares a queue place for a repeated request.
	jobs, _, err := m.cfg.Store.List(ctx, Filter{Limit: 1, RequestID: requestID})
	if err != nil || len(jobs) == 0 {
		return nil, err
	}
	return jobs[0], nil
}

// run runs a job to its end and records every event and the outcome. It
// records with a context of its own: the job's may have ended.
func (m *Manager) run(ctx context.Context, lj *liveJob, job *orchestratorv1.Job, p *pipeline.Pipeline, inputs map[string]string, ticket *admission.Ticket) {
	rec := context.WithoutCancel(ctx)
	var seq int64
	defer func() {
		m.mu.Lock()
		delete(m.live, job.Id)
		close(lj.changed)
		m.mu.Unlock()
		close(lj.done)
	}()
	fail := func(err error) {
		state, failure := orchestratorv1.JobState_JOB_STATE_FAILED, &orchestratorv1.RunFailed{Code: "INTERNAL", Message: "the job failed"}
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errCancelled):
			state, failure = orchestratorv1.JobState_JOB_STATE_CANCELLED, &orchestratorv1.RunFailed{Code: "CANCELLED", Message: "cancelled by CancelJob"}
		case errors.Is(cause, errShutdown):
			failure = &orchestratorv1.RunFailed{Code: "ABORTED", Message: "the orchestrator shut down while the job was running; create the job again"}
		case err != nil:
			st := rpcerr.Status(err)
			failure = &orchestratorv1.RunFailed{Code: codeName(st.Code()), Message: st.Message()}
			if st.Code() == codes.Canceled {
				state = orchestratorv1.JobState_JOB_STATE_CANCELLED
			}
		}
		if err := m.finish(rec, job, seq, state, nil, failure); err != nil {
			m.cfg.Log.Error("recording a job's end", "job_id", job.Id, "error", err.Error())
		}
	}

	release, err := ticket.Wait(ctx)
	if err != nil {
		fail(nil)
		return
	}
	defer release()
	job.State, job.StartTime = orchestratorv1.JobState_JOB_STATE_RUNNING, timestamppb.Now()
	if err := m.cfg.Store.Update(rec, job); err != nil {
		fail(err)
		return
	}
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RunTimeout)
	defer cancel()
	var (
		outputs    []*orchestratorv1.RunOutput
		ranFailure *orchestratorv1.RunFailed
	)
	err = m.cfg.Runner.Run(rctx, p, inputs, func(ev *orchestratorv1.RunPipelineResponse) error {
		ev.RunId = job.Id
		if f := ev.GetRunFailed(); f != nil && context.Cause(ctx) != nil {
			// Cancelled or shut down: fail records why, in its own event.
			return nil
		}
		if err := m.cfg.Store.AppendEvent(rec, job.Id, seq+1, ev); err != nil {
			return err
		}
		seq++
		outputs = ev.GetRunCompleted().GetOutputs()
		if f := ev.GetRunFailed(); f != nil {
			ranFailure = f
		}
		m.mu.Lock()
		close(lj.changed)
		lj.changed = make(chan struct{})
		m.mu.Unlock()
		return nil
	})
	switch {
	case err == nil:
		if err := m.finish(rec, job, seq, orchestratorv1.JobState_JOB_STATE_SUCCEEDED, outputs, nil); err != nil {
			m.cfg.Log.Error("recording a job's end", "job_id", job.Id, "error", err.Error())
		}
	case ranFailure != nil && context.Cause(ctx) == nil:
		// The run sent its run_failed event already.
		job.State, job.Failure, job.EndTime = orchestratorv1.JobState_JOB_STATE_FAILED, ranFailure, timestamppb.Now()
		if err := m.cfg.Store.Update(rec, job); err != nil {
			m.cfg.Log.Error("recording a job's end", "job_id", job.Id, "error", err.Error())
		}
	default:
		fail(err)
	}
	m.cfg.Log.Info("job ended", "job_id", job.Id, "pipeline", job.Pipeline, "state", job.State.String())
}

// Get returns a job, or a NOT_FOUND error.
func (m *Manager) Get(ctx context.Context, id string) (*orchestratorv1.Job, error) {
	job, err := m.cfg.Store.Get(ctx, id)
	return job, storeErr(err, id)
}

// List returns a page of jobs (see Store.List).
func (m *Manager) List(ctx context.Context, f Filter) ([]*orchestratorv1.Job, int64, error) {
	jobs, next, err := m.cfg.Store.List(ctx, f)
	if err != nil {
		return nil, 0, storeErr(err, "")
	}
	for _, j := range jobs {
		j.Outputs = nil // GetJob has them; pages stay small
	}
	return jobs, next, nil
}

// Cancel stops a job this process runs and waits (until ctx ends) for it
// to be recorded CANCELLED. A job that has ended is returned unchanged.
func (m *Manager) Cancel(ctx context.Context, id string) (*orchestratorv1.Job, error) {
	m.mu.Lock()
	lj := m.live[id]
	m.mu.Unlock()
	if lj != nil {
		lj.cancel(errCancelled)
		select {
		case <-lj.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return m.Get(ctx, id)
}

// Watch sends a job's events from the first, then follows the job until
// it ends (or ctx does).
func (m *Manager) Watch(ctx context.Context, id string, send func(*orchestratorv1.WatchJobResponse) error) error {
	if _, err := m.Get(ctx, id); err != nil {
		return err
	}
	var after int64
	for {
		m.mu.Lock()
		var changed chan struct{}
		if lj := m.live[id]; lj != nil {
			changed = lj.changed
		}
		m.mu.Unlock()
		evs, err := m.cfg.Store.Events(ctx, id, after, 256)
		if err != nil {
			return storeErr(err, id)
		}
		for _, ev := range evs {
			if err := send(ev); err != nil {
				return err
			}
			after = ev.Sequence
		}
		if len(evs) > 0 {
			continue
		}
		if changed == nil {
			job, err := m.Get(ctx, id)
			if err != nil {
				return err
			}
			if ended(job.GetState()) {
				if job.GetEventCount() > after {
					continue // its last events arrived meanwhile
				}
				return nil
			}
			// Not ended and not running here: only a store shared with
			// another process gets here. Look again shortly.
			t := time.NewTimer(250 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close cancels every job this process runs, records each as failed (the
// orchestrator shut down) and waits for them.
func (m *Manager) Close() {
	m.cancel(errShutdown)
	m.wg.Wait()
}

func ended(s orchestratorv1.JobState) bool {
	switch s {
	case orchestratorv1.JobState_JOB_STATE_SUCCEEDED, orchestratorv1.JobState_JOB_STATE_FAILED, orchestratorv1.JobState_JOB_STATE_CANCELLED:
		return true
	}
	return false
}

// ReasonJobNotFound is the ErrorInfo reason for an unknown job id.
const ReasonJobNotFound = "JOB_NOT_FOUND"

func storeErr(err error, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return rpcerr.New(codes.NotFound, ReasonJobNotFound, fmt.Sprintf("no job %q", rpcerr.Clip(id, 64))).WithMetadata("job_id", rpcerr.Clip(id, 64))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "the job store failed").WithCause(err)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// codeName is the google.rpc.Code name of c, as RunFailed reports codes.
func codeName(c codes.Code) string {
	if _, ok := code.Code_name[int32(c)]; ok {
		return code.Code(c).String()
	}
	return "UNKNOWN"
}
