package runner

import (
	"context"
	"errors"
	"strings"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// panicClient is a fake client that panics, on the runner's goroutine that calls it, when
// the request's prompt contains trigger; otherwise it passes the call on.
type panicClient struct {
	genai.Client
	trigger string
}

func (c *panicClient) Generate(ctx context.Context, in *genaiv1.GenerateRequest, opts ...grpc.CallOption) (*genaiv1.GenerateResponse, error) {
	if strings.Contains(in.GetPrompt(), c.trigger) {
		panic("fake client: Generate panicked")
	}
	return c.Client.Generate(ctx, in, opts...)
}

func (c *panicClient) StreamGenerate(ctx context.Context, in *genaiv1.GenerateRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[genaiv1.GenerateChunk], error) {
	if strings.Contains(in.GetPrompt(), c.trigger) {
		panic("fake client: StreamGenerate panicked")
	}
	return c.Client.StreamGenerate(ctx, in, opts...)
}

// A panic in a step's goroutine (the script's text call) or in an item's (the second
// sentence's speech call) fails that run with INTERNAL naming the step, in one RunFailed,
// and the runner runs the next pipeline whole: the process is not taken down.
func TestPanicFailsOnlyTheRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		modality genai.Modality
		trigger  string
		step     string
	}{
		{name: "step goroutine", modality: genai.Text, trigger: "boom-topic", step: "script"},
		{name: "item goroutine", modality: genai.Audio, trigger: "Two.", step: "voiceover"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rn := newTestRunner(t, 4, "One. Two. Three.")
			rn.cfg.Clients[tc.modality] = &panicClient{Client: rn.cfg.Clients[tc.modality], trigger: tc.trigger}
			reg, err := pipeline.Builtin()
			if err != nil {
				t.Fatal(err)
			}
			p := reg.Get("script-then-voiceover")
			run := func(topic string) ([]*orchestratorv1.RunPipelineResponse, error) {
				inputs, err := p.ResolveInputs(map[string]string{"topic": topic})
				if err != nil {
					t.Fatal(err)
				}
				var events []*orchestratorv1.RunPipelineResponse
				err = rn.Run(t.Context(), p, inputs, func(ev *orchestratorv1.RunPipelineResponse) error {
					events = append(events, ev)
					return nil
				})
				return events, err
			}
			events, err := run("boom-topic")
			var re *rpcerr.Error
			if !errors.As(err, &re) || re.Code != codes.Internal || re.Metadata["step"] != tc.step {
				t.Fatalf("run with a panicking call: %v, want INTERNAL naming step %q", err, tc.step)
			}
			failed := 0
			for _, ev := range events {
				if f := ev.GetRunFailed(); f != nil {
					failed++
					if f.GetStep() != tc.step || f.GetCode() != "INTERNAL" {
						t.Errorf("RunFailed %v", f)
					}
				}
				if ev.GetRunCompleted() != nil {
					t.Errorf("a run whose call panicked completed")
				}
			}
			if failed != 1 {
				t.Errorf("%d RunFailed events, want 1", failed)
			}
			if tc.modality == genai.Audio {
				rn.cfg.Clients[tc.modality].(*panicClient).trigger = "never said"
			}
			if events, err := run("calm"); err != nil || events[len(events)-1].GetRunCompleted() == nil {
				t.Fatalf("the next run: %v", err)
			}
		})
	}
}
