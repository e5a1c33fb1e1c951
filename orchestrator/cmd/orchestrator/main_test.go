package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/jobstest"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/processtest"
)

func TestMain(m *testing.M) { processtest.Main(m) }

// buildOrchestrator builds this command, once for the tests of this
// package.
func buildOrchestrator(t *testing.T) string {
	t.Helper()
	return filepath.Join(processtest.Build(t, "./orchestrator/cmd/orchestrator"), "orchestrator")
}

// serveFake serves a genaitest backend as the modality's service on a
// loopback TCP port (the orchestrator is another process) and returns its
// address.
func serveFake(t *testing.T, m genai.Modality, b genai.Backend) string {
	t.Helper()
	return genaitest.Listen(t, m, b)
}

// orchestrator is a running orchestrator process.
type orchestrator struct {
	*processtest.Process
	client orchestratorv1.OrchestratorServiceClient
	conn   *grpc.ClientConn
}

// start starts the orchestrator with args and waits until it answers.
func start(t *testing.T, bin string, args ...string) *orchestrator {
	t.Helper()
	addr := freeAddr(t)
	o := &orchestrator{Process: processtest.Start(t, "orchestrator", exec.Command(bin, append([]string{"-grpc-addr", addr}, args...)...))}
	var err error
	if o.conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.conn.Close() })
	o.client = orchestratorv1.NewOrchestratorServiceClient(o.conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := o.client.ListPipelines(ctx, &orchestratorv1.ListPipelinesRequest{}, grpc.WaitForReady(true))
		cancel()
		if err == nil {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("the orchestrator did not answer: %v\n%s", err, o.Logs)
		}
	}
}

func TestJobsSurviveAKilledOrchestrator(t *testing.T) {
	bin := buildOrchestrator(t)
	text := genaitest.NewBackend(genaitest.Echo, genaitest.Hold)
	audio := genaitest.NewBackend(genaitest.Voice)
	data := t.TempDir()
	args := []string{
		"-text-addr", serveFake(t, genai.Text, text), "-audio-addr", serveFake(t, genai.Audio, audio),
		"-image-addr", "127.0.0.1:1", "-data-dir", data,
	}
	o := start(t, bin, args...)
	ctx := t.Context()
	create := func(c orchestratorv1.OrchestratorServiceClient, model, requestID string) *orchestratorv1.Job {
		t.Helper()
		r, err := c.CreateJob(ctx, &orchestratorv1.CreateJobRequest{Name: "script-then-voiceover", RequestId: requestID,
			Inputs: map[string]string{"topic": "the sea", "text_model": model}})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetJob()
	}

	done := create(o.client, genaitest.Echo, "finished-before")
	jobstest.Watch(t, o.client, done.GetId())
	held := create(o.client, genaitest.Hold, "interrupted")
	text.Wait(t, "started")
	if r, err := o.client.GetJob(ctx, &orchestratorv1.GetJobRequest{Id: held.GetId()}); err != nil || r.GetJob().GetState() != orchestratorv1.JobState_JOB_STATE_RUNNING {
		t.Fatalf("before the kill: %v, %v; want RUNNING", r, err)
	}
	o.Kill(t)
	text.Wait(t, "canceled") // the dead process's call ended with its connection

	o = start(t, bin, args...)
	got, err := o.client.GetJob(ctx, &orchestratorv1.GetJobRequest{Id: held.GetId()})
	if err != nil {
		t.Fatalf("the interrupted job after the restart: %v", err)
	}
	if j := got.GetJob(); j.GetState() != orchestratorv1.JobState_JOB_STATE_FAILED || j.GetFailure().GetCode() != "ABORTED" ||
		j.GetFailure().GetMessage() != jobs.ReasonInterrupted || j.GetEndTime() == nil {
		t.Fatalf("the interrupted job after the restart: %v", j)
	}
	evs := jobstest.Watch(t, o.client, held.GetId())
	if len(evs) < 2 || evs[0].GetEvent().GetStepStarted() == nil || evs[len(evs)-1].GetEvent().GetRunFailed().GetMessage() != jobs.ReasonInterrupted {
		t.Fatalf("the interrupted job's events: %v", evs)
	}
	got, err = o.client.GetJob(ctx, &orchestratorv1.GetJobRequest{Id: done.GetId()})
	if err != nil || got.GetJob().GetState() != orchestratorv1.JobState_JOB_STATE_SUCCEEDED || len(got.GetJob().GetOutputs()) != 3 {
		t.Fatalf("the finished job after the restart: %v, %v", got, err)
	}
	// Request ids are remembered across the restart.
	if again := create(o.client, genaitest.Echo, "finished-before"); again.GetId() != done.GetId() {
		t.Errorf("a repeated request id made job %s, want %s", again.GetId(), done.GetId())
	}
	// And new jobs run.
	fresh := create(o.client, genaitest.Echo, "")
	if evs := jobstest.Watch(t, o.client, fresh.GetId()); evs[len(evs)-1].GetEvent().GetRunCompleted() == nil {
		t.Fatalf("a job after the restart: %v", evs[len(evs)-1])
	}
	if !strings.Contains(o.Logs.String(), "jobs interrupted by the last stop marked failed") {
		t.Errorf("the restart did not log the interrupted job")
	}
	if _, err := os.Stat(filepath.Join(data, "jobs.db")); err != nil {
		t.Errorf("no job database at the default path under -data-dir: %v", err)
	}
}

// A pipeline of the user's, in -pipelines-dir, runs without code changes:
// here one that voices the first two sentences of a text, upper-cased.
const userPipeline = `name: shout-the-opening
description: Voices the first two sentences of a text, in capitals.
inputs:
  - name: text
    required: true
steps:
  - name: sentences
    transform: split_sentences
    text: "{{upper .text}}"
  - name: opening
    transform: take 2
    needs: [sentences]
  - name: speech
    modality: audio
    for_each: {from: opening}
    prompt: "{{.item}}"
outputs:
  - name: opening
    mime_type: text/plain; charset=utf-8
    from: opening
  - name: speech
    mime_type: audio/wav
    from: speech
    assemble: wav
`

func TestUserPipelineFromADirectory(t *testing.T) {
	bin := buildOrchestrator(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shout.yaml"), []byte(userPipeline), 0o600); err != nil {
		t.Fatal(err)
	}
	o := start(t, bin, "-pipelines-dir", dir, "-audio-addr", serveFake(t, genai.Audio, genaitest.NewBackend(genaitest.Voice)),
		"-text-addr", "127.0.0.1:1", "-image-addr", "127.0.0.1:1", "-data-dir", t.TempDir())
	stream, err := o.client.RunPipeline(t.Context(), &orchestratorv1.RunPipelineRequest{Name: "shout-the-opening",
		Inputs: map[string]string{"text": "One is here. Two is there. Three is gone."}})
	if err != nil {
		t.Fatal(err)
	}
	var last *orchestratorv1.RunPipelineResponse
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	outs := last.GetRunCompleted().GetOutputs()
	if len(outs) != 2 || outs[0].GetArtifact().GetText() != "ONE IS HERE.\nTWO IS THERE." || outs[1].GetArtifact().GetMetadata().GetDurationSeconds() <= 0 {
		t.Fatalf("outputs %v", outs)
	}
}
