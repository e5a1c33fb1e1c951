package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/processtest"
	"github.com/chorus-ai/chorus/platform/wav"
)

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	return ports.Addr(ports.Host, processtest.FreePort(t))
}

// startProcess starts bin and stops it (SIGTERM) when the test ends,
// showing its output if the test failed.
func startProcess(t *testing.T, bin string, args ...string) {
	t.Helper()
	processtest.Start(t, filepath.Base(bin), exec.Command(bin, args...))
}

// buildWithGateway builds this command, the gateway and the audio
// service, once for the tests of this package, and returns their
// directory.
func buildWithGateway(t *testing.T) string {
	t.Helper()
	return processtest.Build(t, "./orchestrator/cmd/orchestrator", "./gateway/cmd/gateway", "./services/audio/cmd/audio")
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// longDocument is about n words of plain English prose, in sentences of
// eight to twelve words.
func longDocument(n int) string {
	subjects := []string{"The keeper", "A small boat", "The old lighthouse", "Every sailor", "The northern wind", "Her daughter"}
	verbs := []string{"watched", "crossed", "remembered", "followed", "lit", "described"}
	objects := []string{"the grey water below the cliffs", "a line of lamps along the harbour wall",
		"the long road home through the hills", "the stars above the quiet village", "the storm that came in autumn"}
	endings := []string{"before the night was over.", "while the town was sleeping.", "without saying a word.", "for the last time."}
	var b strings.Builder
	words := 0
	for i := 0; words < n; i++ {
		s := fmt.Sprintf("%s %s %s %s ", subjects[i%len(subjects)], verbs[i/2%len(verbs)], objects[i/3%len(objects)], endings[i/5%len(endings)])
		words += len(strings.Fields(s))
		b.WriteString(s)
	}
	return b.String()
}

// TestLongNarrationDownloadsThroughTheGateway runs narrate-document as a
// job over the real audio service (flite), through the real gateway, and
// downloads the voiceover whole, and in part, from /v1/artifacts/{id}.
func TestLongNarrationDownloadsThroughTheGateway(t *testing.T) {
	bin := buildWithGateway(t)
	audioAddr, orchAddr, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	dead := freeAddr(t)
	startProcess(t, filepath.Join(bin, "audio"), "-grpc-addr", audioAddr)
	startProcess(t, filepath.Join(bin, "orchestrator"), "-grpc-addr", orchAddr, "-audio-addr", audioAddr,
		"-text-addr", dead, "-image-addr", dead, "-data-dir", t.TempDir())
	startProcess(t, filepath.Join(bin, "gateway"), "-http-addr", httpAddr, "-orchestrator-addr", orchAddr,
		"-audio-addr", audioAddr, "-text-addr", dead, "-image-addr", dead)
	for _, a := range []string{audioAddr, orchAddr, httpAddr} {
		waitListening(t, a)
	}
	base := "http://" + httpAddr
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	do := func(method, path string, body any, header ...string) (*http.Response, []byte) {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, r)
		if err != nil {
			t.Fatal(err)
		}
		if r != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	doc := longDocument(1500)
	resp, body := do(http.MethodPost, "/v1/jobs", map[string]any{"name": "narrate-document", "inputs": map[string]string{"document": doc}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/jobs: %d %s", resp.StatusCode, body)
	}
	var created struct {
		Job struct{ ID string } `json:"job"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Job.ID == "" {
		t.Fatalf("POST /v1/jobs: %s (%v)", body, err)
	}
	start := time.Now()
	// Follow it to the end.
	resp, body = do(http.MethodGet, "/v1/jobs/"+created.Job.ID+":watch", nil)
	lines := 0
	var last string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 4<<20) // a line carries one sentence of speech, base64
	for ; sc.Scan(); lines++ {
		last = sc.Text()
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the watch: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(last, "runCompleted") {
		t.Fatalf("watch: %d, %d lines, the last %.300s", resp.StatusCode, lines, last)
	}
	resp, body = do(http.MethodGet, "/v1/jobs/"+created.Job.ID, nil)
	var got struct {
		Job struct {
			State   string
			Outputs []struct {
				Name     string
				Artifact struct {
					URI       string `json:"uri"`
					SizeBytes string `json:"sizeBytes"`
					SHA256    string `json:"sha256"`
					Metadata  struct {
						DurationSeconds float64 `json:"durationSeconds"`
					}
				}
			}
		}
	}
	if err := json.Unmarshal(body, &got); err != nil || got.Job.State != "JOB_STATE_SUCCEEDED" {
		t.Fatalf("GET job: %d %.500s (%v)", resp.StatusCode, body, err)
	}
	voiceover := got.Job.Outputs[0].Artifact
	if got.Job.Outputs[0].Name != "voiceover" || !strings.HasPrefix(voiceover.URI, "/v1/artifacts/") {
		t.Fatalf("voiceover %+v", got.Job.Outputs[0])
	}
	resp, data := do(http.MethodGet, voiceover.URI, nil)
	sum := sha256.Sum256(data)
	if resp.StatusCode != http.StatusOK || hex.EncodeToString(sum[:]) != voiceover.SHA256 || fmt.Sprint(len(data)) != voiceover.SizeBytes ||
		resp.Header.Get("Content-Type") != "audio/wav" || resp.Header.Get("ETag") != `"`+voiceover.SHA256+`"` {
		t.Fatalf("GET %s: %d, %d bytes, headers %v; want %s bytes, sha256 %s", voiceover.URI, resp.StatusCode, len(data), resp.Header, voiceover.SizeBytes, voiceover.SHA256)
	}
	audio, err := wav.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := audio.Duration().Seconds(); d < 300 || d-voiceover.Metadata.DurationSeconds > 0.01 || voiceover.Metadata.DurationSeconds-d > 0.01 {
		t.Errorf("the voiceover lasts %.1f s (metadata %.1f s); 1,500 words should take minutes", d, voiceover.Metadata.DurationSeconds)
	}
	resp, part := do(http.MethodGet, voiceover.URI, nil, "Range", "bytes=1000000-1000099")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, data[1000000:1000100]) {
		t.Errorf("a range: %d, %d bytes", resp.StatusCode, len(part))
	}
	t.Logf("1,500 words: %d events, %.1f s of speech, %d bytes of WAV, job done and downloaded in %s",
		lines, audio.Duration().Seconds(), len(data), time.Since(start).Round(time.Millisecond))
}
