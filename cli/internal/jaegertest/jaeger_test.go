package jaegertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorus-ai/chorus/cli/internal/command"
	"github.com/chorus-ai/chorus/cli/internal/jaegerapi"
	"github.com/chorus-ai/chorus/cli/internal/stack"
	"github.com/chorus-ai/chorus/cli/internal/stacktest"
	"github.com/chorus-ai/chorus/platform/processtest"
	"github.com/chorus-ai/chorus/platform/syncio"
)

func TestMain(m *testing.M) { processtest.Main(m) }

// jaegerBinary is CHORUS_JAEGER_BIN, else where deploy/scripts/jaeger.sh
// builds it; "" when it is not built.
func jaegerBinary(t *testing.T, root string) string {
	t.Helper()
	path := os.Getenv("CHORUS_JAEGER_BIN")
	if path == "" {
		out, err := exec.Command("bash", filepath.Join(root, "deploy/scripts/jaeger.sh"), "-path").Output()
		if err != nil {
			t.Fatalf("deploy/scripts/jaeger.sh -path: %v", err)
		}
		path = strings.TrimSpace(string(out))
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return ""
	}
	return path
}

// jaeger is a running Jaeger process.
type jaeger struct {
	query string // the query API, http://127.0.0.1:PORT
	otlp  string // the OTLP gRPC endpoint, http://127.0.0.1:PORT
}

// startJaeger runs bin with deploy/jaeger/local.yaml, every port moved to
// a free one on 127.0.0.1, and waits until its query API answers.
func startJaeger(t *testing.T, root, bin string) jaeger {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "deploy/jaeger/local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(src)
	ports := map[string]int{}
	for _, p := range []string{"4317", "4318", "16686", "16685", "13133"} {
		old := "127.0.0.1:" + p
		if !strings.Contains(cfg, old) {
			t.Fatalf("deploy/jaeger/local.yaml lacks %s", old)
		}
		free := processtest.FreePort(t)
		ports[p] = free
		cfg = strings.ReplaceAll(cfg, old, "127.0.0.1:"+strconv.Itoa(free))
	}
	path := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := processtest.Start(t, "jaeger", exec.Command(bin, "--config", path))
	j := jaeger{
		query: fmt.Sprintf("http://127.0.0.1:%d", ports["16686"]),
		otlp:  fmt.Sprintf("http://127.0.0.1:%d", ports["4317"]),
	}
	c := &jaegerapi.Client{BaseURL: j.query}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if _, err := c.ServiceNames(ctx); err == nil {
			return j
		}
		select {
		case <-p.Exited():
			t.Fatalf("jaeger exited: %v\n%s", p.Err(), p.Logs)
		case <-ctx.Done():
			t.Fatalf("jaeger's query API did not answer within 30s\n%s", p.Logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestPipelineTraceInJaeger(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Jaeger and the suite as processes; run without -short")
	}
	root := processtest.RepoRoot(t)
	bin := jaegerBinary(t, root)
	if bin == "" {
		t.Skip("the Jaeger binary is not built: run `make jaeger` (make test builds it), or set CHORUS_JAEGER_BIN")
	}
	j := startJaeger(t, root, bin)
	servers := processtest.Build(t, "./services/text/cmd/text", "./services/image/cmd/image", "./services/audio/cmd/audio",
		"./services/embed/cmd/embed", "./orchestrator/cmd/orchestrator", "./gateway/cmd/gateway")

	l := processtest.FreeLayout(t)
	env := processtest.HermeticEnv(t,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+j.otlp,
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		// The text service's offline default: Chorus's own model.
		"CHORUS_MODELS_DIR="+filepath.Join(root, "models"),
	)
	logs := &syncio.Writer{}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		command.Main(ctx, command.Env{Stdout: logs, Stderr: logs, Environ: env}, []string{
			"up", "-bin-dir", servers, "-grpc-port", strconv.Itoa(l.Orchestrator), "-http-port", strconv.Itoa(l.Gateway),
			"-ready-timeout", "45s", "-grace", "15s",
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Errorf("chorus up did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("suite log:\n%s", logs)
		}
	})
	gateway := stack.DefaultAddrs("127.0.0.1", l.Orchestrator, l.Gateway).GatewayURL()
	readyCtx, readyCancel := context.WithTimeout(ctx, 50*time.Second)
	defer readyCancel()
	if err := stack.WaitReady(readyCtx, gateway, finished); err != nil {
		t.Fatalf("suite not ready: %v", err)
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	hc := &http.Client{Transport: transport, Timeout: 3 * time.Minute}
	runCtx, runCancel := context.WithTimeout(ctx, 3*time.Minute)
	defer runCancel()
	start := time.Now()
	r, err := stacktest.RunPipeline(runCtx, hc, gateway, "script-then-voiceover", map[string]string{"topic": "the sea", "max_tokens": "48"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("script-then-voiceover: %s in %s", r.Summary(), time.Since(start).Round(time.Millisecond))
	if _, ok := r.Completed(); r.Status != http.StatusOK || !ok || r.Error != nil {
		t.Fatalf("run did not complete: %s\n%.2000s", r.Summary(), r.Body)
	}
	if len(r.TraceID) != 32 {
		t.Fatalf("X-Trace-Id %q, want a trace id", r.TraceID)
	}

	jc := &jaegerapi.Client{BaseURL: j.query, HTTP: hc}
	tctx, tcancel := context.WithTimeout(ctx, time.Minute)
	defer tcancel()
	start = time.Now()
	tr, err := jc.WaitTrace(tctx, r.TraceID, func(tr jaegerapi.Trace) error {
		if p := jaegerapi.CheckRun(tr, stacktest.ScriptThenVoiceover); len(p) > 0 {
			return errors.New(strings.Join(p, "; "))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the run's trace in Jaeger: %v", err)
	}
	t.Logf("trace %s complete in Jaeger after %s: %d spans from %v", r.TraceID, time.Since(start).Round(time.Millisecond), len(tr.Spans), tr.Services())
	names, err := jc.ServiceNames(tctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range stacktest.ScriptThenVoiceover.Services {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("/api/services %q lacks %s", names, want)
		}
	}
}
