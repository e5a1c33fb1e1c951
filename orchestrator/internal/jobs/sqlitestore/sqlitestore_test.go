package sqlitestore

import (
	"errors"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"

	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
)

func TestStoreKeepsJobsAcrossReopening(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "jobs.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	job := &orchestratorv1.Job{Id: "a", Pipeline: "p", RequestId: "r", State: orchestratorv1.JobState_JOB_STATE_RUNNING}
	if _, created, err := s.Create(t.Context(), job); err != nil || !created {
		t.Fatalf("Create: %v, %v", created, err)
	}
	dup := &orchestratorv1.Job{Id: "b", Pipeline: "p", RequestId: "r"}
	if got, created, err := s.Create(t.Context(), dup); err != nil || created || got.GetId() != "a" {
		t.Fatalf("Create with a used request id: %v, %v, %v", got, created, err)
	}
	ev := &orchestratorv1.RunPipelineResponse{RunId: "a", Event: &orchestratorv1.RunPipelineResponse_StepStarted{StepStarted: &orchestratorv1.StepStarted{Step: "s"}}}
	if err := s.AppendEvent(t.Context(), "a", 1, ev); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvent(t.Context(), "a", 1, ev); err == nil {
		t.Error("an event number was stored twice")
	}
	if orphans, err := s.Orphans(t.Context()); err != nil || len(orphans) != 0 {
		t.Fatalf("Orphans while the owner is open: %v, %v", orphans, err)
	}
	// A second store on the same file (another process) sees the first's
	// jobs as owned while it is open, and as orphans once it is closed.
	other, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if orphans, err := other.Orphans(t.Context()); err != nil || len(orphans) != 0 {
		t.Fatalf("another store's Orphans while the owner is open: %v, %v", orphans, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	orphans, err := other.Orphans(t.Context())
	if err != nil || len(orphans) != 1 || orphans[0].GetId() != "a" || orphans[0].GetEventCount() != 1 {
		t.Fatalf("Orphans after the owner closed: %v, %v", orphans, err)
	}
	evs, err := other.Events(t.Context(), "a", 0, 10)
	if err != nil || len(evs) != 1 || evs[0].GetEvent().GetStepStarted().GetStep() != "s" {
		t.Fatalf("Events: %v, %v", evs, err)
	}
	if _, err := other.Get(t.Context(), "b"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("Get of a job never stored: %v", err)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
