package server

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"

	"github.com/chorus-ai/chorus/orchestrator/internal/artifact"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
)

// pngOf is a 96x64 PNG of one colour chosen by text.
func pngOf(text string) []byte {
	h := fnv.New32a()
	h.Write([]byte(text))
	v := h.Sum32()
	img := image.NewRGBA(image.Rect(0, 0, 96, 64))
	c := color.RGBA{R: uint8(v), G: uint8(v >> 8), B: uint8(v >> 16), A: 255}
	for y := range 64 {
		for x := range 96 {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// ffprobe describes a media file: its streams' types and its duration.
func ffprobe(t *testing.T, data []byte) (streams []string, seconds float64) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Fatal("ffprobe is not installed; `make deps` installs ffmpeg")
	}
	path := filepath.Join(t.TempDir(), "video.mp4")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type:format=duration", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var probe struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatal(err)
	}
	for _, s := range probe.Streams {
		streams = append(streams, s.CodecType)
	}
	seconds, _ = strconv.ParseFloat(probe.Format.Duration, 64)
	return streams, seconds
}

func TestNarratedSlideshowMakesAnMP4(t *testing.T) {
	story := "The owl woke at dusk. It flew over the dark wood. A fox watched from below. " +
		"The fox called to the owl. They spoke of the moon. At dawn the owl slept again."
	text := &textModels{reply: func(string) string { return " " + story }}
	image := &genaitest.Service{Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: pngOf(r.GetPrompt())}}}}, nil
	}}
	c := newTestServer(t, fakes{text: text.service(), image: image, audio: (&speaking{}).service(), dataDir: t.TempDir()})
	events, err := run(t, c, "narrated-slideshow", map[string]string{"topic": "owls", "scene_count": "3"})
	if err != nil {
		t.Fatal(err)
	}
	out := outputs(events)
	v := out["video"]
	if v.GetMimeType() != "video/mp4" || v.GetSizeBytes() == 0 {
		t.Fatalf("video %v", v)
	}
	data := v.GetData()
	if id := artifact.IDFromURI(v.GetUri()); id != "" {
		data = fetchArtifact(t, c, &orchestratorv1.GetArtifactRequest{Id: id}, v)
	}
	narration := out["narration"].GetMetadata().GetDurationSeconds()
	if narration < 1 {
		t.Fatalf("narration lasts %.2f s", narration)
	}
	streams, seconds := ffprobe(t, data)
	has := map[string]bool{}
	for _, s := range streams {
		has[s] = true
	}
	if !has["video"] || !has["audio"] || !has["subtitle"] {
		t.Errorf("streams %v, want video, audio and subtitle", streams)
	}
	if d := seconds - narration; d < -0.5 || d > 0.5 {
		t.Errorf("the video lasts %.3f s, the narration %.3f s", seconds, narration)
	}
	if n := bytes.Count([]byte(out["captions"].GetText()), []byte(" --> ")); n != 3 {
		t.Errorf("%d captions, want one per scene", n)
	}
	t.Logf("video %d bytes, %.3f s; narration %.3f s; streams %v", len(data), seconds, narration, streams)
}
