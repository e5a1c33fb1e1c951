package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorus-ai/chorus/cli/internal/stacktest"
	"github.com/chorus-ai/chorus/platform/processtest"
)

// The pipelines that need pictures run on the offline defaults alone: the
// embedded chorus-mini writes, the embedded chorus-pixels draws, flite
// speaks. narrated-slideshow ends with an MP4 (video and audio, as long as
// the narration), served by /v1/artifacts when it is large; illustrated-story with one
// picture per scene and a page.
func TestOfflinePicturePipelines(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the five servers and runs them as processes; run without -short")
	}
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatal("ffprobe not found: `make deps` installs ffmpeg")
	}
	models := filepath.Join(processtest.RepoRoot(t), "models")
	s := startSuite(t, buildServers(t), processtest.HermeticEnv(t,
		// The defaults are ./models; the test does not run from the root.
		"CHORUS_TEXT_MODELS_DIR="+models, "CHORUS_IMAGE_MODELS_DIR="+models))
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(hc.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("narrated-slideshow", func(t *testing.T) {
		outputs := runOffline(ctx, t, hc, s.gateway, "narrated-slideshow", map[string]string{"topic": "the sea"})
		video, narration := outputs["video"], outputs["narration"]
		if video.MimeType != "video/mp4" {
			t.Fatalf("video output %+v, want video/mp4", video)
		}
		// Over the inline limit (256 KiB) the MP4 travels by reference and
		// the gateway serves it; a short narration's fits inline.
		mp4 := filepath.Join(t.TempDir(), "slideshow.mp4")
		n := int64(len(video.Data))
		if video.URI != "" {
			if !strings.HasPrefix(video.URI, "/v1/artifacts/") {
				t.Fatalf("video uri %q, want /v1/artifacts/ID", video.URI)
			}
			resp, err := hc.Get(s.gateway + video.URI)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			f, err := os.Create(mp4)
			if err != nil {
				t.Fatal(err)
			}
			n, err = io.Copy(f, resp.Body)
			f.Close()
			if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" || resp.Header.Get("Content-Length") != strconv.FormatInt(n, 10) {
				t.Fatalf("GET %s: HTTP %d %s, %d bytes, %v", video.URI, resp.StatusCode, resp.Header.Get("Content-Type"), n, err)
			}
		} else if err := os.WriteFile(mp4, video.Data, 0o644); err != nil || n == 0 {
			t.Fatalf("video inline: %d bytes, %v", n, err)
		}
		out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "stream=codec_type", "-show_entries", "format=duration", "-of", "json", mp4).Output()
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
		kinds := map[string]bool{}
		for _, st := range probe.Streams {
			kinds[st.CodecType] = true
		}
		d, _ := strconv.ParseFloat(probe.Format.Duration, 64)
		if !kinds["video"] || !kinds["audio"] || narration.Metadata.DurationSeconds <= 0 || d-narration.Metadata.DurationSeconds > 0.5 || narration.Metadata.DurationSeconds-d > 0.5 {
			t.Errorf("MP4 streams %v, %.3f s; narration %.3f s: want video and audio within 0.5 s of it", kinds, d, narration.Metadata.DurationSeconds)
		}
		t.Logf("MP4 of %d bytes, %.3f s, streams %v; narration %.3f s", n, d, kinds, narration.Metadata.DurationSeconds)
	})

	t.Run("illustrated-story", func(t *testing.T) {
		outputs := runOffline(ctx, t, hc, s.gateway, "illustrated-story", map[string]string{"topic": "a red fox"})
		var pictures int
		for name, a := range outputs {
			if strings.HasPrefix(name, "illustrations[") && a.MimeType == "image/png" {
				pictures++
			}
		}
		scenes := len(strings.Split(strings.TrimSpace(outputs["scenes"].Text), "\n"))
		if pictures == 0 || pictures != scenes || outputs["page"].MimeType != "text/html; charset=utf-8" {
			t.Errorf("%d pictures for %d scenes, page %q: want one picture per scene and the page", pictures, scenes, outputs["page"].MimeType)
		}
		t.Logf("%d pictures; scenes:\n%s", pictures, outputs["scenes"].Text)
	})
}

// output is what the test reads of a run's output artifact.
type output struct {
	MimeType string `json:"mimeType"`
	URI      string `json:"uri"`
	Data     []byte `json:"data"` // base64 in proto3 JSON
	Text     string `json:"text"`
	Metadata struct {
		DurationSeconds float64 `json:"durationSeconds"`
	} `json:"metadata"`
}

// runOffline runs a pipeline through the gateway and returns its outputs by
// name, failing the test unless it completed.
func runOffline(ctx context.Context, t *testing.T, hc *http.Client, gateway, name string, inputs map[string]string) map[string]output {
	t.Helper()
	run, err := stacktest.RunPipeline(ctx, hc, gateway, name, inputs)
	if err != nil {
		t.Fatal(err)
	}
	done, ok := run.Completed()
	if !ok {
		t.Fatalf("%s did not complete: %s", name, run.Summary())
	}
	var completed struct {
		Outputs []struct {
			Name     string `json:"name"`
			Artifact output `json:"artifact"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(done, &completed); err != nil {
		t.Fatal(err)
	}
	outputs := map[string]output{}
	for _, o := range completed.Outputs {
		outputs[o.Name] = o.Artifact
	}
	return outputs
}
