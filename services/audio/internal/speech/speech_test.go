package speech

import (
	"context"
	"errors"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
)

// fakeSynth voices each sentence as 10 ms of silence per character at 8 kHz.
func fakeSynth(_ context.Context, text string, opts Options) (wav.Audio, error) {
	n := int(float64(80*len(text)) / opts.Speed)
	return wav.Audio{Rate: 8000, Samples: make([]int16, n)}, nil
}

func request(prompt string, audio *genaiv1.AudioOptions) *genaiv1.GenerateRequest {
	return &genaiv1.GenerateRequest{Model: "fake", Prompt: prompt, Options: &genaiv1.GenerateRequest_Audio{Audio: audio}}
}

func TestGenerateSegmentsAndWhole(t *testing.T) {
	var segs []*genaiv1.Artifact
	resp, err := Generate(context.Background(), request("One. Two two. Three three three.", &genaiv1.AudioOptions{Speed: 2, SampleRate: 16000}), "v", fakeSynth,
		func(c *genaiv1.GenerateChunk) error {
			segs = append(segs, c.GetArtifact())
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	wantText := []string{"One.", "Two two.", "Three three three."}
	if len(segs) != len(wantText) {
		t.Fatalf("got %d segments, want %d", len(segs), len(wantText))
	}
	offset := 0.0
	for i, s := range segs {
		m := s.GetMetadata()
		a, err := wav.Decode(s.GetData())
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		want := float64(len(wantText[i])) * 0.01 / 2 // 10 ms per character at speed 2
		switch {
		case m.GetIndex() != int32(i) || m.GetSourceText() != wantText[i]:
			t.Errorf("segment %d: index %d text %q", i, m.GetIndex(), m.GetSourceText())
		case a.Rate != 16000 || m.GetSampleRate() != 16000:
			t.Errorf("segment %d: %d Hz, metadata %d, want 16000", i, a.Rate, m.GetSampleRate())
		case !near(m.GetDurationSeconds(), want) || !near(a.Seconds(), want):
			t.Errorf("segment %d: %v s (WAV %v s), want %v", i, m.GetDurationSeconds(), a.Seconds(), want)
		case !near(m.GetOffsetSeconds(), offset):
			t.Errorf("segment %d: offset %v, want %v", i, m.GetOffsetSeconds(), offset)
		case s.GetSha256() == "" || s.GetSizeBytes() != int64(len(s.GetData())) || s.GetMimeType() != "audio/wav":
			t.Errorf("segment %d: digest %q size %d mime %q", i, s.GetSha256(), s.GetSizeBytes(), s.GetMimeType())
		}
		offset += m.GetDurationSeconds()
	}
	if len(resp.GetArtifacts()) != 1 {
		t.Fatalf("got %d artifacts in the response, want the whole WAV", len(resp.GetArtifacts()))
	}
	whole, err := wav.Decode(resp.GetArtifacts()[0].GetData())
	if err != nil {
		t.Fatal(err)
	}
	m := resp.GetArtifacts()[0].GetMetadata()
	if !near(whole.Seconds(), offset) || !near(m.GetDurationSeconds(), offset) || !near(resp.GetUsage().GetAudioSeconds(), offset) || m.GetSampleRate() != 16000 {
		t.Errorf("whole: %v s, metadata %v s at %d Hz, usage %v s; segments add up to %v s",
			whole.Seconds(), m.GetDurationSeconds(), m.GetSampleRate(), resp.GetUsage().GetAudioSeconds(), offset)
	}
	if resp.GetUsage().GetInputCharacters() != 32 || resp.GetFinishReason() != genaiv1.FinishReason_FINISH_REASON_STOP {
		t.Errorf("usage %v, finish %v", resp.GetUsage(), resp.GetFinishReason())
	}
}

func TestGenerateStopsWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	synth := func(ctx context.Context, text string, opts Options) (wav.Audio, error) {
		calls++
		cancel() // the client goes away while the first sentence is voiced
		return fakeSynth(ctx, text, opts)
	}
	_, err := Generate(ctx, request("One. Two. Three.", nil), "v", synth, func(*genaiv1.GenerateChunk) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if calls != 1 {
		t.Errorf("synthesised %d sentences after cancellation, want to stop after 1", calls)
	}
}

func TestGenerateErrors(t *testing.T) {
	huge := func(context.Context, string, Options) (wav.Audio, error) {
		return wav.Audio{Rate: 48000, Samples: make([]int16, 48000*30)}, nil // 2.9 MB a sentence
	}
	failing := func(context.Context, string, Options) (wav.Audio, error) {
		return wav.Audio{}, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "boom")
	}
	tests := []struct {
		name       string
		prompt     string
		synth      SynthFunc
		wantCode   codes.Code
		wantReason string
	}{
		{name: "nothing to speak", prompt: "... --- !!!", synth: fakeSynth, wantCode: codes.InvalidArgument, wantReason: rpcerr.ReasonInvalidArgument},
		{name: "too large for a unary response", prompt: "One. Two.", synth: huge, wantCode: codes.ResourceExhausted, wantReason: genai.ReasonResponseTooLarge},
		{name: "engine failure passes through", prompt: "One.", synth: failing, wantCode: codes.Internal, wantReason: rpcerr.ReasonInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(context.Background(), request(tt.prompt, nil), "v", tt.synth, func(*genaiv1.GenerateChunk) error { return nil })
			st := rpcerr.Status(err)
			reason, _ := rpcerr.Details(st)
			if st.Code() != tt.wantCode || reason != tt.wantReason {
				t.Errorf("got %v %s (%v), want %v %s", st.Code(), reason, err, tt.wantCode, tt.wantReason)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// A streaming call has no whole-WAV limit: its segments travel one per
// message, and the whole WAV is not assembled.
func TestGenerateStreamingHasNoWholeLimit(t *testing.T) {
	ctx := genai.WithStreaming(context.Background())
	big := func(context.Context, string, Options) (wav.Audio, error) {
		return wav.Audio{Rate: 48000, Samples: make([]int16, 48000*30)}, nil // 2.9 MB a sentence
	}
	segments := 0
	resp, err := Generate(ctx, request("One. Two. Three.", nil), "v", big, func(*genaiv1.GenerateChunk) error {
		segments++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if segments != 3 || len(resp.GetArtifacts()) != 0 || resp.GetUsage().GetAudioSeconds() != 90 {
		t.Errorf("%d segments, %d artifacts, %v s", segments, len(resp.GetArtifacts()), resp.GetUsage().GetAudioSeconds())
	}
}
