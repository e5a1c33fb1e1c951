package command

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/chorus-ai/chorus/cli/internal/stack"
	"github.com/chorus-ai/chorus/platform/processtest"
	"github.com/chorus-ai/chorus/platform/syncio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestServer is a fake gateway that answers a pipeline run with a
// fixed NDJSON stream, and the generate and job routes as fakeVerbs does.
func newTestServer(tb testing.TB) *httptest.Server {
	tb.Helper()
	return newFakeGateway(tb, nil)
}

// newFakeGateway is newTestServer whose text stream, after its first
// delta, waits until firstSeen is closed (when not nil): proof that the
// command showed the delta before the stream ended.
func newFakeGateway(tb testing.TB, firstSeen <-chan struct{}) *httptest.Server {
	tb.Helper()
	wav := base64.StdEncoding.EncodeToString([]byte("RIFF....WAVE"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fakeVerbs(tb, w, r, firstSeen) {
			return
		}
		switch r.URL.Path {
		case "/v1/pipelines/script-then-voiceover:run":
			w.Header().Set("Content-Type", "application/x-ndjson")
			for _, l := range []string{
				`{"stepStarted":{"step":"script","modality":"text"}}`,
				`{"stepStarted":{"step":"voiceover","modality":"audio"}}`,
				`{"stepDelta":{"step":"script","text":"Hello."}}`,
				`{"stepDelta":{"step":"voiceover","artifact":{"mimeType":"audio/wav","data":"` + wav + `","metadata":{"durationSeconds":0.5,"sourceText":"Hello."}}}}`,
				`{"stepCompleted":{"step":"script","duration":"0.2s","usage":{"outputTokens":2}}}`,
				`{"stepCompleted":{"step":"voiceover","duration":"0.3s","usage":{"audioSeconds":0.5}}}`,
				`{"runCompleted":{"duration":"0.3s","timeToFirstAudio":"0.1s","outputs":[` +
					`{"name":"script","artifact":{"mimeType":"text/plain; charset=utf-8","text":"Hello."}},` +
					`{"name":"voiceover","artifact":{"mimeType":"audio/wav","data":"` + wav + `","metadata":{"durationSeconds":0.5}}},` +
					`{"name":"captions","artifact":{"mimeType":"text/vtt","uri":"/v1/artifacts/c1"}}]}}`,
			} {
				fmt.Fprintf(w, `{"result":{"runId":"r1",%s}`+"\n", strings.TrimPrefix(l, "{"))
			}
		case "/v1/artifacts/c1":
			fmt.Fprint(w, "WEBVTT\n")
		case "/v1/pipelines/nope:run":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code":5,"message":"no pipeline named \"nope\"","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"PIPELINE_NOT_FOUND"}]}`)
		case "/v1/pipelines":
			fmt.Fprint(w, `{"pipelines":[{"name":"script-then-voiceover","description":"Voices a script.","inputs":[{"name":"topic","required":true}],"outputs":[{"name":"voiceover","mimeType":"audio/wav"}]}]}`)
		case "/v1/text/models", "/v1/image/models", "/v1/audio/models":
			fmt.Fprint(w, `{"models":[{"name":"m1","backend":"fake","default":true,"voices":["slt"]}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{Stdout: &out, Stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestRunWritesOutputs(t *testing.T) {
	srv := newTestServer(t)
	dir := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := run("run", "script-then-voiceover", "-gateway", srv.URL, "-input", "topic=owls", "-out", dir)
	if code != ExitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	for name, want := range map[string]string{"script.txt": "Hello.", "voiceover.wav": "RIFF....WAVE", "captions.vtt": "WEBVTT\n"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, want := range []string{"script       started (text, default model)", "voiceover    first audio", "script       completed in 0.20s (2 tokens)", "time to first audio  0.10s (server)", "voiceover.wav"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

func TestCommandErrors(t *testing.T) {
	srv := newTestServer(t)
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{name: "no command", args: nil, wantCode: ExitUsage, wantStderr: "usage: chorus <command>"},
		{name: "unknown command", args: []string{"fly"}, wantCode: ExitUsage, wantStderr: `unknown command "fly"`},
		{name: "run without pipeline", args: []string{"run", "-gateway", srv.URL}, wantCode: ExitUsage, wantStderr: "want exactly one pipeline name"},
		{name: "bad input flag", args: []string{"run", "x", "-input", "novalue"}, wantCode: ExitUsage, wantStderr: "want name=value"},
		{name: "unknown pipeline", args: []string{"run", "nope", "-gateway", srv.URL, "-out", t.TempDir()}, wantCode: ExitNotFound, wantStderr: "HTTP 404: no pipeline named \"nope\" [PIPELINE_NOT_FOUND]\n(`chorus pipelines` lists the pipelines)"},
		{name: "bad gateway URL", args: []string{"pipelines", "-gateway", "localhost:8080"}, wantCode: ExitUsage, wantStderr: "want http://host:port"},
		{name: "unknown modality", args: []string{"models", "video", "-gateway", srv.URL}, wantCode: ExitUsage, wantStderr: `unknown modality "video"`},
		{name: "up with missing binaries", args: []string{"up", "-bin-dir", t.TempDir()}, wantCode: ExitError, wantStderr: "run `make build`, or pass -bin-dir"},
		{name: "demo with missing binaries", args: []string{"demo", "-bin-dir", t.TempDir()}, wantCode: ExitError, wantStderr: "run `make build`, or pass -bin-dir"},
		{name: "demo with arguments", args: []string{"demo", "extra"}, wantCode: ExitUsage, wantStderr: `unexpected arguments ["extra"]`},
		{name: "up with a bad port", args: []string{"up", "-http-port", "70000"}, wantCode: ExitUsage, wantStderr: "ports must be 1 to 65535"},
		{name: "help", args: []string{"run", "-h"}, wantCode: ExitOK, wantStderr: "usage: chorus run PIPELINE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tc.wantCode, tc.wantStderr)
			}
		})
	}
}

func TestListCommands(t *testing.T) {
	srv := newTestServer(t)
	code, stdout, stderr := run("pipelines", "-gateway", srv.URL)
	if code != ExitOK || !strings.Contains(stdout, "script-then-voiceover\n  Voices a script.\n  input  topic (required)") {
		t.Errorf("pipelines: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = run("models", "-gateway", srv.URL, "audio")
	if code != ExitOK || !strings.Contains(stdout, "audio     m1 *") || !strings.Contains(stdout, "fake     slt") || strings.Contains(stdout, "text ") {
		t.Errorf("models: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestVoices(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{in: nil, want: ""},
		{in: []string{"slt", "kal"}, want: "slt, kal"},
		{in: []string{"a", "b", "c", "d", "e", "f", "g", "h"}, want: "a, b, c, d, e, f, ... (8 in all)"},
	} {
		if got := voices(tc.in); got != tc.want {
			t.Errorf("voices(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFileName(t *testing.T) {
	used := map[string]bool{}
	for _, tc := range []struct {
		name, mime string
		want       string
	}{
		{name: "script", mime: "text/plain; charset=utf-8", want: "script.txt"},
		{name: "voiceover", mime: "audio/wav", want: "voiceover.wav"},
		{name: "captions", mime: "text/vtt", want: "captions.vtt"},
		{name: "scene", mime: "image/png", want: "scene.png"},
		{name: "scene", mime: "image/png", want: "scene-2.png"},
		{name: "../../etc/passwd", mime: "text/plain", want: "etc_passwd.txt"},
		{name: "", mime: "application/x-unknown-thing", want: "output-7.bin"},
		{name: "odd", mime: "not a mime type", want: "odd.bin"},
	} {
		if got := fileName(tc.name, tc.mime, 6, used); got != tc.want {
			t.Errorf("fileName(%q, %q) = %q, want %q", tc.name, tc.mime, got, tc.want)
		}
	}
}

func TestEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("# settings\nCHORUS_OPENAI_BASE_URL=\"http://127.0.0.1:11434/v1\"\n\nexport CHORUS_LOG_LEVEL=debug\nHOME=/nowhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	extra, err := readEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := mergeEnv([]string{"HOME=/root", "PATH=/bin"}, extra)
	want := []string{"HOME=/root", "PATH=/bin", "CHORUS_OPENAI_BASE_URL=http://127.0.0.1:11434/v1", "CHORUS_LOG_LEVEL=debug"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("merged env = %q, want %q", got, want)
	}
	if err := os.WriteFile(path, []byte("not a setting\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readEnvFile(path); err == nil || !strings.Contains(err.Error(), ":1: want KEY=VALUE") {
		t.Errorf("readEnvFile = %v, want a line-numbered error", err)
	}
}

func TestHealth(t *testing.T) {
	srv := newTestServer(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go gs.Serve(lis)
	defer gs.Stop()
	hs.SetServingStatus("chorus.genai.v1.AudioService", healthpb.HealthCheckResponse_NOT_SERVING)

	for _, tc := range []struct {
		name     string
		args     []string
		env      []string
		wantCode int
		wantOut  string
	}{
		{name: "grpc serving", args: []string{"-grpc", lis.Addr().String()}, wantCode: ExitOK, wantOut: "SERVING"},
		{name: "grpc service not serving", args: []string{"-grpc", lis.Addr().String(), "-service", "chorus.genai.v1.AudioService"}, wantCode: ExitError, wantOut: "NOT_SERVING"},
		{name: "grpc unknown service", args: []string{"-grpc", lis.Addr().String(), "-service", "nope"}, wantCode: ExitError, wantOut: "NotFound"},
		{name: "http ok", args: []string{"-http", srv.URL + "/v1/pipelines"}, wantCode: ExitOK, wantOut: "200 OK"},
		{name: "http not found", args: []string{"-http", srv.URL + "/readyz"}, wantCode: ExitError, wantOut: "404"},
		{name: "neither", args: nil, wantCode: ExitUsage, wantOut: "exactly one of -grpc and -http"},
		// Without flags, the container's own server, from its listen address.
		{name: "own gRPC server", env: []string{"CHORUS_GRPC_ADDR=0.0.0.0:" + port(lis.Addr().String())}, wantCode: ExitOK, wantOut: "127.0.0.1:" + port(lis.Addr().String()) + ": SERVING"},
		{name: "own HTTP server's readyz", env: []string{"CHORUS_GRPC_ADDR=0.0.0.0:1", "CHORUS_HTTP_ADDR=" + strings.TrimPrefix(srv.URL, "http://")}, wantCode: ExitError, wantOut: "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), Env{Stdout: &out, Stderr: &errb, Environ: tc.env}, append([]string{"health"}, tc.args...))
			stdout, stderr := out.String(), errb.String()
			if code != tc.wantCode || !strings.Contains(stdout+stderr, tc.wantOut) {
				t.Errorf("exit %d, output:\n%s%s\nwant exit %d and %q", code, stdout, stderr, tc.wantCode, tc.wantOut)
			}
		})
	}
}

// port is the port of a host:port address.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// fakeSuite writes six stand-in servers to a directory: shell scripts
// that wait for SIGTERM, except those in behave, which run the given
// script body instead.
func fakeSuite(t *testing.T, behave map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"text", "image", "audio", "embed", "orchestrator", "gateway"} {
		body, ok := behave[name]
		if !ok {
			body = "trap 'echo stopping; exit 0' TERM\necho ready\nwhile :; do sleep 0.05; done"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// freeBase returns a gRPC base port and an HTTP port for chorus up with
// every port they imply free.
func freeBase(t *testing.T) (int, int) {
	t.Helper()
	l := processtest.FreeLayout(t)
	return l.Orchestrator, l.Gateway
}

func TestUpStopsWhenAServerDies(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	bin := fakeSuite(t, map[string]string{"audio": "echo 'flite: no voices' >&2\nexit 3"})
	base, hp := freeBase(t)
	var out bytes.Buffer
	var errb syncio.Writer
	env := Env{Stdout: &out, Stderr: &errb, Environ: os.Environ()}
	code := Main(context.Background(), env, []string{"up", "-bin-dir", bin, "-grpc-port", fmt.Sprint(base), "-http-port", fmt.Sprint(hp), "-ready-timeout", "1m"})
	stderr := errb.String()
	if code != ExitError || !strings.Contains(stderr, "chorus up: audio exited unexpectedly: exit status 3") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 naming audio", code, stderr)
	}
	if !strings.Contains(stderr, "audio        | flite: no voices\n") {
		t.Errorf("stderr lacks audio's prefixed output:\n%s", stderr)
	}
}

func TestUpStopsOnCtrlCWhileStarting(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	// The gateway never becomes ready (nothing listens): Ctrl-C comes
	// while chorus up waits for it, once every process has started.
	bin := fakeSuite(t, nil)
	base, hp := freeBase(t)
	var out bytes.Buffer
	sw := &syncio.Writer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, Env{Stdout: &out, Stderr: sw, Environ: os.Environ()}, []string{"up", "-bin-dir", bin, "-grpc-port", fmt.Sprint(base), "-http-port", fmt.Sprint(hp)})
	}()
	for deadline := time.Now().Add(20 * time.Second); strings.Count(sw.String(), "| ready\n") < len(stack.Services); {
		if time.Now().After(deadline) {
			t.Fatalf("the servers did not start:\n%s", sw.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK || strings.Count(sw.String(), "| stopping\n") != len(stack.Services) || !strings.Contains(sw.String(), "chorus up: stopped") {
			t.Errorf("exit %d, stderr:\n%s\nwant a clean stop", code, sw.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("chorus up did not stop")
	}
}
