package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chorus-ai/chorus/cli/internal/client"
	"github.com/chorus-ai/chorus/cli/internal/command"
	"github.com/chorus-ai/chorus/cli/internal/stack"
	"github.com/chorus-ai/chorus/platform/openaitest"
	"github.com/chorus-ai/chorus/platform/processtest"
	"github.com/chorus-ai/chorus/platform/syncio"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
)

func TestMain(m *testing.M) { processtest.Main(m) }

// The script the fake LLM streams, word by word with a pause before each
// word, so the pipeline's speech can start while it is still "writing".
var sentences = []string{
	"The sea covers most of our planet.",
	"Its waves carry energy across whole oceans.",
	"Under the surface, whole worlds of life are waiting.",
}

var script = strings.Join(sentences, " ")

// scriptDeltas splits the script as the fake LLM streams it: the first
// sentence word by word, the rest in three-byte pieces, so that after the
// first sentence is complete about a second of writing remains for its
// speech to overtake (the ordering the test checks, with room for a
// loaded machine).
func scriptDeltas() []string {
	var deltas []string
	for i, w := range strings.Fields(sentences[0]) {
		if i > 0 {
			w = " " + w
		}
		deltas = append(deltas, w)
	}
	rest := script[len(sentences[0]):]
	for len(rest) > 3 {
		deltas = append(deltas, rest[:3])
		rest = rest[3:]
	}
	return append(deltas, rest)
}

// commands are the servers' main packages, relative to the repository root.
var commands = []string{
	"./services/text/cmd/text",
	"./services/image/cmd/image",
	"./services/audio/cmd/audio",
	"./services/embed/cmd/embed",
	"./orchestrator/cmd/orchestrator",
	"./gateway/cmd/gateway",
}

// buildServers builds the six servers, once for all the tests of this
// package, and returns their directory.
func buildServers(t *testing.T) string {
	t.Helper()
	return processtest.Build(t, commands...)
}

// suite is a running `chorus up`.
type suite struct {
	addrs    stack.Addrs
	gateway  string
	logs     *syncio.Writer
	stop     context.CancelFunc
	finished chan struct{} // closed when `chorus up` has returned
	code     int           // its exit status, set before finished is closed
}

// wait waits at most d for `chorus up` to return and reports its status.
func (s *suite) wait(d time.Duration) (code int, ok bool) {
	select {
	case <-s.finished:
		return s.code, true
	case <-time.After(d):
		return 0, false
	}
}

// startSuite runs `chorus up` in process (it starts the servers as child
// processes) and waits until the gateway is ready. Cleanup stops it and,
// if the test failed, prints every process's log.
func startSuite(t *testing.T, bin string, env []string) *suite {
	t.Helper()
	l := processtest.FreeLayout(t)
	ctx, cancel := context.WithCancel(context.Background())
	addrs := stack.DefaultAddrs("127.0.0.1", l.Orchestrator, l.Gateway)
	s := &suite{
		addrs:    addrs,
		gateway:  addrs.GatewayURL(),
		logs:     &syncio.Writer{},
		stop:     cancel,
		finished: make(chan struct{}),
	}
	go func() {
		defer close(s.finished)
		s.code = command.Main(ctx, command.Env{Stdout: s.logs, Stderr: s.logs, Environ: env}, []string{
			"up", "-bin-dir", bin, "-grpc-port", strconv.Itoa(l.Orchestrator), "-http-port", strconv.Itoa(l.Gateway),
			"-ready-timeout", "45s", "-grace", "15s",
		})
	}()
	t.Cleanup(func() {
		cancel()
		if _, ok := s.wait(30 * time.Second); !ok {
			t.Errorf("chorus up did not stop within 30s")
		}
		// A panic the recovery interceptor caught is a bug, even when the
		// client saw only an INTERNAL error the test tolerated.
		if strings.Contains(s.logs.String(), "handler panicked") {
			t.Errorf("a server recovered from a panic (\"handler panicked\" in its log)")
		}
		if t.Failed() {
			t.Logf("process logs:\n%s", s.logs)
		}
	})
	readyCtx, readyCancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer readyCancel()
	if err := stack.WaitReady(readyCtx, s.gateway, s.finished); err != nil {
		t.Fatalf("suite not ready: %v", err)
	}
	return s
}

// post sends a JSON body and returns the status and body of the answer.
func post(t *testing.T, hc *http.Client, url, body string) (int, []byte) {
	t.Helper()
	resp, err := hc.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the answer: %v", url, err)
	}
	return resp.StatusCode, b
}

// errorBody is the JSON error body of the gateway (google.rpc.Status).
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string `json:"@type"`
		Reason          string `json:"reason"`
		FieldViolations []struct {
			Field string `json:"field"`
		} `json:"fieldViolations"`
	} `json:"details"`
}

func (e errorBody) fields() []string {
	var fs []string
	for _, d := range e.Details {
		for _, v := range d.FieldViolations {
			fs = append(fs, v.Field)
		}
	}
	return fs
}

func TestSuiteEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the five servers and runs them as processes; run without -short")
	}
	start := time.Now()
	bin := buildServers(t)
	t.Logf("built the servers in %s", time.Since(start).Round(time.Millisecond))

	fake := openaitest.New(openaitest.Options{
		Models:     []string{"fake-llm", "fake-painter"},
		Deltas:     scriptDeltas(),
		DeltaDelay: 30 * time.Millisecond,
		APIKey:     "test-key",
	})
	t.Cleanup(fake.Close)
	// Text and image both have -openai-* flags: the service-scoped
	// variables of `chorus up` give each its own.
	env := processtest.HermeticEnv(t,
		"CHORUS_OPENAI_BASE_URL="+fake.BaseURL,
		"CHORUS_OPENAI_API_KEY=test-key",
		"CHORUS_TEXT_OPENAI_MODELS=fake-llm",
		"CHORUS_IMAGE_OPENAI_MODELS=fake-painter",
		"CHORUS_LOG_LEVEL=info",
	)
	s := startSuite(t, bin, env)
	t.Logf("suite ready after %s", time.Since(start).Round(time.Millisecond))

	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	hc := &http.Client{Transport: transport}
	c, err := client.New(s.gateway, hc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("models", func(t *testing.T) {
		for _, m := range []string{"text", "image", "audio"} {
			models, err := c.ListModels(ctx, m)
			if err != nil {
				t.Errorf("GET /v1/%s/models: %v", m, err)
				continue
			}
			if len(models) == 0 || models[0].GetName() == "" {
				t.Errorf("GET /v1/%s/models: %v, want at least one named model", m, models)
			}
		}
		ps, err := c.ListPipelines(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range ps {
			names = append(names, p.GetName())
		}
		if !strings.Contains(strings.Join(names, " "), "script-then-voiceover") {
			t.Errorf("pipelines %q lack script-then-voiceover", names)
		}
	})

	t.Run("audio generate", func(t *testing.T) {
		code, body := post(t, hc, s.gateway+"/v1/audio:generate", `{"prompt":"Hello from Chorus. This is a test."}`)
		if code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", code, body)
		}
		var resp genaiv1.GenerateResponse
		if err := protojson.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.GetArtifacts()) != 1 {
			t.Fatalf("%d artifacts, want 1", len(resp.GetArtifacts()))
		}
		a := resp.GetArtifacts()[0]
		w, err := parseWAV(a.GetData())
		if err != nil {
			t.Fatalf("voiceover (%s, %d bytes): %v", a.GetMimeType(), len(a.GetData()), err)
		}
		if w.samples == 0 || w.peak < 1000 {
			t.Errorf("WAV of %d samples with peak %d: want speech, not silence", w.samples, w.peak)
		}
		if a.GetMimeType() != "audio/wav" {
			t.Errorf("mime type %q", a.GetMimeType())
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			body       string
			wantStatus int
			wantField  string
		}{
			{name: "missing prompt", body: `{}`, wantStatus: http.StatusBadRequest, wantField: "prompt"},
			{name: "misspelt field", body: `{"promt":"hi"}`, wantStatus: http.StatusBadRequest, wantField: "promt"},
			{name: "bad option", body: `{"prompt":"hi","audio":{"speed":9}}`, wantStatus: http.StatusBadRequest, wantField: "audio.speed"},
			{name: "unknown model", body: `{"model":"no-such-voice","prompt":"hi"}`, wantStatus: http.StatusNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, body := post(t, hc, s.gateway+"/v1/audio:generate", tc.body)
				var e errorBody
				if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
					t.Fatalf("HTTP %d body %s: want a JSON status (%v)", code, body, err)
				}
				if code != tc.wantStatus {
					t.Errorf("HTTP %d (%s), want %d", code, body, tc.wantStatus)
				}
				if tc.wantField != "" && !strings.Contains(strings.Join(e.fields(), " "), tc.wantField) {
					t.Errorf("field violations %q (%s), want %q named", e.fields(), body, tc.wantField)
				}
			})
		}
	})

	t.Run("script-then-voiceover", func(t *testing.T) {
		var events []*orchestratorv1.RunPipelineResponse
		done, err := c.RunPipeline(ctx, "script-then-voiceover", map[string]string{"topic": "the sea"}, func(ev *orchestratorv1.RunPipelineResponse) error {
			events = append(events, ev)
			return nil
		})
		if err != nil {
			t.Fatalf("run: %v (after %d events)", err, len(events))
		}
		checkStreamingOrder(t, events)
		outputs := map[string]*genaiv1.Artifact{}
		for _, o := range done.GetOutputs() {
			outputs[o.GetName()] = o.GetArtifact()
		}
		if got := strings.TrimSpace(outputs["script"].GetText()); got != script {
			t.Errorf("script = %q, want the fake's text %q", got, script)
		}
		checkVoiceover(t, outputs["voiceover"])
		checkCaptions(t, outputs["captions"])
		if done.GetTimeToFirstAudio() == nil {
			t.Error("run_completed lacks time_to_first_audio")
		}
		t.Logf("%d events; first audio after %s of a %s run", len(events), done.GetTimeToFirstAudio().AsDuration(), done.GetDuration().AsDuration())
	})

	t.Run("chorus run", func(t *testing.T) {
		out := t.TempDir()
		var stdout, stderr bytes.Buffer
		code := command.Main(ctx, command.Env{Stdout: &stdout, Stderr: &stderr}, []string{
			"run", "script-then-voiceover", "-gateway", s.gateway, "-input", "topic=the sea", "-out", out,
		})
		if code != command.ExitOK {
			t.Fatalf("chorus run: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
		}
		for _, name := range []string{"script.txt", "voiceover.wav", "captions.vtt"} {
			if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", name, err)
			}
		}
		if !strings.Contains(stdout.String(), "time to first audio") {
			t.Errorf("summary lacks the time to first audio:\n%s", stdout.String())
		}
		t.Logf("chorus run printed:\n%s", stdout.String())
	})

	// Graceful shutdown: `chorus up` sends SIGTERM to every server and
	// exits 0 only if each of them exited 0.
	s.stop()
	code, ok := s.wait(30 * time.Second)
	if !ok {
		t.Fatal("chorus up did not stop within 30s of SIGTERM")
	}
	if code != command.ExitOK {
		t.Errorf("chorus up exited %d after stopping, want 0 (every server exiting 0)", code)
	}
	for _, name := range stack.Services {
		if !regexp.MustCompile(`(?m)^` + name + ` +\| .*"msg":"stopped"`).MatchString(s.logs.String()) {
			t.Errorf("%s did not log a clean stop", name)
		}
	}

	// `chorus demo`: the same suite started, used and stopped by one
	// command, whose exit status says all went well.
	t.Run("chorus demo", func(t *testing.T) {
		l := processtest.FreeLayout(t)
		out := t.TempDir()
		var stdout, stderr syncio.Writer
		code := command.Main(ctx, command.Env{Stdout: &stdout, Stderr: &stderr, Environ: env}, []string{
			"demo", "-bin-dir", bin, "-grpc-port", strconv.Itoa(l.Orchestrator), "-http-port", strconv.Itoa(l.Gateway), "-out", out, "-q",
		})
		if code != command.ExitOK {
			t.Fatalf("chorus demo: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
		}
		if b, err := os.ReadFile(filepath.Join(out, "script.txt")); err != nil || strings.TrimSpace(string(b)) != script {
			t.Errorf("script.txt = %q, %v", b, err)
		}
		if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
			t.Errorf("the servers did not log their stop:\n%s", stderr.String())
		}
	})
	t.Logf("end to end in %s", time.Since(start).Round(time.Millisecond))
}

// checkStreamingOrder asserts that speech streamed while the script was
// still being written: the first voiceover audio delta comes before the
// script step completes.
func checkStreamingOrder(t *testing.T, events []*orchestratorv1.RunPipelineResponse) {
	t.Helper()
	firstAudio, scriptDone := -1, -1
	for i, ev := range events {
		if d := ev.GetStepDelta(); d != nil && d.GetStep() == "voiceover" && strings.HasPrefix(d.GetArtifact().GetMimeType(), "audio/") && firstAudio < 0 {
			firstAudio = i
		}
		if c := ev.GetStepCompleted(); c != nil && c.GetStep() == "script" {
			scriptDone = i
		}
	}
	if firstAudio < 0 || scriptDone < 0 {
		t.Fatalf("events lack a voiceover audio delta (%d) or the script's completion (%d):\n%s", firstAudio, scriptDone, describe(events))
	}
	if firstAudio > scriptDone {
		t.Errorf("first audio (event %d) came after the script completed (event %d): speech did not stream:\n%s", firstAudio, scriptDone, describe(events))
	}
	if last := events[len(events)-1]; last.GetRunCompleted() == nil {
		t.Errorf("last event is %v, want run_completed", last)
	}
}

func describe(events []*orchestratorv1.RunPipelineResponse) string {
	var b strings.Builder
	for i, ev := range events {
		switch e := ev.GetEvent().(type) {
		case *orchestratorv1.RunPipelineResponse_StepStarted:
			fmt.Fprintf(&b, "%3d started   %s\n", i, e.StepStarted.GetStep())
		case *orchestratorv1.RunPipelineResponse_StepDelta:
			fmt.Fprintf(&b, "%3d delta     %s text=%q artifact=%s\n", i, e.StepDelta.GetStep(), e.StepDelta.GetText(), e.StepDelta.GetArtifact().GetMimeType())
		case *orchestratorv1.RunPipelineResponse_StepCompleted:
			fmt.Fprintf(&b, "%3d completed %s\n", i, e.StepCompleted.GetStep())
		default:
			fmt.Fprintf(&b, "%3d %T\n", i, e)
		}
	}
	return b.String()
}

func checkVoiceover(t *testing.T, a *genaiv1.Artifact) {
	t.Helper()
	if a == nil {
		t.Fatal("no voiceover output")
	}
	w, err := parseWAV(a.GetData())
	if err != nil {
		t.Fatalf("voiceover: %v", err)
	}
	checkSpeech(t, w, len(strings.Fields(script)))
	d := w.duration()
	// The assembled voiceover always carries its duration: 0 is a defect.
	if md := a.GetMetadata().GetDurationSeconds(); md < d.Seconds()*0.95 || md > d.Seconds()*1.05 {
		t.Errorf("metadata says %.2fs, the WAV holds %s", md, d)
	}
}

// checkSpeech asserts that w sounds like speech of the given number of
// words: not silence, and a plausible length.
func checkSpeech(t *testing.T, w wavInfo, words int) {
	t.Helper()
	// Speech runs at roughly two to four words a second; allow a wide
	// margin either way, but not silence or a single sentence.
	d := w.duration()
	if lo, hi := time.Duration(words)*150*time.Millisecond, time.Duration(words)*time.Second; d < lo || d > hi {
		t.Errorf("voiceover lasts %s for %d words, want %s to %s", d, words, lo, hi)
	}
	if w.peak < 1000 {
		t.Errorf("voiceover peak %d: silent", w.peak)
	}
}

func checkCaptions(t *testing.T, a *genaiv1.Artifact) {
	t.Helper()
	if a == nil {
		t.Fatal("no captions output")
	}
	vtt := a.GetText()
	if vtt == "" {
		vtt = string(a.GetData())
	}
	cues := parseCues(t, vtt)
	if len(cues) != len(sentences) {
		t.Fatalf("%d cues, want one per sentence (%d):\n%s", len(cues), len(sentences), vtt)
	}
	for i, want := range sentences {
		if cues[i].text != want {
			t.Errorf("cue %d = %q, want %q", i, cues[i].text, want)
		}
	}
}
