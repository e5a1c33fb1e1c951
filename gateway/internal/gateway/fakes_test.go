package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// fakeBackend is a genai.Backend whose behaviour is chosen by the model a
// request names, so that the real platform/genai handler (validation,
// routing, admission, streaming) runs in front of it:
//   - "echo": one text delta per word of the prompt, then the whole prompt;
//   - "step": a delta, then waits for release before finishing;
//   - "hold": reports "started", blocks until canceled, reports "canceled";
//   - "break": a delta, then fails with UNAVAILABLE;
//   - "trace": returns the trace id its context carries;
//   - "voice": one audio artifact per sentence.
type fakeBackend struct {
	models  []string
	events  chan string
	release chan struct{}
}

func newFakeBackend(models ...string) *fakeBackend {
	return &fakeBackend{models: models, events: make(chan string, 64), release: make(chan struct{})}
}

func (b *fakeBackend) note(event string) {
	select {
	case b.events <- event:
	default: // nobody is listening; never block a handler on a test
	}
}

func (b *fakeBackend) Models() []*genaiv1.Model {
	var ms []*genaiv1.Model
	for _, name := range b.models {
		ms = append(ms, &genaiv1.Model{
			Name:         name,
			Backend:      "fake",
			Description:  "fake " + name + " model",
			Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_COMPLETION, genaiv1.Capability_CAPABILITY_STREAMING},
			Languages:    []string{"en"},
		})
	}
	return ms
}

func (b *fakeBackend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	delta := func(s string) error {
		return emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Delta{Delta: &genaiv1.TextDelta{Text: s}}})
	}
	switch req.GetModel() {
	case "hold":
		b.note("started")
		<-ctx.Done()
		b.note("canceled")
		return nil, ctx.Err()
	case "step":
		if err := delta("first"); err != nil {
			return nil, err
		}
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return textResponse("first"), nil
	case "break":
		if err := delta("partial"); err != nil {
			return nil, err
		}
		return nil, rpcerr.New(codes.Unavailable, "BACKEND_DOWN", "the fake backend went away")
	case "trace":
		return textResponse(trace.SpanContextFromContext(ctx).TraceID().String()), nil
	case "voice":
		resp := &genaiv1.GenerateResponse{Usage: &genaiv1.Usage{AudioSeconds: 1, InputCharacters: int32(len(req.GetPrompt()))}, FinishReason: genaiv1.FinishReason_FINISH_REASON_STOP}
		for i, sentence := range strings.SplitAfter(req.GetPrompt(), ".") {
			if strings.TrimSpace(sentence) == "" {
				continue
			}
			a := &genaiv1.Artifact{
				MimeType: "audio/wav",
				Content:  &genaiv1.Artifact_Data{Data: []byte("RIFF" + strings.TrimSpace(sentence))},
				Metadata: &genaiv1.ArtifactMetadata{Index: int32(i), SourceText: strings.TrimSpace(sentence), SampleRate: 16000, DurationSeconds: 0.5},
			}
			if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: a}}); err != nil {
				return nil, err
			}
			resp.Artifacts = append(resp.Artifacts, a)
		}
		return resp, nil
	default: // echo
		words := strings.Fields(req.GetPrompt())
		for i, w := range words {
			if i > 0 {
				w = " " + w
			}
			if err := delta(w); err != nil {
				return nil, err
			}
		}
		resp := textResponse(strings.Join(words, " "))
		resp.Usage = &genaiv1.Usage{InputTokens: int32(len(words)), OutputTokens: int32(len(words))}
		return resp, nil
	}
}

func textResponse(text string) *genaiv1.GenerateResponse {
	return &genaiv1.GenerateResponse{
		Artifacts:    []*genaiv1.Artifact{{MimeType: "text/plain; charset=utf-8", Content: &genaiv1.Artifact_Text{Text: text}}},
		FinishReason: genaiv1.FinishReason_FINISH_REASON_STOP,
	}
}

// fakeOrchestrator serves one pipeline, "echo", whose runs emit a fixed
// sequence of events.
type fakeOrchestrator struct {
	orchestratorv1.UnimplementedOrchestratorServiceServer
}

var _ orchestratorv1.OrchestratorServiceServer = (*fakeOrchestrator)(nil)

var echoPipeline = &orchestratorv1.Pipeline{
	Name:        "echo",
	Description: "Writes one line about a topic.",
	Inputs:      []*orchestratorv1.PipelineInput{{Name: "topic", Description: "What to write about.", Required: true}},
	Steps:       []*orchestratorv1.PipelineStep{{Name: "write", Modality: "text"}},
	Outputs:     []*orchestratorv1.PipelineOutput{{Name: "script", MimeType: "text/plain; charset=utf-8", Description: "The line."}},
}

func (*fakeOrchestrator) ListPipelines(context.Context, *orchestratorv1.ListPipelinesRequest) (*orchestratorv1.ListPipelinesResponse, error) {
	return &orchestratorv1.ListPipelinesResponse{Pipelines: []*orchestratorv1.Pipeline{echoPipeline}}, nil
}

func (*fakeOrchestrator) GetPipeline(_ context.Context, req *orchestratorv1.GetPipelineRequest) (*orchestratorv1.GetPipelineResponse, error) {
	if req.GetName() != echoPipeline.GetName() {
		return nil, pipelineNotFound(req.GetName())
	}
	return &orchestratorv1.GetPipelineResponse{Pipeline: echoPipeline}, nil
}

func (*fakeOrchestrator) RunPipeline(req *orchestratorv1.RunPipelineRequest, stream grpc.ServerStreamingServer[orchestratorv1.RunPipelineResponse]) error {
	if req.GetName() != echoPipeline.GetName() {
		return pipelineNotFound(req.GetName())
	}
	topic := req.GetInputs()["topic"]
	if topic == "" {
		return rpcerr.Invalid(rpcerr.FieldViolation{Field: "inputs.topic", Description: "is required"})
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	line := "A line about " + topic + "."
	events := []*orchestratorv1.RunPipelineResponse{
		{Event: &orchestratorv1.RunPipelineResponse_StepStarted{StepStarted: &orchestratorv1.StepStarted{Step: "write", Modality: "text", Model: "echo"}}},
		{Event: &orchestratorv1.RunPipelineResponse_StepDelta{StepDelta: &orchestratorv1.StepDelta{Step: "write", Text: line}}},
		{Event: &orchestratorv1.RunPipelineResponse_StepCompleted{StepCompleted: &orchestratorv1.StepCompleted{
			Step: "write", Usage: &genaiv1.Usage{InputTokens: 3, OutputTokens: 5}, Duration: durationpb.New(1500 * time.Millisecond),
		}}},
		{Event: &orchestratorv1.RunPipelineResponse_RunCompleted{RunCompleted: &orchestratorv1.RunCompleted{
			Outputs: []*orchestratorv1.RunOutput{{Name: "script", Artifact: &genaiv1.Artifact{
				MimeType: "text/plain; charset=utf-8", Content: &genaiv1.Artifact_Text{Text: line}, SizeBytes: int64(len(line)),
			}}},
			Duration: durationpb.New(2 * time.Second),
		}}},
	}
	for i, e := range events {
		e.RunId = "run-0001"
		e.Time = timestamppb.New(t0.Add(time.Duration(i) * time.Second))
		if err := stream.Send(e); err != nil {
			return err
		}
	}
	return nil
}

func pipelineNotFound(name string) error {
	return rpcerr.New(codes.NotFound, "PIPELINE_NOT_FOUND", fmt.Sprintf("there is no pipeline %q", name)).WithMetadata("pipeline", name)
}
