package runner

import (
	"context"
	"strings"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
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
    completion_opening: "And {{.topic}} was"
    options:
      temperature: "0.5"
    completion_options:
      repetition_penalty: "1.15"
      stop: ["\nTitle:"]
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
		wantScript string
	}{
		{name: "default model cannot chat", model: "", wantPrompt: "Title: the sea\n\nAnd the sea was", wantScript: "And the sea was calm."},
		{name: "named chat model", model: "instruct", wantPrompt: "Write about the sea.", wantScript: " calm."},
		{name: "named completion model", model: "mini", wantPrompt: "Title: the sea\n\nAnd the sea was", wantScript: "And the sea was calm."},
		{name: "unknown model gets the chat prompt", model: "other", wantPrompt: "Write about the sea.", wantScript: " calm."},
		{name: "ListModels fails: chat prompt", model: "mini", listErr: true, wantPrompt: "Write about the sea.", wantScript: " calm."},
	}
	p, err := pipeline.ParseBytes([]byte(promptStylesYAML))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan *genaiv1.GenerateRequest, 1)
			svc := &genaitest.Service{
				StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
					got <- r
					if err := st.Send(genaitest.Delta(" calm.")); err != nil {
						return err
					}
					return st.Send(genaitest.Done(" calm."))
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
			e := New(Config{Clients: map[genai.Modality]genai.Client{genai.Text: genaitest.Serve(t, genai.Text, svc)}})
			inputs, err := p.ResolveInputs(map[string]string{"topic": "the sea", "model": tt.model})
			if err != nil {
				t.Fatal(err)
			}
			var script string
			err = e.Run(t.Context(), p, inputs, func(ev *orchestratorv1.RunPipelineResponse) error {
				for _, o := range ev.GetRunCompleted().GetOutputs() {
					script = o.GetArtifact().GetText()
				}
				return nil
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			req := <-got
			if req.GetPrompt() != tt.wantPrompt {
				t.Errorf("prompt = %q, want %q", req.GetPrompt(), tt.wantPrompt)
			}
			if script != tt.wantScript {
				t.Errorf("script = %q, want %q", script, tt.wantScript)
			}
			// Completion options only reach completion models; the rest of
			// the options reach both.
			completion := strings.HasPrefix(tt.wantPrompt, "Title:")
			opts := req.GetText()
			if got := opts.RepetitionPenalty != nil; got != completion {
				t.Errorf("repetition_penalty set = %v, want %v", got, completion)
			}
			if got := len(opts.GetStop()) == 1 && opts.GetStop()[0] == "\nTitle:"; got != completion {
				t.Errorf("stop = %q; want the completion stop: %v", opts.GetStop(), completion)
			}
			if opts.GetTemperature() != 0.5 {
				t.Errorf("temperature = %v, want 0.5 from options", opts.GetTemperature())
			}
		})
	}
}
