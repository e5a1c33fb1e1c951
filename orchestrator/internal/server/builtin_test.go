package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/orchestrator/internal/artifact"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/wav"
)

// textModels answers ListModels with one model, "mini", with or without
// CAPABILITY_CHAT, and streams reply to every generation (recording the
// prompts).
type textModels struct {
	chat    bool
	reply   func(prompt string) string
	mu      sync.Mutex
	prompts []string
}

func (m *textModels) service() *genaitest.Service {
	return &genaitest.Service{
		ListModels: func(context.Context) (*genaiv1.ListModelsResponse, error) {
			caps := []genaiv1.Capability{genaiv1.Capability_CAPABILITY_COMPLETION, genaiv1.Capability_CAPABILITY_STREAMING}
			if m.chat {
				caps = append(caps, genaiv1.Capability_CAPABILITY_CHAT)
			}
			return &genaiv1.ListModelsResponse{Models: []*genaiv1.Model{{Name: "mini", Default: true, Capabilities: caps}}}, nil
		},
		StreamGenerate: func(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
			m.mu.Lock()
			m.prompts = append(m.prompts, r.GetPrompt())
			m.mu.Unlock()
			reply := m.reply(r.GetPrompt())
			if err := st.Send(genaitest.Delta(reply)); err != nil {
				return err
			}
			return st.Send(genaitest.Done(reply))
		},
	}
}

func (m *textModels) calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.prompts...)
}

func outputs(events []*orchestratorv1.RunPipelineResponse) map[string]*genaiv1.Artifact {
	out := map[string]*genaiv1.Artifact{}
	for _, o := range events[len(events)-1].GetRunCompleted().GetOutputs() {
		out[o.GetName()] = o.GetArtifact()
	}
	return out
}

const document = "Lighthouses guide ships along dangerous coasts. Their lamps turn all night. " +
	"Keepers once lived in the lighthouses and tended the lamps. Storms battered the towers. " +
	"Today most lighthouses run without keepers. Ships still watch for the lamps of the lighthouses."

func TestSummarizeThenNarrate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		chat        bool
		wantSummary string
		wantCalls   int
	}{
		{name: "completion model: extractive", chat: false, wantCalls: 0,
			wantSummary: "Keepers once lived in the lighthouses and tended the lamps. Ships still watch for the lamps of the lighthouses."},
		{name: "chat model writes it", chat: true, wantCalls: 1, wantSummary: "Lighthouses keep ships safe. Keepers are gone."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := &textModels{chat: tc.chat, reply: func(string) string { return "Lighthouses keep ships safe. Keepers are gone." }}
			audio := &speaking{}
			c := newTestServer(t, fakes{text: text.service(), audio: audio.service()})
			events, err := run(t, c, "summarize-then-narrate", map[string]string{"document": document, "sentences": "2"})
			if err != nil {
				t.Fatal(err)
			}
			out := outputs(events)
			if got := out["summary"].GetText(); got != tc.wantSummary {
				t.Errorf("summary %q, want %q", got, tc.wantSummary)
			}
			calls := text.calls()
			if len(calls) != tc.wantCalls {
				t.Fatalf("%d text calls, want %d", len(calls), tc.wantCalls)
			}
			if tc.chat && !strings.Contains(calls[0], "in 2 sentences") {
				t.Errorf("chat prompt %q", calls[0])
			}
			if n := strings.Count(out["captions"].GetText(), " --> "); n != 2 {
				t.Errorf("%d captions, want one per summary sentence:\n%s", n, out["captions"].GetText())
			}
			if a := out["voiceover"]; a.GetMimeType() != "audio/wav" || a.GetMetadata().GetDurationSeconds() <= 0 {
				t.Errorf("voiceover %v", a)
			}
			var started *orchestratorv1.StepStarted
			for _, ev := range events {
				if s := ev.GetStepStarted(); s.GetStep() == "summary" {
					started = s
				}
			}
			if started.GetModality() != "text" {
				t.Errorf("summary step started as %v", started)
			}
		})
	}
}

func TestIllustratedStoryOnACompletionModel(t *testing.T) {
	story := "The owl woke at dusk. It flew over the dark wood. A fox watched from below. The fox called to the owl."
	text := &textModels{reply: func(string) string { return story }}
	var mu sync.Mutex
	var prompts []string
	image := &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		mu.Lock()
		prompts = append(prompts, r.GetPrompt())
		mu.Unlock()
		return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: []byte("png")}}}}, nil
	}}
	c := newTestServer(t, fakes{text: text.service(), image: image})
	events, err := run(t, c, "illustrated-story", map[string]string{"topic": "owls", "scene_count": "2"})
	if err != nil {
		t.Fatal(err)
	}
	calls := text.calls()
	if len(calls) != 1 || !strings.HasPrefix(calls[0], "Title: owls, chapter 1\n\nThis is the story of owls.") {
		t.Fatalf("text calls %q: want only the story, from its completion prompt", calls)
	}
	out := outputs(events)
	wantScenes := "This is the story of owls.The owl woke at dusk. It flew over the dark wood.\nA fox watched from below. The fox called to the owl."
	if got := out["scenes"].GetText(); got != wantScenes {
		t.Errorf("scenes %q\nwant %q", got, wantScenes)
	}
	if len(prompts) != 2 || out["illustrations[1]"] == nil {
		t.Fatalf("image prompts %q", prompts)
	}
	for _, p := range prompts {
		if !strings.HasPrefix(p, "Storybook illustration: ") || !strings.Contains(wantScenes, strings.TrimPrefix(p, "Storybook illustration: ")) {
			t.Errorf("image prompt %q is not one of the scenes", p)
		}
	}
}

func TestNarrateDocumentVoicesALongDocumentWhole(t *testing.T) {
	// 1,500 words in 150 sentences: at the fake's 10 ms of 16 kHz speech
	// per byte, about 88 s and 2.8 MiB of WAV, stored by reference.
	var doc strings.Builder
	for i := range 150 {
		fmt.Fprintf(&doc, "Sentence %d of the long document has exactly ten words. ", i)
	}
	audio := &speaking{}
	c := newTestServer(t, fakes{audio: audio.service(), dataDir: t.TempDir()})
	events, err := run(t, c, "narrate-document", map[string]string{"document": doc.String()})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(doc.String())); n != 1500 {
		t.Fatalf("the document has %d words", n)
	}
	out := outputs(events)
	voiceover := out["voiceover"]
	id := artifact.IDFromURI(voiceover.GetUri())
	if id == "" {
		t.Fatalf("voiceover %v not by reference", voiceover)
	}
	data := fetchArtifact(t, c, &orchestratorv1.GetArtifactRequest{Id: id}, voiceover)
	audioOut, err := wav.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	wantSeconds := float64(len(doc.String())-150) * 0.01 // each sentence's trailing space is not voiced
	if got := audioOut.Duration().Seconds(); got < wantSeconds-0.5 || got > wantSeconds+0.5 {
		t.Errorf("voiceover lasts %.2f s, want %.2f", got, wantSeconds)
	}
	if n := strings.Count(out["captions"].GetText(), " --> "); n != 150 {
		t.Errorf("%d captions, want 150", n)
	}
	audio.mu.Lock()
	defer audio.mu.Unlock()
	if len(audio.reqs) != 150 {
		t.Errorf("%d audio calls, want 150", len(audio.reqs))
	}
}

func TestTransformStepsNeedNoService(t *testing.T) {
	// No text service at all: narrate-document never calls one.
	c := newTestServer(t, fakes{audio: (&speaking{}).service()})
	if _, err := run(t, c, "narrate-document", map[string]string{"document": "One. Two."}); err != nil {
		t.Fatal(err)
	}
	// And without an audio service it fails cleanly, naming the step.
	c = newTestServer(t, fakes{})
	if _, err := run(t, c, "narrate-document", map[string]string{"document": "One. Two."}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("without an audio service: %v", err)
	}
}
