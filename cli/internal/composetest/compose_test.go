package composetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chorus-ai/chorus/cli/internal/jaegerapi"
	chorusstack "github.com/chorus-ai/chorus/cli/internal/stack"
	"github.com/chorus-ai/chorus/cli/internal/stacktest"
	"github.com/chorus-ai/chorus/platform/processtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stack is one running compose project.
type stack struct {
	t       *testing.T
	root    string
	compose []string // the compose command, e.g. [docker compose]
	docker  string
	project string
	env     []string
	gateway string // http://127.0.0.1:PORT
	jaeger  string
}

// run runs compose with args and returns its combined output.
func (s *stack) run(ctx context.Context, args ...string) (string, error) {
	full := append(append(append([]string{}, s.compose[1:]...), "-p", s.project, "-f", filepath.Join(s.root, "docker-compose.yaml")), args...)
	cmd := exec.CommandContext(ctx, s.compose[0], full...)
	cmd.Dir = s.root
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", s.compose[0], strings.Join(full, " "), err, out)
	}
	return string(out), nil
}

func (s *stack) must(ctx context.Context, args ...string) string {
	s.t.Helper()
	out, err := s.run(ctx, args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// inspect returns a Go-template field of a service's container.
func (s *stack) inspect(ctx context.Context, service, format string) string {
	s.t.Helper()
	id := strings.TrimSpace(s.must(ctx, "ps", "-a", "-q", service))
	if id == "" {
		s.t.Fatalf("no container for service %s", service)
	}
	out, err := exec.CommandContext(ctx, s.docker, "inspect", "-f", format, id).CombinedOutput()
	if err != nil {
		s.t.Fatalf("docker inspect %s: %v\n%s", service, err, out)
	}
	return strings.TrimSpace(string(out))
}

// composeCommand is CHORUS_COMPOSE (what `make test-compose` passes: the
// output of deploy/scripts/compose.sh), else `docker compose`.
func composeCommand(docker string) []string {
	if c := strings.Fields(os.Getenv("CHORUS_COMPOSE")); len(c) > 0 {
		return c
	}
	return []string{docker, "compose"}
}

// hermeticEnv is this process's environment without CHORUS_*, OTEL_* and
// COMPOSE_* settings (so the stack runs on its offline defaults), plus extra.
func hermeticEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHORUS_") && !strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "COMPOSE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func getStatus(ctx context.Context, hc *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), nil
}

// waitReady polls the gateway's /readyz until the suite is settled (stack.Settled).
func waitReady(ctx context.Context, hc *http.Client, gateway string) error {
	var last string
	for {
		code, body, err := getStatus(ctx, hc, gateway+"/readyz")
		if err == nil && chorusstack.Settled(code, []byte(body)) {
			return nil
		}
		last = fmt.Sprintf("%d %s %v", code, strings.TrimSpace(body), err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("gateway not ready: last answer %s", last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func TestComposeStack(t *testing.T) {
	if os.Getenv("CHORUS_COMPOSE_TEST") != "1" {
		t.Skip("the compose test builds and runs the images: run it with `make test-compose` (or set CHORUS_COMPOSE_TEST=1 after `make images`)")
	}
	docker := os.Getenv("DOCKER")
	if docker == "" {
		docker = "docker"
	}
	if out, err := exec.Command(docker, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Skipf("no Docker daemon answers (%s version: %v: %s); the compose test needs one", docker, err, bytes.TrimSpace(out))
	}
	root := processtest.RepoRoot(t)
	compose := composeCommand(docker)
	if out, err := exec.Command(compose[0], append(compose[1:], "version")...).CombinedOutput(); err != nil {
		t.Fatalf("%s version: %v: %s (make test-compose provides Compose v2)", strings.Join(compose, " "), err, out)
	}

	ports := map[string]int{}
	for _, name := range []string{"CHORUS_GATEWAY_PORT", "CHORUS_JAEGER_UI_PORT", "CHORUS_JAEGER_OTLP_PORT", "CHORUS_JAEGER_OTLP_HTTP_PORT"} {
		ports[name] = processtest.FreePort(t)
	}
	var portEnv []string
	for k, v := range ports {
		portEnv = append(portEnv, k+"="+strconv.Itoa(v))
	}
	s := &stack{
		t: t, root: root, compose: compose, docker: docker,
		// Unique, so that it cannot collide with a stack a developer runs.
		project: fmt.Sprintf("chorus-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6),
		env:     hermeticEnv(portEnv...),
		gateway: fmt.Sprintf("http://127.0.0.1:%d", ports["CHORUS_GATEWAY_PORT"]),
		jaeger:  fmt.Sprintf("http://127.0.0.1:%d", ports["CHORUS_JAEGER_UI_PORT"]),
	}
	t.Logf("project %s: gateway %s, jaeger %s", s.project, s.gateway, s.jaeger)

	// Whatever happens, the project's containers, networks and volumes go.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if t.Failed() {
			if out, err := s.run(ctx, "ps", "-a"); err == nil {
				t.Logf("containers:\n%s", out)
			}
			if out, err := s.run(ctx, "logs", "--no-color", "--tail", "80"); err == nil {
				t.Logf("logs:\n%s", out)
			}
		}
		start := time.Now()
		if _, err := s.run(ctx, "down", "-v", "--remove-orphans", "--timeout", "10"); err != nil {
			t.Errorf("compose down: %v", err)
			return
		}
		out, err := exec.CommandContext(ctx, docker, "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+s.project).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("containers left after down: %q %v", out, err)
		}
		out, err = exec.CommandContext(ctx, docker, "network", "ls", "-q", "--filter", "label=com.docker.compose.project="+s.project).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("networks left after down: %q %v", out, err)
		}
		t.Logf("compose down -v: %s", time.Since(start).Round(time.Millisecond))
	})

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	start := time.Now()
	s.must(ctx, "up", "--build", "--wait", "--wait-timeout", "300", "--quiet-pull")
	t.Logf("compose up --build --wait: %s", time.Since(start).Round(time.Millisecond))

	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	hc := &http.Client{Transport: transport, Timeout: 3 * time.Minute}
	jc := &jaegerapi.Client{BaseURL: s.jaeger, HTTP: hc}

	if code, body, err := getStatus(ctx, hc, s.gateway+"/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("GET /readyz: %d %s %v", code, body, err)
	}

	// runOK runs script-then-voiceover and requires that it completes.
	runOK := func(t *testing.T, inputs map[string]string) *stacktest.Run {
		t.Helper()
		start := time.Now()
		r, err := stacktest.RunPipeline(ctx, hc, s.gateway, "script-then-voiceover", inputs)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("script-then-voiceover %v: %s in %s", inputs, r.Summary(), time.Since(start).Round(time.Millisecond))
		if _, ok := r.Completed(); r.Status != http.StatusOK || !ok || r.Error != nil {
			t.Fatalf("run did not complete: %s\n%.2000s", r.Summary(), r.Body)
		}
		if got := strings.Join(r.Steps(), ","); !strings.Contains(got, "script") || !strings.Contains(got, "voiceover") {
			t.Errorf("steps started %q, want script and voiceover", got)
		}
		return r
	}

	t.Run("images", func(t *testing.T) {
		// Every Chorus server runs as a non-root user and has a health
		// check of its own image's.
		for _, svc := range []string{"text", "image", "audio", "orchestrator", "gateway"} {
			got := s.inspect(ctx, svc, "{{.Config.User}}|{{.State.Health.Status}}|{{.Config.Image}}")
			f := strings.Split(got, "|")
			if len(f) != 3 || f[0] == "" || f[0] == "0" || f[0] == "root" || strings.HasPrefix(f[0], "0:") {
				t.Errorf("%s runs as user %q, want a non-root user", svc, f[0])
			}
			if len(f) > 1 && f[1] != "healthy" {
				t.Errorf("%s health %q, want healthy", svc, f[1])
			}
			out, err := exec.CommandContext(ctx, s.docker, "image", "inspect", "-f", "{{.Size}}", f[len(f)-1]).CombinedOutput()
			if err != nil {
				t.Errorf("docker image inspect %s: %v %s", svc, err, out)
				continue
			}
			size, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
			t.Logf("%s: image %s, %d MB, user %s", svc, f[len(f)-1], size>>20, f[0])
		}
	})

	t.Run("pipeline and trace", func(t *testing.T) {
		r := runOK(t, map[string]string{"topic": "the sea"})
		if len(r.TraceID) != 32 {
			t.Fatalf("X-Trace-Id %q, want a trace id", r.TraceID)
		}
		tctx, tcancel := context.WithTimeout(ctx, time.Minute)
		defer tcancel()
		start := time.Now()
		tr, err := jc.WaitTrace(tctx, r.TraceID, func(tr jaegerapi.Trace) error {
			if p := jaegerapi.CheckRun(tr, stacktest.ScriptThenVoiceover); len(p) > 0 {
				return errors.New(strings.Join(p, "; "))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("the run's trace in Jaeger: %v", err)
		}
		t.Logf("trace %s in Jaeger after %s: %d spans from %v", r.TraceID, time.Since(start).Round(time.Millisecond), len(tr.Spans), tr.Services())
	})

	// The long-lived containers, whose restarts the fault cases watch.
	others := []string{"gateway", "orchestrator", "text", "image", "jaeger"}
	started := func() map[string]string {
		m := map[string]string{}
		for _, svc := range others {
			m[svc] = s.inspect(ctx, svc, "{{.Id}} {{.State.StartedAt}} {{.RestartCount}}")
		}
		return m
	}
	before := started()

	t.Run("audio stopped", func(t *testing.T) {
		s.must(ctx, "stop", "audio")
		const deadline = 30 * time.Second
		start := time.Now()
		r, err := stacktest.RunPipeline(ctx, hc, s.gateway, "script-then-voiceover",
			map[string]string{"topic": "the sea", "max_tokens": "48"}, "Grpc-Timeout", "30S")
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("with audio stopped: %s after %s", r.Summary(), elapsed.Round(time.Millisecond))
		if elapsed > deadline+5*time.Second {
			t.Errorf("the run took %s, past its %s deadline", elapsed, deadline)
		}
		if _, ok := r.Completed(); ok {
			t.Fatalf("the run completed without the audio service")
		}
		if r.Error == nil {
			t.Fatalf("no error: %.2000s", r.Body)
		}
		if r.Error.Code != 14 { // UNAVAILABLE
			t.Errorf("error code %d %q, want 14 (UNAVAILABLE)", r.Error.Code, r.Error.Message)
		}
		switch r.Status {
		case http.StatusServiceUnavailable:
			// Failed before the stream began: a plain JSON error body,
			// which must say which step could not run.
			if !strings.Contains(r.Error.Message, "voiceover") {
				t.Errorf("error message %q does not name the step voiceover", r.Error.Message)
			}
		case http.StatusOK:
			// The run began (the script step needs no audio) and failed
			// at the voiceover step: the stream ends with a runFailed
			// event naming the step and its code, then the error line.
			failed, ok := r.Failed()
			var f struct{ Step, Code, Message string }
			if ok {
				_ = json.Unmarshal(failed, &f)
			}
			if f.Step != "voiceover" || f.Code != "UNAVAILABLE" || !strings.Contains(f.Message, "audio") {
				t.Errorf("runFailed %s, want step voiceover, code UNAVAILABLE and a message naming the audio service", failed)
			}
		default:
			t.Errorf("HTTP %d, want 503, or 200 with a failed stream", r.Status)
		}
	})

	t.Run("audio started again", func(t *testing.T) {
		s.must(ctx, "start", "audio")
		start := time.Now()
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
		defer rcancel()
		if err := waitReady(rctx, hc, s.gateway); err != nil {
			t.Fatal(err)
		}
		t.Logf("ready again %s after compose start audio", time.Since(start).Round(time.Millisecond))
		runOK(t, map[string]string{"topic": "the sea", "max_tokens": "48"})
		after := started()
		for _, svc := range others {
			if before[svc] != after[svc] {
				t.Errorf("%s restarted: %s, then %s", svc, before[svc], after[svc])
			}
		}
	})

	t.Run("text crashes and comes back", func(t *testing.T) {
		// A crash is the container's main process dying without Docker
		// being asked: `docker kill` (and so `compose kill`) marks the
		// container stopped by the user on Docker Engine 20.10, and no
		// restart policy applies then. SIGKILL from the host to the
		// container's process is what an out-of-memory kill or a crash
		// looks like to Docker.
		pid, _ := strconv.Atoi(s.inspect(ctx, "text", "{{.State.Pid}}"))
		restarts := s.inspect(ctx, "text", "{{.RestartCount}}")
		if pid <= 0 {
			t.Fatalf("text container pid %d", pid)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Skipf("cannot signal the text container's process %d from here (%v): needs root beside the Docker daemon", pid, err)
		}
		start := time.Now()
		for {
			if ctx.Err() != nil || time.Since(start) > 2*time.Minute {
				t.Fatalf("text did not come back within 2m: %s", s.inspect(ctx, "text", "{{.State.Status}} restarts={{.RestartCount}} health={{.State.Health.Status}}"))
			}
			state := s.inspect(ctx, "text", "{{.State.Status}} {{.RestartCount}} {{.State.Health.Status}}")
			if f := strings.Fields(state); len(f) == 3 && f[0] == "running" && f[1] != restarts && f[2] == "healthy" {
				t.Logf("text restarted by its policy and healthy after %s (%s)", time.Since(start).Round(time.Millisecond), state)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		rctx, rcancel := context.WithTimeout(ctx, time.Minute)
		defer rcancel()
		if err := waitReady(rctx, hc, s.gateway); err != nil {
			t.Fatal(err)
		}
		runOK(t, map[string]string{"topic": "the sea", "max_tokens": "48"})
	})
}
