package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/orchestrator/internal/admission"
	"github.com/chorus-ai/chorus/orchestrator/internal/artifact"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/sqlitestore"
	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/orchestrator/internal/runner"
	"github.com/chorus-ai/chorus/platform/dial"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve"
)

// spans records every span the tests make; set before any server exists so
// otelgrpc and the runner both use it.
var spans = tracetest.NewSpanRecorder()

func TestMain(m *testing.M) {
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	goleak.VerifyTestMain(m)
}

// fakes are the modality services a test server talks to; nil ones are not
// configured.
type fakes struct {
	text, image, audio *genaitest.Service
	runTimeout         time.Duration
	// dial connects the test's client as the gateway does (platform/dial,
	// with its retry policy) rather than plainly.
	dial bool
	// dataDir, when set, gives the server a job store and an artifact
	// store there.
	dataDir string
	// maxRuns and runQueue set admission (0: unbounded).
	maxRuns, runQueue int
	// retriever serves the retrieve transform.
	retriever runner.Retriever
}

// newTestServer serves the orchestrator through serve (the real interceptors
// and error mapping) on 127.0.0.1 over the given fakes, and returns a client.
func newTestServer(tb testing.TB, f fakes) orchestratorv1.OrchestratorServiceClient {
	tb.Helper()
	clients := map[genai.Modality]genai.Client{}
	if f.text != nil {
		clients[genai.Text] = genaitest.Serve(tb, genai.Text, f.text)
	}
	if f.image != nil {
		clients[genai.Image] = genaitest.Serve(tb, genai.Image, f.image)
	}
	if f.audio != nil {
		clients[genai.Audio] = genaitest.Serve(tb, genai.Audio, f.audio)
	}
	log := slog.New(slog.DiscardHandler)
	reg, err := pipeline.Builtin()
	if err != nil {
		tb.Fatalf("Builtin: %v", err)
	}
	cfg := Config{Pipelines: reg, RunTimeout: f.runTimeout, Log: log}
	rcfg := runner.Config{Clients: clients, Log: log, Retry: runner.Retry{Attempts: 3, Initial: time.Millisecond}, Retriever: f.retriever}
	if f.maxRuns > 0 {
		cfg.Gate = admission.New(f.maxRuns, f.runQueue)
	}
	if f.dataDir != "" {
		arts, err := artifact.OpenDir(filepath.Join(f.dataDir, "artifacts"))
		if err != nil {
			tb.Fatal(err)
		}
		rcfg.Artifacts, cfg.Artifacts = arts, arts
	}
	rn := runner.New(rcfg)
	cfg.Runner = rn
	if f.dataDir != "" {
		store, err := sqlitestore.Open(tb.Context(), filepath.Join(f.dataDir, "jobs.db"))
		if err != nil {
			tb.Fatal(err)
		}
		gate := cfg.Gate
		if gate == nil {
			gate = admission.New(64, 64)
		}
		cfg.Jobs = jobs.New(jobs.Config{Store: store, Runner: rn, Gate: gate, RunTimeout: time.Minute, Log: log})
		// Cleanups run last first: the server stops before these run.
		tb.Cleanup(func() {
			cfg.Jobs.Close()
			if err := store.Close(); err != nil {
				tb.Errorf("closing the job store: %v", err)
			}
		})
	}
	srv, err := serve.New(serve.Config{Addr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second, OnPanic: serve.FailOnPanic(tb)}, log)
	if err != nil {
		tb.Fatalf("serve.New: %v", err)
	}
	srv.SetServing(New(cfg).Register(srv.GRPC()))
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()
	var conn *grpc.ClientConn
	if f.dial {
		conn, err = dial.Dial(srv.Addr().String())
	} else {
		conn, err = grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if err != nil {
		tb.Fatalf("client: %v", err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-ran; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return orchestratorv1.NewOrchestratorServiceClient(conn)
}

// collect reads events until the stream ends and returns them with the
// final status (nil for OK).
func collect(stream grpc.ServerStreamingClient[orchestratorv1.RunPipelineResponse]) ([]*orchestratorv1.RunPipelineResponse, error) {
	var events []*orchestratorv1.RunPipelineResponse
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, ev)
	}
}

// speaking answers every audio request with fake.Speech and records the
// requests.
type speaking struct {
	mu   sync.Mutex
	reqs []*genaiv1.GenerateRequest
}

func (s *speaking) service() *genaitest.Service {
	return &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		return genaitest.SpeechResponse(r), nil
	}}
}

// streaming streams the given deltas then a done chunk with their text.
func streaming(deltas ...string) *genaitest.Service {
	return &genaitest.Service{StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		for _, d := range deltas {
			if err := st.Send(genaitest.Delta(d)); err != nil {
				return err
			}
		}
		return st.Send(genaitest.Done(strings.Join(deltas, "")))
	}}
}

func run(t *testing.T, c orchestratorv1.OrchestratorServiceClient, name string, inputs map[string]string) ([]*orchestratorv1.RunPipelineResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := c.RunPipeline(ctx, &orchestratorv1.RunPipelineRequest{Name: name, Inputs: inputs})
	if err != nil {
		return nil, err
	}
	return collect(stream)
}

func TestScriptThenVoiceoverStreamsSpeechBeforeTheScriptEnds(t *testing.T) {
	proceed := make(chan struct{})
	var textReq atomic.Pointer[genaiv1.GenerateRequest]
	text := &genaitest.Service{StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		textReq.Store(r)
		// The splitter needs the start of the next sentence to know the
		// first one ended.
		if err := st.Send(genaitest.Delta("The sea is deep. It")); err != nil {
			return err
		}
		select {
		case <-proceed:
		case <-st.Context().Done():
			return st.Context().Err()
		}
		for _, d := range []string{" is also  wide.  Fish swim", " in it, too."} {
			if err := st.Send(genaitest.Delta(d)); err != nil {
				return err
			}
		}
		return st.Send(genaitest.Done("ignored: the deltas are the text"))
	}}
	audio := &speaking{}
	c := newTestServer(t, fakes{text: text, audio: audio.service()})

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := c.RunPipeline(ctx, &orchestratorv1.RunPipelineRequest{Name: "script-then-voiceover", Inputs: map[string]string{"topic": "the sea", "voice": "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	// Read until the first audio segment. The text service is still paused
	// mid-script, so it can only arrive if the voiceover started early.
	var events []*orchestratorv1.RunPipelineResponse
	for {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatalf("before the first audio segment: %v (events %v)", err, events)
		}
		events = append(events, ev)
		if ev.GetStepDelta().GetArtifact() != nil {
			break
		}
	}
	for _, ev := range events {
		if ev.GetStepCompleted() != nil || ev.GetRunCompleted() != nil {
			t.Fatalf("a step completed before the first audio segment: %v", ev)
		}
	}
	first := events[len(events)-1].GetStepDelta()
	if first.GetStep() != "voiceover" || first.GetArtifact().GetMetadata().GetSourceText() != "The sea is deep." {
		t.Fatalf("first segment = %v", first)
	}
	close(proceed)
	rest, err := collect(stream)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	events = append(events, rest...)

	sentences := []string{"The sea is deep.", "It is also wide.", "Fish swim in it, too."}
	wantScript := "The sea is deep. It is also  wide.  Fish swim in it, too."
	var (
		script   strings.Builder
		segments []*genaiv1.Artifact
	)
	runID := events[0].GetRunId()
	for i, ev := range events {
		if ev.GetRunId() != runID || runID == "" || ev.GetTime() == nil {
			t.Errorf("event %d has run id %q and time %v; want %q and a time", i, ev.GetRunId(), ev.GetTime(), runID)
		}
		if d := ev.GetStepDelta(); d != nil {
			switch d.GetStep() {
			case "script":
				script.WriteString(d.GetText())
			case "voiceover":
				segments = append(segments, d.GetArtifact())
			}
		}
		if (ev.GetRunCompleted() != nil) != (i == len(events)-1) {
			t.Errorf("event %d of %d: %v; want run_completed last and only last", i, len(events), ev)
		}
	}
	if script.String() != wantScript {
		t.Errorf("script deltas = %q, want %q", script.String(), wantScript)
	}

	// The segments: in order, one per sentence, with offsets.
	var (
		wantPCM []byte
		offset  float64
		cues    []string
	)
	if len(segments) != len(sentences) {
		t.Fatalf("got %d segments, want %d", len(segments), len(sentences))
	}
	for i, s := range sentences {
		md := segments[i].GetMetadata()
		dur := float64(len(s)) / 100
		if md.GetIndex() != int32(i) || md.GetSourceText() != s || !near(md.GetOffsetSeconds(), offset) || !near(md.GetDurationSeconds(), dur) {
			t.Errorf("segment %d metadata = %v; want index %d, text %q, offset %v, duration %v", i, md, i, s, offset, dur)
		}
		wantPCM = append(wantPCM, genaitest.WAV(16000, 160*len(s), int16(len(s)))[44:]...)
		cues = append(cues, fmt.Sprintf("\n%d\n%s --> %s\n%s\n", i+1, vttTime(offset), vttTime(offset+dur), s))
		offset += dur
	}

	done := events[len(events)-1].GetRunCompleted()
	outputs := map[string]*genaiv1.Artifact{}
	var names []string
	for _, o := range done.GetOutputs() {
		outputs[o.GetName()] = o.GetArtifact()
		names = append(names, o.GetName())
	}
	if want := []string{"script", "voiceover", "captions"}; !slices.Equal(names, want) {
		t.Fatalf("outputs %v, want %v", names, want)
	}
	if got := outputs["script"].GetText(); got != wantScript {
		t.Errorf("script output = %q, want %q", got, wantScript)
	}
	wantWAV := append(genaitest.WAV(16000, len(wantPCM)/2, 0)[:44], wantPCM...)
	if got := outputs["voiceover"]; !bytes.Equal(got.GetData(), wantWAV) || got.GetMimeType() != "audio/wav" || got.GetSha256() == "" {
		t.Errorf("voiceover = %d bytes (%s), want the %d-byte concatenation of the segments", len(got.GetData()), got.GetMimeType(), len(wantWAV))
	}
	if got, want := outputs["captions"].GetText(), "WEBVTT\n"+strings.Join(cues, ""); got != want {
		t.Errorf("captions =\n%s\nwant\n%s", got, want)
	}
	if ttfa := done.GetTimeToFirstAudio(); ttfa == nil || ttfa.AsDuration() <= 0 || ttfa.AsDuration() > done.GetDuration().AsDuration() {
		t.Errorf("time_to_first_audio %v with duration %v", ttfa, done.GetDuration())
	}

	// The calls: the topic and default max_tokens reach the text service,
	// the voice and one sentence per call reach the audio service.
	if r := textReq.Load(); !strings.Contains(r.GetPrompt(), "about: the sea") || r.GetText().GetMaxTokens() != 200 || r.GetModel() != "" {
		t.Errorf("text request = %v", r)
	}
	audio.mu.Lock()
	defer audio.mu.Unlock()
	// Calls overlap (the next sentence is synthesised while one is
	// emitted), so they may arrive in any order.
	var prompts []string
	for _, r := range audio.reqs {
		prompts = append(prompts, r.GetPrompt())
		if r.GetAudio().GetVoice() != "alice" {
			t.Errorf("audio request %v lacks the voice", r)
		}
	}
	slices.Sort(prompts)
	if want := slices.Sorted(slices.Values(sentences)); !slices.Equal(prompts, want) {
		t.Errorf("audio prompts %q, want one per sentence %q", prompts, want)
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func vttTime(s float64) string {
	ms := int64(s*1000 + 0.5)
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

func TestSegmentsStayInOrderWhenAudioAnswersOutOfOrder(t *testing.T) {
	secondAnswered := make(chan struct{})
	var mu sync.Mutex
	var answered []string
	audio := &genaitest.Service{Generate: func(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		if r.GetPrompt() == "One is first." {
			// Hold the first sentence until the second is answered.
			select {
			case <-secondAnswered:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		mu.Lock()
		answered = append(answered, r.GetPrompt())
		mu.Unlock()
		if r.GetPrompt() == "Two is second." {
			defer close(secondAnswered)
		}
		return genaitest.SpeechResponse(r), nil
	}}
	c := newTestServer(t, fakes{text: streaming("One is first. Two is second. Three is third."), audio: audio})
	events, err := run(t, c, "script-then-voiceover", map[string]string{"topic": "order"})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var emitted []string
	for _, ev := range events {
		if a := ev.GetStepDelta().GetArtifact(); a != nil {
			emitted = append(emitted, a.GetMetadata().GetSourceText())
		}
	}
	want := []string{"One is first.", "Two is second.", "Three is third."}
	if !slices.Equal(emitted, want) {
		t.Errorf("segments emitted in order %q, want %q", emitted, want)
	}
	if answered[0] != "Two is second." {
		t.Errorf("the fake answered %q; the test meant the second sentence to be answered first", answered)
	}
}

func TestRunRejectedBeforeAnyEvent(t *testing.T) {
	c := newTestServer(t, fakes{text: streaming("Hi."), audio: (&speaking{}).service()})
	for _, tc := range []struct {
		name       string
		pipeline   string
		inputs     map[string]string
		wantCode   codes.Code
		wantFields []string
	}{
		{name: "unknown pipeline", pipeline: "no-such-pipeline", inputs: map[string]string{"topic": "x"}, wantCode: codes.NotFound},
		{name: "no pipeline name", pipeline: "", wantCode: codes.InvalidArgument, wantFields: []string{"name"}},
		{name: "missing topic", pipeline: "script-then-voiceover", inputs: map[string]string{"voice": "alice"}, wantCode: codes.InvalidArgument, wantFields: []string{"inputs.topic"}},
		{name: "unknown input", pipeline: "script-then-voiceover", inputs: map[string]string{"topic": "x", "colour": "red"}, wantCode: codes.InvalidArgument, wantFields: []string{"inputs.colour"}},
		{name: "topic too long", pipeline: "script-then-voiceover", inputs: map[string]string{"topic": strings.Repeat("a", 501)}, wantCode: codes.InvalidArgument, wantFields: []string{"inputs.topic"}},
		{name: "bad max_tokens", pipeline: "script-then-voiceover", inputs: map[string]string{"topic": "x", "max_tokens": "ten"}, wantCode: codes.InvalidArgument, wantFields: []string{"inputs.max_tokens"}},
		{name: "max_tokens out of range", pipeline: "script-then-voiceover", inputs: map[string]string{"topic": "x", "max_tokens": "0"}, wantCode: codes.InvalidArgument, wantFields: []string{"inputs.max_tokens"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, err := run(t, c, tc.pipeline, tc.inputs)
			if len(events) > 0 {
				t.Errorf("got %d events before the error; want none", len(events))
			}
			st := status.Convert(err)
			if st.Code() != tc.wantCode {
				t.Fatalf("status %v, want %v", st, tc.wantCode)
			}
			_, violations := rpcerr.Details(st)
			var fields []string
			for _, v := range violations {
				fields = append(fields, v.Field)
			}
			if !slices.Equal(fields, tc.wantFields) {
				t.Errorf("violations %v, want fields %v", violations, tc.wantFields)
			}
		})
	}
}

func TestFailedStepEndsTheRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		audioErr error
		wantCode codes.Code
	}{
		{name: "internal stays internal", audioErr: status.Error(codes.Internal, "espeak crashed: /tmp/secret"), wantCode: codes.Internal},
		{name: "unknown becomes internal", audioErr: status.Error(codes.Unknown, "???"), wantCode: codes.Internal},
		{name: "invalid argument kept", audioErr: status.Error(codes.InvalidArgument, "voice not found"), wantCode: codes.InvalidArgument},
		{name: "busy kept", audioErr: status.Error(codes.ResourceExhausted, "queue full"), wantCode: codes.ResourceExhausted},
		{name: "still unavailable after retries", audioErr: status.Error(codes.Unavailable, "down"), wantCode: codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			audio := &genaitest.Service{Generate: func(context.Context, *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
				calls.Add(1)
				return nil, tc.audioErr
			}}
			c := newTestServer(t, fakes{text: streaming("The only sentence."), audio: audio})
			events, err := run(t, c, "script-then-voiceover", map[string]string{"topic": "x"})
			st := status.Convert(err)
			if st.Code() != tc.wantCode || !strings.Contains(st.Message(), "voiceover") {
				t.Fatalf("status %v, want %v naming the step", st, tc.wantCode)
			}
			if strings.Contains(st.Message(), "secret") {
				t.Errorf("status %q leaks the upstream's internal message", st.Message())
			}
			last := events[len(events)-1].GetRunFailed()
			if last == nil || last.GetStep() != "voiceover" || last.GetCode() != strings.ToUpper(codeNames[tc.wantCode]) || last.GetMessage() != st.Message() {
				t.Fatalf("last event %v; want run_failed for voiceover with %v and the status message %q", events[len(events)-1], tc.wantCode, st.Message())
			}
			for _, ev := range events {
				if ev.GetRunCompleted() != nil {
					t.Errorf("run_completed after a failure")
				}
			}
			if want := int32(1); tc.wantCode == codes.Unavailable {
				if calls.Load() != 3 {
					t.Errorf("%d audio calls; want 3 attempts", calls.Load())
				}
			} else if calls.Load() != want {
				t.Errorf("%d audio calls; want %d, no retries", calls.Load(), want)
			}
		})
	}
}

var codeNames = map[codes.Code]string{
	codes.Internal: "internal", codes.InvalidArgument: "invalid_argument",
	codes.ResourceExhausted: "resource_exhausted", codes.Unavailable: "unavailable",
	codes.DeadlineExceeded: "deadline_exceeded",
}

func TestUnavailableIsRetried(t *testing.T) {
	var textCalls, audioCalls atomic.Int32
	ok := streaming("Retries work. They do.")
	text := &genaitest.Service{StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		if textCalls.Add(1) == 1 {
			return status.Error(codes.Unavailable, "starting up")
		}
		return ok.StreamGenerate(r, st)
	}}
	audio := &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		if audioCalls.Add(1) <= 2 {
			return nil, status.Error(codes.Unavailable, "starting up")
		}
		return genaitest.SpeechResponse(r), nil
	}}
	c := newTestServer(t, fakes{text: text, audio: audio})
	events, err := run(t, c, "script-then-voiceover", map[string]string{"topic": "x"})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if events[len(events)-1].GetRunCompleted() == nil {
		t.Fatalf("last event %v", events[len(events)-1])
	}
	if textCalls.Load() != 2 || audioCalls.Load() < 4 {
		t.Errorf("text called %d times, audio %d; want 2 and at least 4", textCalls.Load(), audioCalls.Load())
	}
}

func TestTextFailingMidStreamIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	text := &genaitest.Service{StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		calls.Add(1)
		if err := st.Send(genaitest.Delta("Half a sent")); err != nil {
			return err
		}
		return status.Error(codes.Unavailable, "went away")
	}}
	c := newTestServer(t, fakes{text: text, audio: (&speaking{}).service()})
	events, err := run(t, c, "script-then-voiceover", map[string]string{"topic": "x"})
	if status.Code(err) != codes.Unavailable || calls.Load() != 1 {
		t.Fatalf("status %v after %d calls; want UNAVAILABLE after 1", err, calls.Load())
	}
	if f := events[len(events)-1].GetRunFailed(); f.GetStep() != "script" || f.GetCode() != "UNAVAILABLE" {
		t.Errorf("last event %v", events[len(events)-1])
	}
}

func TestCancellationReachesEveryCall(t *testing.T) {
	textCanceled, audioCanceled, audioStarted := make(chan struct{}), make(chan struct{}), make(chan struct{})
	text := &genaitest.Service{StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		if err := st.Send(genaitest.Delta("The first sentence. The")); err != nil {
			return err
		}
		<-st.Context().Done()
		close(textCanceled)
		return st.Context().Err()
	}}
	audio := &genaitest.Service{Generate: func(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		close(audioStarted)
		<-ctx.Done()
		close(audioCanceled)
		return nil, ctx.Err()
	}}
	c := newTestServer(t, fakes{text: text, audio: audio})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := c.RunPipeline(ctx, &orchestratorv1.RunPipelineRequest{Name: "script-then-voiceover", Inputs: map[string]string{"topic": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	wait(t, audioStarted, "the audio call to start")
	cancel()
	if _, err := collect(stream); status.Code(err) != codes.Canceled {
		t.Errorf("stream ended with %v, want CANCELED", err)
	}
	wait(t, textCanceled, "the text call to be canceled")
	wait(t, audioCanceled, "the audio call to be canceled")
}

// wait waits for ch to close; the bound only turns a hang into a failure.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("gave up waiting for %s", what)
	}
}

func TestRunTimeoutApplies(t *testing.T) {
	text := &genaitest.Service{StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		<-st.Context().Done()
		return st.Context().Err()
	}}
	c := newTestServer(t, fakes{text: text, audio: (&speaking{}).service(), runTimeout: 50 * time.Millisecond})
	// No client deadline, so the server's run timeout applies.
	stream, err := c.RunPipeline(t.Context(), &orchestratorv1.RunPipelineRequest{Name: "script-then-voiceover", Inputs: map[string]string{"topic": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	events, err := collect(stream)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("status %v, want DEADLINE_EXCEEDED", err)
	}
	if f := events[len(events)-1].GetRunFailed(); f.GetCode() != "DEADLINE_EXCEEDED" || f.GetStep() != "script" {
		t.Errorf("last event %v", events[len(events)-1])
	}
}

func TestVoiceoverLimits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		speech   func(i int32) []byte
		wantCode codes.Code
		wantMsg  string
	}{
		{name: "too large for one message", speech: func(int32) []byte { return genaitest.WAV(16000, 1<<20, 1) }, wantCode: codes.ResourceExhausted, wantMsg: "lower max_tokens"},
		{name: "segments differ in rate", speech: func(i int32) []byte { return genaitest.WAV(16000+int(i)*6050, 100, 1) }, wantCode: codes.Internal, wantMsg: "differ in format"},
		{name: "not a wav", speech: func(int32) []byte { return []byte("ID3\x04mp3 frames") }, wantCode: codes.Internal, wantMsg: "not usable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			audio := &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
				i := int32(0)
				if strings.HasPrefix(r.GetPrompt(), "Two") {
					i = 1
				}
				n.Add(1)
				return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{{MimeType: "audio/wav", Content: &genaiv1.Artifact_Data{Data: tc.speech(i)}}}}, nil
			}}
			c := newTestServer(t, fakes{text: streaming("One is here. Two is here. Three is here."), audio: audio})
			events, err := run(t, c, "script-then-voiceover", map[string]string{"topic": "x"})
			st := status.Convert(err)
			if st.Code() != tc.wantCode || !strings.Contains(st.Message(), tc.wantMsg) {
				t.Fatalf("status %v, want %v mentioning %q", st, tc.wantCode, tc.wantMsg)
			}
			if f := events[len(events)-1].GetRunFailed(); f.GetStep() != "voiceover" {
				t.Errorf("last event %v", events[len(events)-1])
			}
		})
	}
}

func TestIllustratedStory(t *testing.T) {
	var textCalls atomic.Int32
	text := &genaitest.Service{StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		reply := "Once there was an owl. It flew."
		if textCalls.Add(1) == 2 {
			if !strings.Contains(r.GetPrompt(), "Once there was an owl. It flew.") || !strings.Contains(r.GetPrompt(), "Describe 2 scenes") {
				return status.Errorf(codes.InvalidArgument, "scenes prompt lacks the story: %q", r.GetPrompt())
			}
			reply = "An owl on a branch.\n\n  The owl in flight at dusk.  \n"
		}
		if err := st.Send(genaitest.Delta(reply)); err != nil {
			return err
		}
		return st.Send(genaitest.Done(reply))
	}}
	image := &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: []byte(r.GetPrompt())}}}}, nil
	}}
	c := newTestServer(t, fakes{text: text, image: image})
	events, err := run(t, c, "illustrated-story", map[string]string{"topic": "owls", "scene_count": "2"})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	done := events[len(events)-1].GetRunCompleted()
	var got []string
	var page string
	for _, o := range done.GetOutputs() {
		if o.GetName() == "page" {
			page = string(o.GetArtifact().GetData())
			continue
		}
		got = append(got, o.GetName()+"="+o.GetArtifact().GetText()+string(o.GetArtifact().GetData()))
	}
	want := []string{
		"story=Once there was an owl. It flew.",
		"scenes=An owl on a branch.\n\n  The owl in flight at dusk.  \n",
		"illustrations[0]=Storybook illustration: An owl on a branch.",
		"illustrations[1]=Storybook illustration: The owl in flight at dusk.",
	}
	if !slices.Equal(got, want) {
		t.Errorf("outputs %q\nwant %q", got, want)
	}
	// The page holds the story and both images inline, each captioned.
	for _, part := range []string{
		"<title>Owls</title>",
		"<p>Once there was an owl. It flew.</p>",
		`<img src="data:image/png;base64,` + base64.StdEncoding.EncodeToString([]byte("Storybook illustration: An owl on a branch.")) + `" alt="An owl on a branch.">`,
		"<figcaption>The owl in flight at dusk.</figcaption>",
	} {
		if !strings.Contains(page, part) {
			t.Errorf("the page lacks %q:\n%s", part, page)
		}
	}
}

func TestListAndGetPipelines(t *testing.T) {
	c := newTestServer(t, fakes{})
	list, err := c.ListPipelines(t.Context(), &orchestratorv1.ListPipelinesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.GetPipelines() {
		names = append(names, p.GetName())
	}
	if !slices.Equal(names, []string{"ask-documents", "illustrated-story", "narrate-document", "narrated-slideshow", "script-then-voiceover", "summarize-then-narrate", "synthetic-data", "synthetic-data-augment"}) {
		t.Errorf("ListPipelines = %v", names)
	}
	got, err := c.GetPipeline(t.Context(), &orchestratorv1.GetPipelineRequest{Name: "script-then-voiceover"})
	if err != nil {
		t.Fatal(err)
	}
	if in := got.GetPipeline().GetInputs(); in[0].GetName() != "topic" || !in[0].GetRequired() || in[0].GetMaxLength() != 500 {
		t.Errorf("inputs %v", in)
	}
	_, err = c.GetPipeline(t.Context(), &orchestratorv1.GetPipelineRequest{Name: strings.Repeat("nope", 100)})
	if reason, _ := rpcerr.Details(status.Convert(err)); status.Code(err) != codes.NotFound || reason != ReasonPipelineNotFound {
		t.Errorf("GetPipeline(unknown) = %v (%s)", err, reason)
	}
}

func TestStepSpansAreChildrenOfTheRunSpan(t *testing.T) {
	c := newTestServer(t, fakes{text: streaming("Traced sentence. Another."), audio: (&speaking{}).service()})
	events, err := run(t, c, "script-then-voiceover", map[string]string{"topic": "x"})
	if err != nil {
		t.Fatal(err)
	}
	runID := events[0].GetRunId()
	// The server span ends just after the client sees the stream end, so
	// wait for it (the test's deadline bounds the wait).
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var server sdktrace.ReadOnlySpan
	for server == nil {
		for _, s := range spans.Ended() {
			for _, a := range s.Attributes() {
				if a.Key == "chorus.run_id" && a.Value.AsString() == runID {
					server = s
				}
			}
		}
		if server == nil {
			select {
			case <-ctx.Done():
				t.Fatal("no RunPipeline server span carries the run id")
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	steps := map[string]bool{}
	for _, s := range spans.Ended() {
		if s.Parent().SpanID() != server.SpanContext().SpanID() || !strings.HasPrefix(s.Name(), "step ") {
			continue
		}
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if attrs["chorus.pipeline"] != "script-then-voiceover" || attrs["gen_ai.usage.output_tokens"] == "" {
			t.Errorf("span %s attributes %v", s.Name(), attrs)
		}
		steps[attrs["chorus.step"]] = true
	}
	if !steps["script"] || !steps["voiceover"] {
		t.Errorf("step spans under the run span: %v", steps)
	}
}
