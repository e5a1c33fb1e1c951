package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
)

// painter is a fake image backend (the image service has no offline model
// yet): a 160x120 PNG of one colour chosen by the prompt.
type painter struct{ *genaitest.Backend }

func (painter) Generate(_ context.Context, req *genaiv1.GenerateRequest, _ func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	h := fnv.New32a()
	h.Write([]byte(req.GetPrompt()))
	v := h.Sum32()
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := range 120 {
		for x := range 160 {
			img.Set(x, y, color.RGBA{R: uint8(v), G: uint8(v >> 8), B: uint8(x + y), A: 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: b.Bytes()}}}}, nil
}

// TestNarratedSlideshowThroughTheGateway runs narrated-slideshow through
// the gateway's REST route, with real speech (flite), and fetches the MP4
// from /v1/artifacts/{id}; ffprobe must find video and audio, as long as
// the narration.
func TestNarratedSlideshowThroughTheGateway(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed; `make deps` installs ffmpeg", tool)
		}
	}
	bin := buildWithGateway(t)
	textAddr := serveFake(t, genai.Text, genaitest.NewBackend(genaitest.Echo))
	imageAddr := serveFake(t, genai.Image, painter{genaitest.NewBackend("painter")})
	audioAddr, orchAddr, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	upstreams := []string{"-text-addr", textAddr, "-image-addr", imageAddr, "-audio-addr", audioAddr}
	startProcess(t, filepath.Join(bin, "audio"), "-grpc-addr", audioAddr)
	// A low inline limit sends the video by reference, whatever its size.
	startProcess(t, filepath.Join(bin, "orchestrator"), append([]string{"-grpc-addr", orchAddr, "-data-dir", t.TempDir(), "-inline-limit", "1024"}, upstreams...)...)
	startProcess(t, filepath.Join(bin, "gateway"), append([]string{"-http-addr", httpAddr, "-orchestrator-addr", orchAddr}, upstreams...)...)
	for _, a := range []string{audioAddr, orchAddr, httpAddr} {
		waitListening(t, a)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	get := func(method, path, body string) []byte {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+httpAddr+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return b
	}
	// The echo model repeats its prompt, the story's completion prompt:
	// "Title: ..., chapter 1 This is the story of ...", three sentences
	// or so, voiced by flite.
	stream := get(http.MethodPost, "/v1/pipelines/narrated-slideshow:run",
		`{"inputs": {"topic": "the lighthouse keeper and the long winter night. She kept the lamp lit", "scene_count": "2"}}`)
	var last string
	sc := bufio.NewScanner(bytes.NewReader(stream))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		last = sc.Text()
	}
	var done struct {
		Result struct {
			RunCompleted struct {
				Outputs []struct {
					Name     string
					Artifact struct {
						URI      string `json:"uri"`
						MimeType string `json:"mimeType"`
						Metadata struct {
							DurationSeconds float64 `json:"durationSeconds"`
						}
					}
				}
			} `json:"runCompleted"`
		}
	}
	if err := json.Unmarshal([]byte(last), &done); err != nil || len(done.Result.RunCompleted.Outputs) == 0 {
		t.Fatalf("the run's last line: %.500s (%v)", last, err)
	}
	var videoURI string
	var narration float64
	for _, o := range done.Result.RunCompleted.Outputs {
		switch o.Name {
		case "video":
			videoURI = o.Artifact.URI
		case "narration":
			narration = o.Artifact.Metadata.DurationSeconds
		}
	}
	if !strings.HasPrefix(videoURI, "/v1/artifacts/") || narration < 1 {
		t.Fatalf("video %q, narration %.2f s", videoURI, narration)
	}
	mp4 := get(http.MethodGet, videoURI, "")
	path := filepath.Join(t.TempDir(), "slideshow.mp4")
	if err := os.WriteFile(path, mp4, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type:format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	fields := strings.Fields(string(out))
	seconds, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
	probe := strings.Join(fields, " ")
	if !strings.Contains(probe, "video") || !strings.Contains(probe, "audio") {
		t.Errorf("ffprobe found %q, want video and audio streams", probe)
	}
	if d := seconds - narration; d < -0.5 || d > 0.5 {
		t.Errorf("the video lasts %.3f s, the narration %.3f s", seconds, narration)
	}
	t.Logf("MP4 %d bytes, %.3f s (narration %.3f s), streams: %s", len(mp4), seconds, narration, probe)
}
