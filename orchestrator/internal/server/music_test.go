package server

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/wav"
)

// band fakes an audio service with a music model: a loud 3 s tone at
// 44.1 kHz (and a MIDI file, as the real one returns) for model "music",
// the fake voice for every other model.
type band struct {
	mu    sync.Mutex
	music []string // prompts of the music calls
}

func (b *band) service() *genaitest.Service {
	return &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		if r.GetModel() != "music" {
			return genaitest.SpeechResponse(r), nil
		}
		b.mu.Lock()
		b.music = append(b.music, r.GetPrompt())
		b.mu.Unlock()
		tone := wav.Audio{Rate: 44100, Samples: make([]int16, 3*44100)}
		for i := range tone.Samples {
			tone.Samples[i] = int16(20000 * math.Sin(2*math.Pi*330*float64(i)/44100))
		}
		return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{
			{MimeType: "audio/wav", Content: &genaiv1.Artifact_Data{Data: wav.Encode(tone)}},
			{MimeType: "audio/midi", Content: &genaiv1.Artifact_Data{Data: []byte("MThd")}},
		}}, nil
	}}
}

func rmsOf(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(s), 1)))
}

// TestBackgroundMusic: music is opt-in; with it, the voiceover keeps its
// length and its voice, and the music under it is quieter than the voice.
func TestBackgroundMusic(t *testing.T) {
	script := "The owl woke at dusk. It flew over the dark wood. A fox watched from below."
	for _, pipeline := range []struct{ name, output string }{{"script-then-voiceover", "voiceover"}, {"narrated-slideshow", "narration"}} {
		t.Run(pipeline.name, func(t *testing.T) {
			voiceover := func(inputs map[string]string) (wav.Audio, *band) {
				t.Helper()
				b := &band{}
				text := &textModels{reply: func(string) string { return " " + script }}
				image := &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
					return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: pngOf(r.GetPrompt())}}}}, nil
				}}
				c := newTestServer(t, fakes{text: text.service(), audio: b.service(), image: image})
				events, err := run(t, c, pipeline.name, inputs)
				if err != nil {
					t.Fatal(err)
				}
				a, err := wav.Decode(outputs(events)[pipeline.output].GetData())
				if err != nil {
					t.Fatal(err)
				}
				return a, b
			}
			plain, b := voiceover(map[string]string{"topic": "owls"})
			if len(b.music) != 0 {
				t.Fatalf("music composed without being asked for: %q", b.music)
			}
			mixed, b := voiceover(map[string]string{"topic": "owls", "music": "calm piano"})
			if len(b.music) != 1 || !strings.HasPrefix(b.music[0], "calm piano, ") || !strings.HasSuffix(b.music[0], " seconds") {
				t.Fatalf("music prompts %q", b.music)
			}
			if mixed.Rate != plain.Rate || len(mixed.Samples) != len(plain.Samples) || len(plain.Samples) == 0 {
				t.Fatalf("with music: %d Hz, %d samples; without: %d Hz, %d samples", mixed.Rate, len(mixed.Samples), plain.Rate, len(plain.Samples))
			}
			added := make([]int16, len(mixed.Samples))
			for i := range added {
				added[i] = mixed.Samples[i] - plain.Samples[i]
			}
			voice, music := rmsOf(plain.Samples), rmsOf(added)
			if music == 0 || voice < 3*music {
				t.Errorf("voice RMS %.0f, music RMS %.0f: want music present and at least 10 dB under the voice", voice, music)
			}
		})
	}
}
