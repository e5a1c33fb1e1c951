package engine

import (
	"context"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"

	"github.com/chorus-ai/chorus/orchestrator/internal/fake"
	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
)

const promptStylesYAML = `
name: prompt-styles
description: A text step with a prompt for chat models and one for completion models.
inputs:
  - name: topic
    required: true
  - name: model
steps:
  - name: script
    modality: text
    model: "{{.model}}"
    prompt: "Write about {{.topic}}."
    completion_prompt: "Title: {{.topic}}\n\n"
outputs:
  - name: script
    mime_type: text/plain
    from: script
    assemble: text
`

func TestPromptFollowsTheModelsCapabilities(t *testing.T) {
	chat := []genaiv1.Capability{genaiv1.Capability_CAPABILITY_COMPLETION, genaiv1.Capability_CAPABILITY_CHAT}
	completion := []genaiv1.Capability{genaiv1.Capability_CAPABILITY_COMPLETION}
	tests := []struct {
		name       string
		model      string
		listErr    bool
		wantPrompt string
	}{
		{name: "default model cannot chat", model: "", wantPrompt: "Title: the sea\n\n"},
		{name: "named chat model", model: "instruct", wantPrompt: "Write about the sea."},
		{name: "named completion model", model: "mini", wantPrompt: "Title: the sea\n\n"},
		{name: "unknown model gets the chat prompt", model: "other", wantPrompt: "Write about the sea."},
		{name: "ListModels fails: chat prompt", model: "mini", listErr: true, wantPrompt: "Write about the sea."},
	}
	p, err := pipeline.ParseBytes([]byte(promptStylesYAML))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			svc := &fake.Service{
				StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
					got <- r.GetPrompt()
					return st.Send(fake.Done("ok"))
				},
				ListModels: func(context.Context) (*genaiv1.ListModelsResponse, error) {
					if tt.listErr {
						return nil, context.DeadlineExceeded
					}
					return &genaiv1.ListModelsResponse{Models: []*genaiv1.Model{
						{Name: "mini", Capabilities: completion, Default: true},
						{Name: "instruct", Capabilities: chat},
					}}, nil
				},
			}
			e := New(Config{Clients: map[pipeline.Modality]genai.Client{pipeline.Text: fake.Serve(t, genai.Text, svc)}})
			inputs, err := p.ResolveInputs(map[string]string{"topic": "the sea", "model": tt.model})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Run(t.Context(), p, inputs, func(*orchestratorv1.RunPipelineResponse) error { return nil }); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if prompt := <-got; prompt != tt.wantPrompt {
				t.Errorf("prompt = %q, want %q", prompt, tt.wantPrompt)
			}
		})
	}
}
