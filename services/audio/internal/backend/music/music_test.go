package music

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/music/compose"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/music/midi"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newBackend returns the backend over the installed FluidSynth and
// soundfont, skipping when they are absent outside CI (make deps installs
// them; in CI their absence is a failure).
func newBackend(tb testing.TB) *Backend {
	tb.Helper()
	b, err := New(context.Background(), Binary, DefaultSoundfont)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("CI is set but the music backend cannot start (make deps installs fluidsynth and fluid-soundfont-gm): %v", err)
		}
		tb.Skipf("fluidsynth or its soundfont is absent (make deps installs fluidsynth and fluid-soundfont-gm): %v", err)
	}
	return b
}

func generate(tb testing.TB, b *Backend, req *genaiv1.GenerateRequest) (wav.Audio, []byte, *genaiv1.GenerateResponse) {
	tb.Helper()
	resp, err := b.Generate(context.Background(), req, func(*genaiv1.GenerateChunk) error {
		tb.Error("the music backend streamed a chunk")
		return nil
	})
	if err != nil {
		tb.Fatalf("%q: %v", req.GetPrompt(), err)
	}
	arts := resp.GetArtifacts()
	if len(arts) != 2 || arts[0].GetMimeType() != "audio/wav" || arts[1].GetMimeType() != midi.MimeType {
		tb.Fatalf("%q: artifacts %v", req.GetPrompt(), arts)
	}
	a, err := wav.Decode(arts[0].GetData())
	if err != nil {
		tb.Fatal(err)
	}
	return a, arts[1].GetData(), resp
}

func TestGenerate(t *testing.T) {
	b := newBackend(t)
	tests := []struct {
		name    string
		req     *genaiv1.GenerateRequest
		seconds float64
		rate    int
	}{
		{name: "minimal: only a prompt", req: &genaiv1.GenerateRequest{Prompt: "a tune"}, seconds: compose.DefaultSeconds, rate: RenderRate},
		{name: "calm, duration and key from the prompt", req: &genaiv1.GenerateRequest{Prompt: "calm piano and strings in D minor, 8 seconds"}, seconds: 8, rate: RenderRate},
		{name: "energetic, resampled, faster", req: &genaiv1.GenerateRequest{Prompt: "energetic guitar with drums, 6 seconds at 120 bpm",
			Options: &genaiv1.GenerateRequest_Audio{Audio: &genaiv1.AudioOptions{SampleRate: 16000, Speed: 1.5}}}, seconds: 6, rate: 16000},
		{name: "an instrument as the voice", req: &genaiv1.GenerateRequest{Prompt: "a short theme, 3 seconds",
			Options: &genaiv1.GenerateRequest_Audio{Audio: &genaiv1.AudioOptions{Voice: "flute"}}}, seconds: 3, rate: RenderRate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, mid, resp := generate(t, b, tt.req)
			if a.Rate != tt.rate {
				t.Errorf("rate %d, want %d", a.Rate, tt.rate)
			}
			if d := a.Seconds(); math.Abs(d-tt.seconds) > 0.5 {
				t.Errorf("%.3f s, want %v ± 0.5", d, tt.seconds)
			}
			rms := RMS(a.Samples)
			// Of the body: the fade-out is quieter by design.
			body := RMS(a.Samples[:len(a.Samples)*3/4])
			t.Logf("%q: %.3f s at %d Hz, RMS %.0f (first three quarters %.0f), %d bytes of MIDI, seed %d",
				tt.req.GetPrompt(), a.Seconds(), a.Rate, rms, body, len(mid), resp.GetArtifacts()[0].GetMetadata().GetSeed())
			if body < 300 {
				t.Errorf("RMS %.0f: near silence", body)
			}
			if last := a.Samples[len(a.Samples)-1]; last != 0 {
				t.Errorf("the last sample is %d, not faded to 0", last)
			}
			p, _ := compose.Parse(tt.req.GetPrompt(), 0)
			for _, art := range resp.GetArtifacts() {
				if art.GetMetadata().GetSeed() != p.Seed || art.GetSha256() == "" {
					t.Errorf("%s: seed %d (want %d), sha256 %q", art.GetMimeType(), art.GetMetadata().GetSeed(), p.Seed, art.GetSha256())
				}
			}
			if u := resp.GetUsage().GetAudioSeconds(); u != a.Seconds() {
				t.Errorf("usage %v s, audio %v s", u, a.Seconds())
			}
		})
	}
}

func TestGenerateSamePromptSameMIDI(t *testing.T) {
	b := newBackend(t)
	req := &genaiv1.GenerateRequest{Prompt: "happy piano, 3 seconds"}
	_, m1, _ := generate(t, b, req)
	_, m2, _ := generate(t, b, req)
	if !bytes.Equal(m1, m2) {
		t.Error("the same prompt gave different MIDI files")
	}
	_, m3, _ := generate(t, b, &genaiv1.GenerateRequest{Prompt: "happy piano, 3 seconds, seed 5"})
	if bytes.Equal(m1, m3) {
		t.Error("another seed gave the same MIDI file")
	}
}

func TestGenerateRejects(t *testing.T) {
	b := newBackend(t)
	tests := []struct {
		name  string
		req   *genaiv1.GenerateRequest
		field string
	}{
		{name: "too long", req: &genaiv1.GenerateRequest{Prompt: "400 seconds of jazz"}, field: "prompt"},
		{name: "too slow", req: &genaiv1.GenerateRequest{Prompt: "a dirge at 10 bpm"}, field: "prompt"},
		{name: "unknown instrument", req: &genaiv1.GenerateRequest{Prompt: "a tune", Options: &genaiv1.GenerateRequest_Audio{Audio: &genaiv1.AudioOptions{Voice: "kazoo"}}}, field: "audio.voice"},
	}
	for _, tt := range tests {
		_, err := b.Generate(context.Background(), tt.req, func(*genaiv1.GenerateChunk) error { return nil })
		var re *rpcerr.Error
		if !errors.As(err, &re) || re.Code != codes.InvalidArgument {
			t.Errorf("%s: err %v, want INVALID_ARGUMENT", tt.name, err)
			continue
		}
		if len(re.Violations) != 1 || re.Violations[0].Field != tt.field {
			t.Errorf("%s: violations %v, want one on %s", tt.name, re.Violations, tt.field)
		}
	}
}

func TestGenerateCanceled(t *testing.T) {
	b := newBackend(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.Generate(ctx, &genaiv1.GenerateRequest{Prompt: "a tune"}, func(*genaiv1.GenerateChunk) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

func TestNewRejectsNotASoundfont(t *testing.T) {
	for _, content := range [][]byte{nil, []byte("RIFF\x00\x00\x00\x00WAVEfmt ")} {
		path := filepath.Join(t.TempDir(), "x.sf2")
		if content != nil {
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := New(context.Background(), Binary, path); !errors.Is(err, ErrNoSoundfont) {
			t.Errorf("%q: err %v, want ErrNoSoundfont", content, err)
		}
	}
}

func TestFit(t *testing.T) {
	loud := make([]int16, 3000)
	for i := range loud {
		loud[i] = 10000
	}
	tests := []struct {
		name    string
		in      wav.Audio
		seconds float64
		want    int
	}{
		{name: "cut", in: wav.Audio{Rate: 1000, Samples: loud}, seconds: 2, want: 2000},
		{name: "padded", in: wav.Audio{Rate: 1000, Samples: loud}, seconds: 4, want: 4000},
	}
	for _, tt := range tests {
		got := fit(tt.in, tt.seconds)
		if len(got.Samples) != tt.want || got.Rate != tt.in.Rate {
			t.Fatalf("%s: %d samples at %d Hz, want %d", tt.name, len(got.Samples), got.Rate, tt.want)
		}
		if got.Samples[0] != 10000 || got.Samples[len(got.Samples)-1] != 0 {
			t.Errorf("%s: first %d, last %d: not faded out", tt.name, got.Samples[0], got.Samples[len(got.Samples)-1])
		}
		for i := 1; i < len(got.Samples); i++ {
			if got.Samples[i] > got.Samples[i-1] && i > 500 {
				t.Errorf("%s: rises at %d during the fade", tt.name, i)
				break
			}
		}
	}
}
