package gateway_test

import (
	"context"
	"fmt"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

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
