package runner

import (
	"context"
	"slices"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/sentence"
)

func TestScriptCutByTheTokenLimitEndsAtASentence(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		finish     genaiv1.FinishReason
		wantScript string
		wantVoiced []string
	}{
		{name: "cut mid-sentence", text: "One. Two! Three", finish: genaiv1.FinishReason_FINISH_REASON_LENGTH,
			wantScript: "One. Two!", wantVoiced: []string{"One.", "Two!"}},
		{name: "cut after a quote", text: "He said \"go.\" And th", finish: genaiv1.FinishReason_FINISH_REASON_LENGTH,
			wantScript: "He said \"go.\"", wantVoiced: []string{"He said \"go.\""}},
		{name: "cut on a full stop", text: "One. Two.", finish: genaiv1.FinishReason_FINISH_REASON_LENGTH,
			wantScript: "One. Two.", wantVoiced: []string{"One.", "Two."}},
		{name: "cut after an abbreviation", text: "One. He met Dr. Smi", finish: genaiv1.FinishReason_FINISH_REASON_LENGTH,
			wantScript: "One.", wantVoiced: []string{"One."}},
		{name: "an abbreviation is no complete sentence", text: "Dr. Smith went", finish: genaiv1.FinishReason_FINISH_REASON_LENGTH,
			wantScript: "Dr. Smith went", wantVoiced: []string{"Dr. Smith went"}},
		{name: "no complete sentence is kept whole", text: "and then", finish: genaiv1.FinishReason_FINISH_REASON_LENGTH,
			wantScript: "and then", wantVoiced: []string{"and then"}},
		{name: "a finished text keeps its last words", text: "One. Two! Three", finish: genaiv1.FinishReason_FINISH_REASON_STOP,
			wantScript: "One. Two! Three", wantVoiced: []string{"One.", "Two!", "Three"}},
	}
	reg, err := pipeline.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	p := reg.Get("script-then-voiceover")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			textSvc := &genaitest.Service{StreamGenerate: func(_ *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
				for _, w := range []byte(tt.text) {
					if err := st.Send(genaitest.Delta(string(w))); err != nil {
						return err
					}
				}
				done := genaitest.Done(tt.text)
				done.GetDone().FinishReason = tt.finish
				return st.Send(done)
			}}
			voiced := make(chan string, 8)
			audioSvc := &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
				voiced <- r.GetPrompt()
				return genaitest.SpeechResponse(r), nil
			}}
			e := New(Config{Clients: map[genai.Modality]genai.Client{
				genai.Text:  genaitest.Serve(t, genai.Text, textSvc),
				genai.Audio: genaitest.Serve(t, genai.Audio, audioSvc),
			}})
			inputs, err := p.ResolveInputs(map[string]string{"topic": "x"})
			if err != nil {
				t.Fatal(err)
			}
			var script string
			err = e.Run(t.Context(), p, inputs, func(ev *orchestratorv1.RunPipelineResponse) error {
				for _, o := range ev.GetRunCompleted().GetOutputs() {
					if o.GetName() == "script" {
						script = o.GetArtifact().GetText()
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			close(voiced)
			var got []string
			for v := range voiced {
				got = append(got, v)
			}
			// Sentences are voiced two at a time, so the calls may arrive in
			// any order; the assembly's order is tested elsewhere.
			slices.Sort(got)
			if script != tt.wantScript {
				t.Errorf("script = %q, want %q", script, tt.wantScript)
			}
			if len(got) != len(tt.wantVoiced) {
				t.Fatalf("voiced %q, want %q", got, tt.wantVoiced)
			}
			want := slices.Sorted(slices.Values(tt.wantVoiced))
			if !slices.Equal(got, want) {
				t.Errorf("voiced %q, want %q", got, want)
			}
			// The captions are one cue per sentence of the script: what was
			// voiced is the script's sentences, no more and no fewer.
			if split := slices.Sorted(slices.Values(sentence.Split(script))); !slices.Equal(got, split) {
				t.Errorf("voiced %q, but the script's sentences are %q", got, split)
			}
		})
	}
}
