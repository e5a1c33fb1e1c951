package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"

	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/jobstest"
	"github.com/chorus-ai/chorus/orchestrator/internal/pgtest"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
)

// counting is a genaitest backend that counts the generations of each
// prompt, across every orchestrator calling it.
type counting struct {
	*genaitest.Backend
	mu    sync.Mutex
	calls map[string]int
}

func (c *counting) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	c.mu.Lock()
	c.calls[req.GetPrompt()]++
	c.mu.Unlock()
	return c.Backend.Generate(ctx, req, emit)
}

func (c *counting) count(substr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for p, k := range c.calls {
		if strings.Contains(p, substr) {
			n += k
		}
	}
	return n
}

func TestTwoOrchestratorsShareJobsInPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	bin := buildOrchestrator(t)
	text := &counting{Backend: genaitest.NewBackend(genaitest.Echo, genaitest.Hold), calls: map[string]int{}}
	h, err := genai.NewHandler(genai.Text, slog.New(slog.DiscardHandler), genai.Route{Backend: text, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	genai.Register(gs, h)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	args := func() []string {
		return []string{"-text-addr", lis.Addr().String(), "-audio-addr", serveFake(t, genai.Audio, genaitest.NewBackend(genaitest.Voice)),
			"-image-addr", "127.0.0.1:1", "-data-dir", t.TempDir(), "-jobs-db", dsn, "-lease", "2s"}
	}
	a, b := start(t, bin, args()...), start(t, bin, args()...)
	ctx := t.Context()
	create := func(o *orchestrator, topic, model, requestID string) *orchestratorv1.Job {
		t.Helper()
		r, err := o.client.CreateJob(ctx, &orchestratorv1.CreateJobRequest{Name: "script-then-voiceover", RequestId: requestID,
			Inputs: map[string]string{"topic": topic, "text_model": model}})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetJob()
	}

	// Jobs made on either run once, and either orchestrator sees them all.
	var ids []string
	for i := range 6 {
		o := a
		if i%2 == 1 {
			o = b
		}
		j := create(o, fmt.Sprintf("topic%d", i), genaitest.Echo, fmt.Sprintf("req%d", i))
		ids = append(ids, j.GetId())
	}
	for i, id := range ids {
		// Watched from the other one than created it.
		o := b
		if i%2 == 1 {
			o = a
		}
		evs := jobstest.Watch(t, o.client, id)
		if evs[len(evs)-1].GetEvent().GetRunCompleted() == nil {
			t.Fatalf("job %d ended %v", i, evs[len(evs)-1])
		}
		if n := text.count(fmt.Sprintf("topic%d,", i)); n != 1 {
			t.Errorf("job %d generated its script %d times, want once", i, n)
		}
	}
	page, err := b.client.ListJobs(ctx, &orchestratorv1.ListJobsRequest{State: orchestratorv1.JobState_JOB_STATE_SUCCEEDED})
	if err != nil || len(page.GetJobs()) != 6 {
		t.Fatalf("ListJobs on b: %d jobs, %v", len(page.GetJobs()), err)
	}
	// A request id used on a is known to b.
	if again := create(b, "topic0", genaitest.Echo, "req0"); again.GetId() != ids[0] {
		t.Errorf("request id req0 made job %s on b, want %s", again.GetId(), ids[0])
	}

	// b dies holding a job: once b's lease lapses, a records it failed,
	// and nobody runs it again.
	held := create(b, "held", genaitest.Hold, "")
	text.Wait(t, "started")
	b.Kill(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := a.client.GetJob(ctx, &orchestratorv1.GetJobRequest{Id: held.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if j := r.GetJob(); j.GetState() == orchestratorv1.JobState_JOB_STATE_FAILED {
			if j.GetFailure().GetMessage() != jobs.ReasonInterrupted {
				t.Errorf("failure %v", j.GetFailure())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead orchestrator's job is still %v", r.GetJob().GetState())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := text.count("held,"); n != 1 {
		t.Errorf("the held job's script was generated %d times, want once", n)
	}
}
