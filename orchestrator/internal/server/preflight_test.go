package server

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// A run whose audio service does not answer fails before its first event,
// with UNAVAILABLE naming the step that needs it, and calls no model: the
// gateway can then answer 503 instead of a 200 stream that fails midway.
func TestRunFailsBeforeStartingWhenAServiceIsDown(t *testing.T) {
	var textCalls atomic.Int32
	text := streaming("The sea is deep. It is blue.")
	generate := text.StreamGenerate
	text.StreamGenerate = func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
		textCalls.Add(1)
		return generate(r, st)
	}
	var checks atomic.Int32
	down := &genaitest.Service{ListModels: func(context.Context) (*genaiv1.ListModelsResponse, error) {
		checks.Add(1)
		return nil, status.Error(codes.Unavailable, "connection refused")
	}}
	c := newTestServer(t, fakes{text: text, audio: down, dial: true})
	stream, err := c.RunPipeline(context.Background(), &orchestratorv1.RunPipelineRequest{Name: "script-then-voiceover", Inputs: map[string]string{"topic": "the sea"}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("first message %v, %v: want the run refused before any event", ev, err)
	}
	st := status.Convert(err)
	reason, _ := rpcerr.Details(st)
	if st.Code() != codes.Unavailable || reason != rpcerr.ReasonUpstreamDown || st.Message() != "step voiceover: the audio service is unavailable" {
		t.Errorf("refused with %s %s %q, want UNAVAILABLE %s naming the voiceover step", st.Code(), reason, st.Message(), rpcerr.ReasonUpstreamDown)
	}
	if n := textCalls.Load(); n != 0 {
		t.Errorf("the text model was called %d times before the run was refused", n)
	}
	// The client's retry policy (UNAVAILABLE, 4 attempts) heeds the
	// server's pushback: the refusal is not repeated.
	if n := checks.Load(); n != 1 {
		t.Errorf("the audio service was checked %d times, want once", n)
	}
}
