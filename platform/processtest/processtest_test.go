package processtest

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestFreeLayout(t *testing.T) {
	l := FreeLayout(t)
	got := []int{l.Orchestrator, l.Text(), l.Image(), l.Audio(), l.Embed()}
	if want := []int{l.Orchestrator, l.Orchestrator + 1, l.Orchestrator + 2, l.Orchestrator + 3, l.Orchestrator + 4}; !slices.Equal(got, want) {
		t.Errorf("gRPC ports %v, want %v", got, want)
	}
	if l.Gateway >= l.Orchestrator && l.Gateway <= l.Embed() || l.Gateway <= 0 {
		t.Errorf("gateway port %d inside the gRPC ports %v", l.Gateway, got)
	}
}

func TestHermeticEnv(t *testing.T) {
	t.Setenv("CHORUS_LOG_LEVEL", "debug")
	t.Setenv("OTEL_SERVICE_NAME", "x")
	t.Setenv("XDG_STATE_HOME", "/nowhere")
	env := HermeticEnv(t, "CHORUS_MODELS_DIR=/models")
	var state []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "OTEL_") || strings.HasPrefix(kv, "CHORUS_") && kv != "CHORUS_MODELS_DIR=/models" {
			t.Errorf("%s passed on", kv)
		}
		if v, ok := strings.CutPrefix(kv, "XDG_STATE_HOME="); ok {
			state = append(state, v)
		}
	}
	if len(state) != 1 || state[0] == "/nowhere" {
		t.Errorf("XDG_STATE_HOME %q, want one directory of the test's own", state)
	}
	if env[len(env)-1] != "CHORUS_MODELS_DIR=/models" {
		t.Errorf("extra not last: %q", env[len(env)-1])
	}
}

func TestBuildStartStop(t *testing.T) {
	const pkg = "./platform/processtest/testdata/sleeper"
	dir := Build(t, pkg)
	if again := Build(t, pkg); again != dir {
		t.Errorf("second Build in %s, want the first's %s", again, dir)
	}
	bin := filepath.Join(dir, "sleeper")
	var p *Process
	t.Run("stopped at cleanup", func(t *testing.T) {
		cmd := exec.Command(bin)
		cmd.Env = HermeticEnv(t, "SLEEPER_WORD=hello")
		p = Start(t, "sleeper", cmd)
		waitFor(t, p, "sleeper ready hello")
	})
	waitFor(t, p, "sleeper stopped")
	if err := p.Err(); err != nil {
		t.Errorf("the stopped process: %v", err)
	}

	killed := Start(t, "sleeper", exec.Command(bin))
	waitFor(t, killed, "sleeper ready")
	killed.Kill(t)
	if err := killed.Err(); err == nil || strings.Contains(killed.Logs.String(), "stopped") {
		t.Errorf("the killed process ended with %v and wrote %q, want a kill before it stops", err, killed.Logs)
	}
}

func waitFor(t *testing.T, p *Process, line string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.Logs.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("%q not in the logs: %q", line, p.Logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
