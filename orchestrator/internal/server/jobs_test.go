package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/orchestrator/internal/artifact"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/jobstest"
	"github.com/chorus-ai/chorus/orchestrator/internal/runner"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
)

// holding streams one sentence, then blocks until canceled; started and
// canceled receive a note each time.
func holding() (svc *genaitest.Service, started, canceled chan struct{}) {
	started, canceled = make(chan struct{}, 16), make(chan struct{}, 16)
	svc = &genaitest.Service{StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		started <- struct{}{}
		if err := st.Send(genaitest.Delta("The first sentence. The")); err != nil {
			return err
		}
		<-st.Context().Done()
		canceled <- struct{}{}
		return st.Context().Err()
	}}
	return svc, started, canceled
}

func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("gave up waiting for %s", what)
	}
}

func TestJobRunsWatchesAndLists(t *testing.T) {
	audio := &speaking{}
	c := newTestServer(t, fakes{text: streaming("One is here. Two is", " here."), audio: audio.service(), dataDir: t.TempDir()})
	ctx := t.Context()

	created, err := c.CreateJob(ctx, &orchestratorv1.CreateJobRequest{Name: "script-then-voiceover", Inputs: map[string]string{"topic": "x"}, RequestId: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	job := created.GetJob()
	if len(job.GetId()) != 32 || job.GetState() != orchestratorv1.JobState_JOB_STATE_QUEUED || job.GetPipeline() != "script-then-voiceover" {
		t.Fatalf("created %v", job)
	}
	events := jobstest.Watch(t, c, job.GetId())
	if len(events) < 5 {
		t.Fatalf("%d events: %v", len(events), events)
	}
	for i, ev := range events {
		if ev.GetSequence() != int64(i+1) || ev.GetEvent().GetRunId() != job.GetId() {
			t.Fatalf("event %d: %v", i, ev)
		}
	}
	if events[len(events)-1].GetEvent().GetRunCompleted() == nil {
		t.Fatalf("last event %v", events[len(events)-1])
	}
	got, err := c.GetJob(ctx, &orchestratorv1.GetJobRequest{Id: job.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if g := got.GetJob(); g.GetState() != orchestratorv1.JobState_JOB_STATE_SUCCEEDED || len(g.GetOutputs()) != 3 ||
		g.GetEventCount() != int64(len(events)) || g.GetEndTime() == nil || g.GetStartTime() == nil || g.GetInputs()["topic"] != "x" {
		t.Fatalf("job after the run: %v", g)
	}
	// A second watch replays the same events.
	if again := jobstest.Watch(t, c, job.GetId()); len(again) != len(events) {
		t.Errorf("second watch: %d events, first %d", len(again), len(events))
	}
	// The same request id does not make a second job.
	dup, err := c.CreateJob(ctx, &orchestratorv1.CreateJobRequest{Name: "script-then-voiceover", Inputs: map[string]string{"topic": "x"}, RequestId: "req-1"})
	if err != nil || dup.GetJob().GetId() != job.GetId() {
		t.Fatalf("repeated request id: %v, %v; want job %s", dup, err, job.GetId())
	}

	// Two more jobs (one of another pipeline) for the listing.
	var ids []string
	for _, name := range []string{"script-then-voiceover", "illustrated-story"} {
		r, err := c.CreateJob(ctx, &orchestratorv1.CreateJobRequest{Name: name, Inputs: map[string]string{"topic": "y"}})
		if err != nil {
			t.Fatal(err)
		}
		jobstest.Watch(t, c, r.GetJob().GetId())
		ids = append(ids, r.GetJob().GetId())
	}
	for _, tc := range []struct {
		name string
		req  *orchestratorv1.ListJobsRequest
		want []string
	}{
		{name: "all, newest first", req: &orchestratorv1.ListJobsRequest{}, want: []string{ids[1], ids[0], job.GetId()}},
		{name: "by pipeline", req: &orchestratorv1.ListJobsRequest{Pipeline: "script-then-voiceover"}, want: []string{ids[0], job.GetId()}},
		// illustrated-story has no image service here, so it failed.
		{name: "by state", req: &orchestratorv1.ListJobsRequest{State: orchestratorv1.JobState_JOB_STATE_FAILED}, want: []string{ids[1]}},
		{name: "pages of one", req: &orchestratorv1.ListJobsRequest{PageSize: 1}, want: []string{ids[1], ids[0], job.GetId()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen []string
			req := tc.req
			for {
				page, err := c.ListJobs(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range page.GetJobs() {
					seen = append(seen, j.GetId())
					if len(j.GetOutputs()) != 0 {
						t.Errorf("ListJobs carries outputs")
					}
				}
				if page.GetNextPageToken() == "" {
					break
				}
				req.PageToken = page.GetNextPageToken()
			}
			if strings.Join(seen, ",") != strings.Join(tc.want, ",") {
				t.Errorf("listed %v, want %v", seen, tc.want)
			}
		})
	}
	for _, req := range []*orchestratorv1.ListJobsRequest{{PageSize: -1}, {PageSize: 101}, {PageToken: "!!"}, {State: 42}} {
		if _, err := c.ListJobs(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListJobs(%v) = %v, want INVALID_ARGUMENT", req, err)
		}
	}
}

func TestJobRequestsRejected(t *testing.T) {
	c := newTestServer(t, fakes{text: streaming("x."), audio: (&speaking{}).service(), dataDir: t.TempDir()})
	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"unknown pipeline", func() error {
			_, err := c.CreateJob(t.Context(), &orchestratorv1.CreateJobRequest{Name: "nope"})
			return err
		}, codes.NotFound},
		{"missing input", func() error {
			_, err := c.CreateJob(t.Context(), &orchestratorv1.CreateJobRequest{Name: "script-then-voiceover"})
			return err
		}, codes.InvalidArgument},
		{"long request id", func() error {
			_, err := c.CreateJob(t.Context(), &orchestratorv1.CreateJobRequest{Name: "script-then-voiceover", Inputs: map[string]string{"topic": "x"}, RequestId: strings.Repeat("r", 129)})
			return err
		}, codes.InvalidArgument},
		{"unknown job", func() error {
			_, err := c.GetJob(t.Context(), &orchestratorv1.GetJobRequest{Id: "0123"})
			return err
		}, codes.NotFound},
		{"cancel unknown job", func() error {
			_, err := c.CancelJob(t.Context(), &orchestratorv1.CancelJobRequest{Id: "0123"})
			return err
		}, codes.NotFound},
		{"watch unknown job", func() error {
			s, err := c.WatchJob(t.Context(), &orchestratorv1.WatchJobRequest{Id: "0123"})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.NotFound},
		{"unknown artifact", func() error {
			s, err := c.GetArtifact(t.Context(), &orchestratorv1.GetArtifactRequest{Id: strings.Repeat("ab", 16)})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); status.Code(err) != tc.want {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Nothing was created by the rejected requests.
	page, err := c.ListJobs(t.Context(), &orchestratorv1.ListJobsRequest{})
	if err != nil || len(page.GetJobs()) != 0 {
		t.Errorf("ListJobs = %v, %v; want no jobs", page, err)
	}
}

func TestCancelJobStopsItsCalls(t *testing.T) {
	text, started, canceled := holding()
	c := newTestServer(t, fakes{text: text, audio: (&speaking{}).service(), dataDir: t.TempDir()})
	created, err := c.CreateJob(t.Context(), &orchestratorv1.CreateJobRequest{Name: "script-then-voiceover", Inputs: map[string]string{"topic": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetJob().GetId()
	receive(t, started, "the text call to start")
	// A watcher following the job sees it end.
	watched := make(chan []*orchestratorv1.WatchJobResponse, 1)
	go func() {
		stream, err := c.WatchJob(t.Context(), &orchestratorv1.WatchJobRequest{Id: id})
		var evs []*orchestratorv1.WatchJobResponse
		for err == nil {
			var ev *orchestratorv1.WatchJobResponse
			if ev, err = stream.Recv(); err == nil {
				evs = append(evs, ev)
			}
		}
		watched <- evs
	}()
	resp, err := c.CancelJob(t.Context(), &orchestratorv1.CancelJobRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if j := resp.GetJob(); j.GetState() != orchestratorv1.JobState_JOB_STATE_CANCELLED || j.GetFailure().GetCode() != "CANCELLED" {
		t.Fatalf("after CancelJob: %v", j)
	}
	receive(t, canceled, "the text call to be canceled")
	var evs []*orchestratorv1.WatchJobResponse
	select {
	case evs = <-watched:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not end with the job")
	}
	if len(evs) == 0 || evs[len(evs)-1].GetEvent().GetRunFailed().GetCode() != "CANCELLED" {
		t.Fatalf("watched %v", evs)
	}
	// Cancelling again changes nothing.
	again, err := c.CancelJob(t.Context(), &orchestratorv1.CancelJobRequest{Id: id})
	if err != nil || again.GetJob().GetState() != orchestratorv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("second CancelJob: %v, %v", again, err)
	}
}

func TestAdmissionQueuesThenRefuses(t *testing.T) {
	text, started, _ := holding()
	c := newTestServer(t, fakes{text: text, audio: (&speaking{}).service(), dataDir: t.TempDir(), maxRuns: 1, runQueue: 1})
	create := func() (*orchestratorv1.Job, error) {
		r, err := c.CreateJob(t.Context(), &orchestratorv1.CreateJobRequest{Name: "script-then-voiceover", Inputs: map[string]string{"topic": "x"}})
		return r.GetJob(), err
	}
	first, err := create()
	if err != nil {
		t.Fatal(err)
	}
	receive(t, started, "the first job's text call")
	second, err := create() // waits in the queue
	if err != nil {
		t.Fatal(err)
	}
	_, err = create()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("third job: %v, want RESOURCE_EXHAUSTED", err)
	}
	if reason, _ := rpcerr.Details(st); reason != rpcerr.ReasonQueueFull {
		t.Errorf("reason %q", reason)
	}
	if d := rpcerr.RetryDelay(st); d != RetryAfter {
		t.Errorf("RetryInfo delay %s, want %s", d, RetryAfter)
	}
	// Synchronous runs share the bound.
	if _, err := run(t, c, "script-then-voiceover", map[string]string{"topic": "x"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("RunPipeline: %v, want RESOURCE_EXHAUSTED", err)
	}
	got, err := c.GetJob(t.Context(), &orchestratorv1.GetJobRequest{Id: second.GetId()})
	if err != nil || got.GetJob().GetState() != orchestratorv1.JobState_JOB_STATE_QUEUED {
		t.Fatalf("second job %v, %v; want QUEUED", got, err)
	}
	// Ending the first lets the second run.
	if _, err := c.CancelJob(t.Context(), &orchestratorv1.CancelJobRequest{Id: first.GetId()}); err != nil {
		t.Fatal(err)
	}
	receive(t, started, "the second job's text call")
	if _, err := c.CancelJob(t.Context(), &orchestratorv1.CancelJobRequest{Id: second.GetId()}); err != nil {
		t.Fatal(err)
	}
}

func TestLargeVoiceoverTravelsByReference(t *testing.T) {
	// Three sentences of 1.5 MiB of speech each: the voiceover (4.5 MiB) is
	// over one gRPC message, and each segment over the inline limit.
	audio := &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{{MimeType: "audio/wav",
			Content: &genaiv1.Artifact_Data{Data: genaitest.WAV(16000, 3<<18, int16(len(r.GetPrompt())))}}}}, nil
	}}
	c := newTestServer(t, fakes{text: streaming("One is here. Two is here. Three is here."), audio: audio, dataDir: t.TempDir()})
	events, err := run(t, c, "script-then-voiceover", map[string]string{"topic": "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if a := ev.GetStepDelta().GetArtifact(); a != nil && artifact.IDFromURI(a.GetUri()) == "" {
			t.Errorf("segment %v is not by reference", a.GetMetadata())
		}
	}
	var voiceover *genaiv1.Artifact
	for _, o := range events[len(events)-1].GetRunCompleted().GetOutputs() {
		if o.GetName() == "voiceover" {
			voiceover = o.GetArtifact()
		}
	}
	id := artifact.IDFromURI(voiceover.GetUri())
	if id == "" || voiceover.GetSizeBytes() <= runner.MaxResultBytes || voiceover.GetMetadata().GetDurationSeconds() < 2 {
		t.Fatalf("voiceover %v", voiceover)
	}
	data := fetchArtifact(t, c, &orchestratorv1.GetArtifactRequest{Id: id}, voiceover)
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != voiceover.GetSha256() || int64(len(data)) != voiceover.GetSizeBytes() {
		t.Fatalf("fetched %d bytes that do not match the voiceover's size and sha256", len(data))
	}
	audioOut, err := wav.Decode(data)
	if err != nil || len(audioOut.Samples) != 3*(3<<18) {
		t.Fatalf("fetched voiceover: %v, %d samples", err, len(audioOut.Samples))
	}
	// A part of it.
	part := fetchArtifact(t, c, &orchestratorv1.GetArtifactRequest{Id: id, Offset: 1000, Limit: 3 << 20}, voiceover)
	if !bytes.Equal(part, data[1000:1000+3<<20]) {
		t.Errorf("the part from offset 1000 differs")
	}
}

// fetchArtifact reads an artifact through GetArtifact and checks its info
// against want.
func fetchArtifact(t *testing.T, c orchestratorv1.OrchestratorServiceClient, req *orchestratorv1.GetArtifactRequest, want *genaiv1.Artifact) []byte {
	t.Helper()
	stream, err := c.GetArtifact(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if info := first.GetInfo(); info.GetSha256() != want.GetSha256() || info.GetSizeBytes() != want.GetSizeBytes() || info.GetMimeType() != want.GetMimeType() {
		t.Fatalf("info %v, want %v", info, want)
	}
	var data []byte
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return data
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(m.GetChunk()) > 1<<20 {
			t.Fatalf("a chunk of %d bytes", len(m.GetChunk()))
		}
		data = append(data, m.GetChunk()...)
	}
}

func TestCancellingAQueuedJob(t *testing.T) {
	text, started, _ := holding()
	c := newTestServer(t, fakes{text: text, audio: (&speaking{}).service(), dataDir: t.TempDir(), maxRuns: 1, runQueue: 1})
	create := func() *orchestratorv1.Job {
		r, err := c.CreateJob(t.Context(), &orchestratorv1.CreateJobRequest{Name: "script-then-voiceover", Inputs: map[string]string{"topic": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetJob()
	}
	first := create()
	receive(t, started, "the first job's text call")
	queued := create()
	r, err := c.CancelJob(t.Context(), &orchestratorv1.CancelJobRequest{Id: queued.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if j := r.GetJob(); j.GetState() != orchestratorv1.JobState_JOB_STATE_CANCELLED || j.GetStartTime() != nil {
		t.Fatalf("the queued job after CancelJob: %v", j)
	}
	if evs := jobstest.Watch(t, c, queued.GetId()); len(evs) != 1 || evs[0].GetEvent().GetRunFailed().GetCode() != "CANCELLED" {
		t.Fatalf("the queued job's events: %v", evs)
	}
	// Its queue place is free again.
	third := create()
	for _, id := range []string{first.GetId(), third.GetId()} {
		if _, err := c.CancelJob(t.Context(), &orchestratorv1.CancelJobRequest{Id: id}); err != nil {
			t.Fatal(err)
		}
	}
}
