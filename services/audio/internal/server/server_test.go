package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve/servetest"
	"github.com/chorus-ai/chorus/platform/wav"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/espeak"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/flite"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/music"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

func haveEspeak() bool {
	_, err := exec.LookPath(espeak.Binary)
	return err == nil
}

func audio(o *genaiv1.AudioOptions) *genaiv1.GenerateRequest_Audio {
	return &genaiv1.GenerateRequest_Audio{Audio: o}
}

func TestListModels(t *testing.T) {
	c := newTestServer(t, DefaultConfig())
	resp, err := c.ListModels(context.Background(), &genaiv1.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	models := resp.GetModels()
	if len(models) == 0 || models[0].GetName() != flite.Model || !models[0].GetDefault() {
		t.Fatalf("the default model is not flite: %v", models)
	}
	if v := models[0].GetVoices(); !slices.Equal(v, []string{"slt", "kal", "kal16", "awb", "rms"}) {
		t.Errorf("flite voices %v", v)
	}
	if haveEspeak() {
		if len(models) < 2 || models[1].GetName() != espeak.Model {
			t.Fatalf("espeak-ng is installed but the models are %v", models)
		}
		if v := models[1].GetVoices(); len(v) < 10 || v[0] != espeak.DefaultVoice || !slices.Contains(models[1].GetLanguages(), "en-US") {
			t.Errorf("espeak voices %v, languages %v", v, models[1].GetLanguages())
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	c := newTestServer(t, DefaultConfig())
	tests := []struct {
		name       string
		req        *genaiv1.GenerateRequest
		espeak     bool
		wantCode   codes.Code
		wantReason string
		wantFields []string
	}{
		{
			name:     "empty prompt",
			req:      &genaiv1.GenerateRequest{Prompt: "  "},
			wantCode: codes.InvalidArgument, wantReason: rpcerr.ReasonInvalidArgument, wantFields: []string{"prompt"},
		},
		{
			name:     "bad audio options",
			req:      &genaiv1.GenerateRequest{Prompt: "Hi.", Options: audio(&genaiv1.AudioOptions{Speed: 10, SampleRate: 100, Format: "mp3"})},
			wantCode: codes.InvalidArgument, wantReason: rpcerr.ReasonInvalidArgument, wantFields: []string{"audio.format", "audio.sample_rate", "audio.speed"},
		},
		{
			name:     "text options",
			req:      &genaiv1.GenerateRequest{Prompt: "Hi.", Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{MaxTokens: 5}}},
			wantCode: codes.InvalidArgument, wantReason: rpcerr.ReasonInvalidArgument, wantFields: []string{"text"},
		},
		{
			name:     "unknown flite voice",
			req:      &genaiv1.GenerateRequest{Prompt: "Hi.", Options: audio(&genaiv1.AudioOptions{Voice: "hal9000"})},
			wantCode: codes.InvalidArgument, wantReason: rpcerr.ReasonInvalidArgument, wantFields: []string{"audio.voice"},
		},
		{
			name:     "nothing to speak",
			req:      &genaiv1.GenerateRequest{Prompt: "... ---"},
			wantCode: codes.InvalidArgument, wantReason: rpcerr.ReasonInvalidArgument, wantFields: []string{"prompt"},
		},
		{
			name:     "unknown model",
			req:      &genaiv1.GenerateRequest{Model: "tacotron", Prompt: "Hi."},
			wantCode: codes.NotFound, wantReason: rpcerr.ReasonModelNotFound,
		},
		{
			name:     "unknown espeak voice",
			req:      &genaiv1.GenerateRequest{Model: espeak.Model, Prompt: "Hi.", Options: audio(&genaiv1.AudioOptions{Voice: "klingon"})},
			espeak:   true,
			wantCode: codes.InvalidArgument, wantReason: rpcerr.ReasonInvalidArgument, wantFields: []string{"audio.voice"},
		},
		{
			name:     "espeak slower than it can speak",
			req:      &genaiv1.GenerateRequest{Model: espeak.Model, Prompt: "Hi.", Options: audio(&genaiv1.AudioOptions{Speed: 0.3})},
			espeak:   true,
			wantCode: codes.InvalidArgument, wantReason: rpcerr.ReasonInvalidArgument, wantFields: []string{"audio.speed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.espeak && !haveEspeak() {
				t.Skip("espeak-ng is not installed")
			}
			_, err := c.Generate(context.Background(), tt.req)
			servetest.CheckStatus(t, err, tt.wantCode, tt.wantReason, tt.wantFields...)
		})
	}
}

const fox = "The quick brown fox jumps over the lazy dog. It was not amused, so it barked twice. Then everyone went home."

func TestFliteSpeaks(t *testing.T) {
	c := newTestServer(t, DefaultConfig())
	tests := []struct {
		voice    string
		wantRate int
	}{
		{voice: "", wantRate: 16000}, // slt
		{voice: "slt", wantRate: 16000},
		{voice: "cmu_us_slt", wantRate: 16000},
		{voice: "kal", wantRate: 8000},
		{voice: "kal16", wantRate: 16000},
		{voice: "awb", wantRate: 16000},
		{voice: "rms", wantRate: 16000},
	}
	for _, tt := range tests {
		t.Run("voice="+tt.voice, func(t *testing.T) {
			resp, err := c.Generate(context.Background(), &genaiv1.GenerateRequest{Prompt: fox, Options: audio(&genaiv1.AudioOptions{Voice: tt.voice})})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetModel() != flite.Model || len(resp.GetArtifacts()) != 1 {
				t.Fatalf("model %q, %d artifacts", resp.GetModel(), len(resp.GetArtifacts()))
			}
			art := resp.GetArtifacts()[0]
			a := checkSpeech(t, art, fox)
			if a.Rate != tt.wantRate {
				t.Errorf("sample rate %d, want %d", a.Rate, tt.wantRate)
			}
			if u := resp.GetUsage(); math.Abs(u.GetAudioSeconds()-a.Seconds()) > 1e-6 || u.GetInputCharacters() != int32(len(fox)) {
				t.Errorf("usage %v; the WAV lasts %v s", u, a.Seconds())
			}
		})
	}
}

func TestFliteOptions(t *testing.T) {
	c := newTestServer(t, DefaultConfig())
	seconds := func(o *genaiv1.AudioOptions) (float64, int) {
		t.Helper()
		resp, err := c.Generate(context.Background(), &genaiv1.GenerateRequest{Prompt: fox, Options: audio(o)})
		if err != nil {
			t.Fatal(err)
		}
		a := checkSpeech(t, resp.GetArtifacts()[0], "")
		return a.Seconds(), a.Rate
	}
	normal, _ := seconds(&genaiv1.AudioOptions{})
	for _, rate := range []int32{8000, 22050, 48000} {
		d, got := seconds(&genaiv1.AudioOptions{SampleRate: rate})
		if got != int(rate) || math.Abs(d-normal) > 0.01 {
			t.Errorf("sample_rate %d: got %d Hz lasting %.3f s, want %d Hz lasting %.3f s", rate, got, d, rate, normal)
		}
	}
	fast, _ := seconds(&genaiv1.AudioOptions{Speed: 2})
	slow, _ := seconds(&genaiv1.AudioOptions{Speed: 0.5})
	if !(fast < normal*0.75 && slow > normal*1.5) {
		t.Errorf("durations at speed 2, 1, 0.5: %.2f, %.2f, %.2f s", fast, normal, slow)
	}
}

func TestStreaming(t *testing.T) {
	c := newTestServer(t, DefaultConfig())
	models := []string{flite.Model}
	if haveEspeak() {
		models = append(models, espeak.Model)
	}
	want := []string{"The quick brown fox jumps over the lazy dog.", "It was not amused, so it barked twice.", "Then everyone went home."}
	for _, model := range models {
		t.Run(model, func(t *testing.T) {
			stream, err := c.StreamGenerate(context.Background(), &genaiv1.GenerateRequest{Model: model, Prompt: fox})
			if err != nil {
				t.Fatal(err)
			}
			var segs []*genaiv1.Artifact
			var done *genaiv1.GenerateResponse
			for {
				chunk, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if done != nil {
					t.Fatalf("a chunk after done: %v", chunk)
				}
				if a := chunk.GetArtifact(); a != nil {
					segs = append(segs, a)
				}
				done = chunk.GetDone()
			}
			if done == nil || len(done.GetArtifacts()) != 0 {
				t.Fatalf("done chunk %v, want one without artifacts", done)
			}
			if len(segs) != len(want) {
				t.Fatalf("got %d segments, want one per sentence (%d)", len(segs), len(want))
			}
			offset := 0.0
			for i, s := range segs {
				m := s.GetMetadata()
				a := checkSpeech(t, s, want[i])
				if m.GetIndex() != int32(i) || m.GetSourceText() != want[i] {
					t.Errorf("segment %d: index %d, text %q; want %q", i, m.GetIndex(), m.GetSourceText(), want[i])
				}
				if math.Abs(m.GetOffsetSeconds()-offset) > 1e-6 {
					t.Errorf("segment %d: offset %.4f s, previous segments add up to %.4f s", i, m.GetOffsetSeconds(), offset)
				}
				offset += a.Seconds()
			}
			if math.Abs(done.GetUsage().GetAudioSeconds()-offset) > 1e-6 {
				t.Errorf("usage says %.4f s, segments add up to %.4f s", done.GetUsage().GetAudioSeconds(), offset)
			}
		})
	}
}

func TestTooLargeForUnary(t *testing.T) {
	c := newTestServer(t, DefaultConfig())
	long := strings.Repeat("This sentence is spoken very slowly at a high sample rate. ", 20)
	_, err := c.Generate(context.Background(), &genaiv1.GenerateRequest{Prompt: long, Options: audio(&genaiv1.AudioOptions{Speed: 0.25, SampleRate: 48000})})
	st := status.Convert(err)
	if reason, _ := rpcerr.Details(st); st.Code() != codes.ResourceExhausted || reason != genai.ReasonResponseTooLarge {
		t.Errorf("got %v %s (%q), want INVALID_ARGUMENT AUDIO_TOO_LARGE", st.Code(), reason, st.Message())
	}
}

func TestEspeakSpeaks(t *testing.T) {
	if !haveEspeak() {
		t.Skip("espeak-ng is not installed")
	}
	c := newTestServer(t, DefaultConfig())
	for _, voice := range []string{"", "en-us", "en-gb-x-rp", "en-us+f3", "de"} {
		t.Run("voice="+voice, func(t *testing.T) {
			resp, err := c.Generate(context.Background(), &genaiv1.GenerateRequest{Model: espeak.Model, Prompt: fox, Options: audio(&genaiv1.AudioOptions{Voice: voice})})
			if err != nil {
				t.Fatal(err)
			}
			if a := checkSpeech(t, resp.GetArtifacts()[0], fox); a.Rate != 22050 {
				t.Errorf("sample rate %d, want espeak-ng's 22050", a.Rate)
			}
		})
	}
	resp, err := c.Generate(context.Background(), &genaiv1.GenerateRequest{Model: espeak.Model, Prompt: fox, Options: audio(&genaiv1.AudioOptions{Speed: 2, SampleRate: 16000})})
	if err != nil {
		t.Fatal(err)
	}
	if a := checkSpeech(t, resp.GetArtifacts()[0], ""); a.Rate != 16000 {
		t.Errorf("sample rate %d, want 16000", a.Rate)
	}
}

// checkSpeech decodes art and checks it sounds like speech of text (when
// given): a duration plausible for its words, metadata that matches, real
// signal, and the uneven energy of speech, which pauses between words and
// phrases where a tone or noise would not.
func checkSpeech(t *testing.T, art *genaiv1.Artifact, text string) wav.Audio {
	t.Helper()
	if art.GetMimeType() != "audio/wav" {
		t.Errorf("mime type %q", art.GetMimeType())
	}
	a, err := wav.Decode(art.GetData())
	if err != nil {
		t.Fatalf("decoding the WAV: %v", err)
	}
	m := art.GetMetadata()
	if int(m.GetSampleRate()) != a.Rate || math.Abs(m.GetDurationSeconds()-a.Seconds()) > 1e-6 {
		t.Errorf("metadata says %d Hz, %.3f s; the WAV is %d Hz, %.3f s", m.GetSampleRate(), m.GetDurationSeconds(), a.Rate, a.Seconds())
	}
	if words := len(strings.Fields(text)); words > 0 {
		if per := a.Seconds() / float64(words); per < 0.15 || per > 0.6 {
			t.Errorf("%.2f s for %d words: %.2f s a word", a.Seconds(), words, per)
		}
	}
	frame := a.Rate / 50 // 20 ms
	var frames []float64
	for i := 0; i+frame <= len(a.Samples); i += frame {
		frames = append(frames, rms(a.Samples[i:i+frame]))
	}
	if len(frames) < 10 {
		t.Fatalf("only %d frames of audio", len(frames))
	}
	if total := rms(a.Samples); total < 300 {
		t.Errorf("RMS %.0f: near silence", total)
	}
	loudest := slices.Max(frames)
	quiet, loud := 0, 0
	for _, f := range frames {
		switch {
		case f < 0.1*loudest:
			quiet++
		case f > 0.3*loudest:
			loud++
		}
	}
	if q, l := float64(quiet)/float64(len(frames)), float64(loud)/float64(len(frames)); q < 0.03 || l < 0.2 {
		t.Errorf("energy too even for speech: %.0f%% of frames quiet, %.0f%% loud", 100*q, 100*l)
	}
	return a
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

// Flite keeps global state; concurrent requests over different voices
// must all get whole, correct speech (run with -race to see the lock work).
func TestFliteConcurrentVoices(t *testing.T) {
	c := newTestServer(t, DefaultConfig())
	voices := []string{"slt", "kal", "kal16", "rms"}
	errs := make(chan error, len(voices))
	var wg sync.WaitGroup
	for _, v := range voices {
		wg.Go(func() {
			resp, err := c.Generate(context.Background(), &genaiv1.GenerateRequest{Prompt: fox, Options: audio(&genaiv1.AudioOptions{Voice: v})})
			if err == nil {
				_, err = wav.Decode(resp.GetArtifacts()[0].GetData())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{name: "defaults", edit: func(*Config) {}, ok: true},
		{name: "bad mode", edit: func(c *Config) { c.Espeak = "maybe" }},
		{name: "bad music mode", edit: func(c *Config) { c.Music = "loud" }},
		{name: "no concurrency", edit: func(c *Config) { c.Server.Concurrency = 0 }},
		{name: "no queue", edit: func(c *Config) { c.Server.Queue = 0 }},
	} {
		cfg := DefaultConfig()
		tc.edit(&cfg)
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		name       string
		espeak     string
		binary     string
		music      string
		soundfont  string
		wantModels []string
		wantErr    bool
	}{
		{name: "espeak off", espeak: EspeakOff, music: MusicOff, wantModels: []string{flite.Model}},
		{name: "auto without espeak-ng", espeak: EspeakAuto, binary: "/nonexistent/espeak-ng", music: MusicOff, wantModels: []string{flite.Model}},
		{name: "on without espeak-ng", espeak: EspeakOn, binary: "/nonexistent/espeak-ng", music: MusicOff, wantErr: true},
		{name: "auto without a soundfont", espeak: EspeakOff, music: MusicAuto, soundfont: "/nonexistent/gm.sf2", wantModels: []string{flite.Model}},
		{name: "music on without a soundfont", espeak: EspeakOff, music: MusicOn, soundfont: "/nonexistent/gm.sf2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Espeak, cfg.EspeakBinary = tt.espeak, tt.binary
			cfg.Music, cfg.Soundfont = tt.music, tt.soundfont
			routes, _, err := Routes(context.Background(), cfg, quiet)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			var models []string
			for _, r := range routes {
				for _, m := range r.Backend.Models() {
					models = append(models, m.GetName())
				}
			}
			if !slices.Equal(models, tt.wantModels) {
				t.Errorf("models %v, want %v", models, tt.wantModels)
			}
		})
	}
}

// haveMusic reports whether the music backend can start here, failing the
// test in CI, where make deps installs fluidsynth and its soundfont.
func haveMusic(tb testing.TB) bool {
	tb.Helper()
	_, err := music.New(context.Background(), music.Binary, music.DefaultSoundfont)
	if err != nil && os.Getenv("CI") != "" {
		tb.Fatalf("CI is set but the music backend cannot start (make deps installs fluidsynth and fluid-soundfont-gm): %v", err)
	}
	return err == nil
}

// TestMusic asks the running service for music over gRPC, unary and
// streamed, with the minimal request (a prompt and the model) first.
func TestMusic(t *testing.T) {
	if !haveMusic(t) {
		t.Skip("fluidsynth or fluid-soundfont-gm is absent (make deps installs them)")
	}
	c := newTestServer(t, DefaultConfig())
	list, err := c.ListModels(context.Background(), &genaiv1.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(list.GetModels(), func(m *genaiv1.Model) bool { return m.GetName() == music.Model }); i < 0 || list.GetModels()[i].GetDefault() {
		t.Fatalf("models %v: no music model, or it is the default", list.GetModels())
	}

	check := func(t *testing.T, arts []*genaiv1.Artifact, seconds float64, rate int) {
		t.Helper()
		if len(arts) != 2 || arts[0].GetMimeType() != "audio/wav" || arts[1].GetMimeType() != "audio/midi" {
			t.Fatalf("artifacts %v, want a WAV and a MIDI file", arts)
		}
		a, err := wav.Decode(arts[0].GetData())
		if err != nil {
			t.Fatal(err)
		}
		rms := music.RMS(a.Samples)
		t.Logf("%.3f s at %d Hz, RMS %.0f, seed %d, %d bytes of MIDI", a.Seconds(), a.Rate, rms, arts[0].GetMetadata().GetSeed(), len(arts[1].GetData()))
		if math.Abs(a.Seconds()-seconds) > 0.5 || a.Rate != rate {
			t.Errorf("%.3f s at %d Hz, want %v s at %d Hz", a.Seconds(), a.Rate, seconds, rate)
		}
		if rms < 300 {
			t.Errorf("RMS %.0f: near silence", rms)
		}
		if !strings.HasPrefix(string(arts[1].GetData()), "MThd") {
			t.Errorf("the MIDI artifact starts % x", arts[1].GetData()[:min(8, len(arts[1].GetData()))])
		}
	}

	t.Run("minimal", func(t *testing.T) {
		resp, err := c.Generate(context.Background(), &genaiv1.GenerateRequest{Model: music.Model, Prompt: "a little waltz"})
		if err != nil {
			t.Fatal(err)
		}
		check(t, resp.GetArtifacts(), 20, music.RenderRate)
	})
	t.Run("streamed", func(t *testing.T) {
		stream, err := c.StreamGenerate(context.Background(), &genaiv1.GenerateRequest{Model: music.Model, Prompt: "energetic strings and drums, 5 seconds",
			Options: audio(&genaiv1.AudioOptions{SampleRate: 22050})})
		if err != nil {
			t.Fatal(err)
		}
		var done *genaiv1.GenerateResponse
		for {
			chunk, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			done = chunk.GetDone()
		}
		if done == nil {
			t.Fatal("no done chunk")
		}
		check(t, done.GetArtifacts(), 5, 22050)
	})
	t.Run("rejects", func(t *testing.T) {
		_, err := c.Generate(context.Background(), &genaiv1.GenerateRequest{Model: music.Model, Prompt: "ten minutes of ambient drone"})
		if st := status.Convert(err); st.Code() != codes.InvalidArgument {
			t.Errorf("got %v, want INVALID_ARGUMENT", st)
		}
	})
	t.Run("long, in parts", func(t *testing.T) {
		req := &genaiv1.GenerateRequest{Model: music.Model, Prompt: "a calm piano piece, 65 seconds"}
		arts, parts := streamWhole(t, c, req)
		check(t, arts, 65, music.RenderRate)
		checkWhole(t, arts[0], parts)
		// The same piece is too long for one unary response, and is
		// refused as such.
		_, err := c.Generate(context.Background(), req)
		st := status.Convert(err)
		if reason, _ := rpcerr.Details(st); st.Code() != codes.ResourceExhausted || reason != genai.ReasonResponseTooLarge || !strings.Contains(st.Message(), "StreamGenerate") {
			t.Errorf("unary 65 s piece: %v, want RESOURCE_EXHAUSTED %s naming StreamGenerate", err, genai.ReasonResponseTooLarge)
		}
	})
}

// countParts is a test-only stream wrapper counting the ArtifactPart chunks
// that pass through it.
type countParts struct {
	grpc.ServerStreamingClient[genaiv1.GenerateChunk]
	parts int
}

func (c *countParts) Recv() (*genaiv1.GenerateChunk, error) {
	ch, err := c.ServerStreamingClient.Recv()
	if ch.GetArtifactPart() != nil {
		c.parts++
	}
	return ch, err
}

// streamWhole runs req through StreamGenerate and returns the artifacts it
// streamed and its done chunk's, whole (genai.Reassemble), and how many
// parts they came in.
func streamWhole(t *testing.T, c genaiv1.AudioServiceClient, req *genaiv1.GenerateRequest) ([]*genaiv1.Artifact, int) {
	t.Helper()
	raw, err := c.StreamGenerate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	counted := &countParts{ServerStreamingClient: raw}
	stream := genai.Reassemble(counted, 0)
	var arts []*genaiv1.Artifact
	for {
		ch, err := stream.Recv()
		if err == io.EOF {
			return arts, counted.parts
		}
		if err != nil {
			t.Fatal(err)
		}
		if a := ch.GetArtifact(); a != nil {
			arts = append(arts, a)
		}
		arts = append(arts, ch.GetDone().GetArtifacts()...)
	}
}

// checkWhole fails unless a is over 4 MiB (more than one gRPC message) and
// its bytes match its size and sha256.
func checkWhole(t *testing.T, a *genaiv1.Artifact, parts int) {
	t.Helper()
	data := a.GetData()
	sum := sha256.Sum256(data)
	if len(data) <= 4<<20 || a.GetSizeBytes() != int64(len(data)) || a.GetSha256() != hex.EncodeToString(sum[:]) {
		t.Fatalf("artifact of %d bytes, size %d, sha256 %s; want over 4 MiB with a matching size and digest", len(data), a.GetSizeBytes(), a.GetSha256())
	}
	t.Logf("%d bytes whole from %d parts", len(data), parts)
	if want := (len(data) + genai.PartBytes - 1) / genai.PartBytes; parts < want {
		t.Errorf("%d bytes came in %d parts, want at least %d", len(data), parts, want)
	}
}

func TestLongSentenceInParts(t *testing.T) {
	c := newTestServer(t, DefaultConfig())
	// One sentence just under sentence.MaxLen, voiced slowly at 48 kHz:
	// about 7 MB of WAV, more than one message carries.
	long := strings.TrimSuffix(strings.Repeat("the slow river winds past the old mill and the quiet fields, ", 4), ", ") + "."
	req := &genaiv1.GenerateRequest{Prompt: long, Options: audio(&genaiv1.AudioOptions{Speed: 0.25, SampleRate: 48000})}
	arts, parts := streamWhole(t, c, req)
	if len(arts) != 1 {
		t.Fatalf("%d artifacts, want the one sentence", len(arts))
	}
	checkWhole(t, arts[0], parts)
	a, err := wav.Decode(arts[0].GetData())
	if err != nil || a.Rate != 48000 || math.Abs(a.Seconds()-arts[0].GetMetadata().GetDurationSeconds()) > 1e-6 {
		t.Fatalf("the reassembled WAV: %v, %d Hz, %.2f s (metadata %.2f s)", err, a.Rate, a.Seconds(), arts[0].GetMetadata().GetDurationSeconds())
	}
}

// newTestServer runs the audio service with cfg on a free 127.0.0.1 port
// and returns a client.
func newTestServer(tb testing.TB, cfg Config) genaiv1.AudioServiceClient {
	tb.Helper()
	cfg.Server = servetest.Config(tb, cfg.Server)
	return genaiv1.NewAudioServiceClient(servetest.StartNew(tb, New, cfg))
}
