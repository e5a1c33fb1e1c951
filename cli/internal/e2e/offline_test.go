package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chorus-ai/chorus/cli/internal/stack"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/processtest"
	"github.com/chorus-ai/chorus/platform/sentence"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// offlineTopic is the topic `make demo` passes (its DEMO_TOPIC).
const offlineTopic = "the lighthouse keeper"

// TestOfflineDemo runs `chorus demo` as a new user's `make demo` does: the
// built binary as a process, from the repository root, with no
// configuration at all (no CHORUS_* or OTEL_* variables; only the ports
// are chosen, so that the test does not collide with a running suite).
// Text then comes from the embedded engine serving models/chorus-mini.gguf
// (the text service's default -models-dir is "models", relative to the
// working directory) and speech from flite. The test fails if either
// default stops working, for example if the embedded backend is removed.
func TestOfflineDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the servers and runs them as processes; run without -short")
	}
	root := processtest.RepoRoot(t)
	bin := buildServers(t)
	chorus := filepath.Join(processtest.Build(t, "./cli/cmd/chorus"), "chorus")
	l := processtest.FreeLayout(t)
	addrs := stack.DefaultAddrs("127.0.0.1", l.Orchestrator, l.Gateway)
	out := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// While the demo runs, ask its text service what it serves: the
	// suite stops when the demo ends, so the question goes in as soon as
	// the service listens.
	models := make(chan listResult, 1)
	listCtx, stopListing := context.WithCancel(ctx)
	go func() { models <- listTextModels(listCtx, addrs.Text) }()

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, chorus, "demo",
		"-bin-dir", bin, "-out", out, "-input", "topic="+offlineTopic,
		"-grpc-port", strconv.Itoa(l.Orchestrator), "-http-port", strconv.Itoa(l.Gateway))
	cmd.Dir = root
	cmd.Env = processtest.HermeticEnv(t)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 30 * time.Second
	runErr := cmd.Run()
	stopListing()
	listed := <-models
	if runErr != nil {
		t.Fatalf("chorus demo: %v\nstdout:\n%s\nstderr:\n%s", runErr, stdout.String(), stderr.String())
	}
	t.Logf("chorus demo printed:\n%s", stdout.String())

	t.Run("text service lists chorus-mini from the embedded backend", func(t *testing.T) {
		if listed.err != nil {
			t.Fatalf("ListModels on the demo's text service (%s): %v", addrs.Text, listed.err)
		}
		var found bool
		for _, m := range listed.models {
			if m.GetName() == "chorus-mini" && m.GetBackend() == "embedded" {
				found = true
			}
		}
		if !found {
			t.Errorf("the text service lists %v, want chorus-mini from the embedded backend", listed.models)
		}
	})

	script := readOutput(t, out, "script.txt")
	opening := "This is the story of " + offlineTopic + "."
	t.Run("script", func(t *testing.T) {
		if !strings.HasPrefix(script, opening) {
			t.Fatalf("script.txt = %q, want it to begin with the completion opening %q", script, opening)
		}
		// The opening is the pipeline's; the model must have written more.
		if words := len(strings.Fields(strings.TrimPrefix(script, opening))); words < 5 {
			t.Errorf("script.txt = %q: %d words after the opening, want the model's text", script, words)
		}
	})

	wav, err := parseWAV([]byte(readOutput(t, out, "voiceover.wav")))
	if err != nil {
		t.Fatalf("voiceover.wav: %v", err)
	}
	t.Run("voiceover", func(t *testing.T) {
		words := len(strings.Fields(script))
		checkSpeech(t, wav, words)
		d := wav.duration()
		t.Logf("voiceover.wav: %s, %d Hz, peak %d, for %d words", d.Round(time.Millisecond), wav.rate, wav.peak, words)
	})

	t.Run("captions", func(t *testing.T) {
		cues := parseCues(t, readOutput(t, out, "captions.vtt"))
		if len(cues) < 2 {
			t.Fatalf("%d cues, want the opening and at least one sentence of the model's: %v", len(cues), cues)
		}
		if cues[0].text != opening {
			t.Errorf("first cue %q, want the opening %q", cues[0].text, opening)
		}
		// One cue per sentence of the script, in order.
		want := sentence.Split(script)
		var texts []string
		for i, c := range cues {
			texts = append(texts, c.text)
			if c.end <= c.start || (i > 0 && c.start < cues[i-1].end) {
				t.Errorf("cue %d runs %s to %s, after a cue ending at %s", i, c.start, c.end, cues[max(i-1, 0)].end)
			}
		}
		if !slices.Equal(texts, want) {
			t.Errorf("cues\n%q\nare not the script's sentences\n%q", texts, want)
		}
		if last := cues[len(cues)-1].end; (last - wav.duration()).Abs() > 250*time.Millisecond {
			t.Errorf("the last cue ends at %s, the voiceover at %s", last, wav.duration())
		}
	})
}

type listResult struct {
	models []*genaiv1.Model
	err    error
}

// listTextModels waits until the text service at addr accepts connections,
// then asks it for its models.
func listTextModels(ctx context.Context, addr string) listResult {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Retry quickly: the service lives only as long as the demo.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 10 * time.Millisecond, Multiplier: 1.2, MaxDelay: 50 * time.Millisecond,
		}}))
	if err != nil {
		return listResult{err: err}
	}
	defer conn.Close()
	resp, err := genai.NewClient(genai.Text, conn).ListModels(ctx, &genaiv1.ListModelsRequest{}, grpc.WaitForReady(true))
	return listResult{models: resp.GetModels(), err: err}
}

func readOutput(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("the demo's output: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		t.Fatalf("the demo's %s is empty", name)
	}
	return string(b)
}

type cue struct {
	start, end time.Duration
	text       string
}

var cueLine = regexp.MustCompile(`^(\d{2}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2}):(\d{2}):(\d{2})\.(\d{3})`)

// parseCues reads a WebVTT file's cues, each cue's text lines joined.
func parseCues(t *testing.T, vtt string) []cue {
	t.Helper()
	if !strings.HasPrefix(vtt, "WEBVTT") {
		t.Fatalf("captions do not start with WEBVTT:\n%s", vtt)
	}
	at := func(f []string) time.Duration {
		var d time.Duration
		for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second, time.Millisecond} {
			n, _ := strconv.Atoi(f[i]) // the pattern admits digits only
			d += time.Duration(n) * unit
		}
		return d
	}
	var cues []cue
	lines := strings.Split(strings.ReplaceAll(vtt, "\r\n", "\n"), "\n")
	for i, l := range lines {
		m := cueLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var text []string
		for _, tl := range lines[i+1:] {
			if tl == "" {
				break
			}
			text = append(text, tl)
		}
		cues = append(cues, cue{start: at(m[1:5]), end: at(m[5:9]), text: strings.Join(text, " ")})
	}
	return cues
}
