package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/processtest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// The fault tests start the servers one by one (not through `chorus up`, which stops the
// whole suite when one child exits), so that one of them can be killed and started again
// while the others run on. Each fault is injected into real processes; the outcome is
// observed at the gateway, as a client sees it, and at the fake backends, as the upstream
// sees it. docs/RELIABILITY.md lists the figures of the last run.

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	return ports.Addr(ports.Host, processtest.FreePort(t))
}

// startServer starts one of the built binaries with args in the repository root (where the
// text service finds models/), a gRPC server with no metrics listener unless args give one,
// and returns the process.
func startServer(t *testing.T, bin, name string, args ...string) *processtest.Process {
	t.Helper()
	if name != "gateway" && !slices.Contains(args, "-metrics-addr") {
		args = append(args, "-metrics-addr", "")
	}
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir = processtest.RepoRoot(t)
	cmd.Env = processtest.HermeticEnv(t)
	return processtest.Start(t, name, cmd)
}

// waitServing waits until the gRPC server at addr reports SERVING on its health service
// and returns when it did.
func waitServing(t *testing.T, addr string, limit time.Duration) time.Time {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not serving within %s: %v %v", addr, limit, r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitListening waits until addr accepts TCP connections.
func waitListening(t *testing.T, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runEvent is one line of a pipeline run's NDJSON stream through the gateway.
type runEvent struct {
	Result struct {
		StepStarted *struct{ Step string } `json:"stepStarted"`
		StepDelta   *struct {
			Step     string
			Artifact json.RawMessage
		} `json:"stepDelta"`
		RunFailed    *runFailed      `json:"runFailed"`
		RunCompleted json.RawMessage `json:"runCompleted"`
	} `json:"result"`
	Error *streamError `json:"error"`
}

// runFailed is a RunFailed event; streamError is the error line that ends a failed stream.
type (
	runFailed   struct{ Step, Code, Message string }
	streamError struct {
		Code    codes.Code
		Message string
	}
)

// runStream is a pipeline run in progress through the gateway.
type runStream struct {
	resp *http.Response
	sc   *bufio.Scanner
}

// startRun posts a run of pipeline with inputs to the gateway at base; header pairs are
// added (Grpc-Timeout).
func startRun(ctx context.Context, t *testing.T, base, pipeline string, inputs map[string]string, header ...string) *runStream {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"inputs": inputs})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/pipelines/"+pipeline+":run", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", pipeline, err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
	return &runStream{resp: resp, sc: sc}
}

// next returns the stream's next event, or false at its end.
func (r *runStream) next(t *testing.T) (runEvent, bool) {
	t.Helper()
	var ev runEvent
	if !r.sc.Scan() {
		return ev, false
	}
	if err := json.Unmarshal(r.sc.Bytes(), &ev); err != nil {
		t.Fatalf("run stream line %.200q: %v", r.sc.Text(), err)
	}
	return ev, true
}

// rest reads the stream to its end and returns the run's outcome: its RunFailed event (nil
// if none), whether it completed, and the final error line the gateway adds to a failed
// stream (nil if none).
func (r *runStream) rest(t *testing.T) (failed *runFailed, completed bool, final *streamError) {
	t.Helper()
	defer r.resp.Body.Close()
	for {
		ev, ok := r.next(t)
		if !ok {
			return failed, completed, final
		}
		if f := ev.Result.RunFailed; f != nil {
			failed = f
		}
		completed = completed || ev.Result.RunCompleted != nil
		if ev.Error != nil {
			final = ev.Error
		}
	}
}

// document is a plain-text document of n short sentences.
func document(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Sentence number %d is read aloud here. ", i+1)
	}
	return b.String()
}

// TestAudioKilledMidRun injects a crash: the real audio service (flite) is killed with
// SIGKILL while a long narrate-document run is voicing, through the real orchestrator and
// gateway, with a text generation on the real text service (chorus-mini) in flight. The run
// must fail within its deadline, UNAVAILABLE naming the voiceover step; the text call must
// not notice; and once audio is started again on its address, a new run must succeed within
// 5 s of it serving, with the orchestrator and the gateway never restarted.
func TestAudioKilledMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the servers as processes")
	}
	bin := processtest.Build(t, "./orchestrator/cmd/orchestrator", "./gateway/cmd/gateway",
		"./services/text/cmd/text", "./services/audio/cmd/audio")
	textAddr, audioAddr, orchAddr, httpAddr, dead := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	startServer(t, bin, "text", "-grpc-addr", textAddr)
	audio := startServer(t, bin, "audio", "-grpc-addr", audioAddr)
	startServer(t, bin, "orchestrator", "-grpc-addr", orchAddr, "-text-addr", textAddr, "-audio-addr", audioAddr,
		"-image-addr", dead, "-data-dir", t.TempDir())
	startServer(t, bin, "gateway", "-http-addr", httpAddr, "-orchestrator-addr", orchAddr,
		"-text-addr", textAddr, "-audio-addr", audioAddr, "-image-addr", dead)
	waitServing(t, textAddr, 60*time.Second)
	waitServing(t, audioAddr, 60*time.Second)
	waitServing(t, orchAddr, 30*time.Second)
	waitListening(t, httpAddr, 30*time.Second)
	base := "http://" + httpAddr
	ctx := t.Context()

	const deadline = 60 * time.Second
	started := time.Now()
	run := startRun(ctx, t, base, "narrate-document", map[string]string{"document": document(1500)}, "Grpc-Timeout", "60S")
	if run.resp.StatusCode != http.StatusOK {
		t.Fatalf("run: %s", run.resp.Status)
	}
	segments := 0
	for segments < 2 {
		ev, ok := run.next(t)
		if !ok {
			t.Fatal("the run ended before voicing two sentences")
		}
		if d := ev.Result.StepDelta; d != nil && d.Step == "voiceover" && len(d.Artifact) > 0 {
			segments++
		}
	}

	// A text-only call, streaming across the kill: the kill comes after its first delta.
	type answer struct {
		lines []string
		err   error
	}
	textStarted, textDone := make(chan struct{}), make(chan answer, 1)
	go func() {
		defer close(textDone)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/text:streamGenerate",
			strings.NewReader(`{"prompt": "The lighthouse keeper", "text": {"maxTokens": 64, "seed": 1}}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			close(textStarted)
			textDone <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var a answer
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if a.lines = append(a.lines, sc.Text()); len(a.lines) == 1 {
				close(textStarted)
			}
		}
		if len(a.lines) == 0 {
			close(textStarted)
		}
		a.err = sc.Err()
		textDone <- a
	}()
	<-textStarted

	audio.Kill(t)
	killed := time.Now()
	f, completed, final := run.rest(t)
	failedAfter := time.Since(killed)
	if f == nil || f.Code != "UNAVAILABLE" || f.Step != "voiceover" || completed {
		t.Fatalf("the run after the kill: %+v (completed %v, final error %+v), want RunFailed UNAVAILABLE at step voiceover", f, completed, final)
	}
	if took := time.Since(started); took > deadline {
		t.Errorf("the run failed %s after it started, past its %s deadline", took, deadline)
	}
	t.Logf("figure: fault: audio SIGKILLed after %d voiced segments of a narrate-document run: RunFailed UNAVAILABLE at voiceover %s later (%s)", segments, failedAfter.Round(time.Millisecond), f.Message)

	select {
	case a := <-textDone:
		n := len(a.lines)
		if a.err != nil || n < 2 || !strings.Contains(a.lines[n-1], `"done"`) || strings.Contains(strings.Join(a.lines, "\n"), `"error"`) {
			t.Fatalf("the text stream across the kill: %v, %d lines, last %.300q", a.err, n, a.lines)
		}
		t.Logf("figure: fault: a text stream in flight across the kill: %d chunks, ended with its result", n)
	case <-time.After(2 * time.Minute):
		t.Fatal("the text stream across the kill did not finish")
	}

	startServer(t, bin, "audio", "-grpc-addr", audioAddr)
	serving := waitServing(t, audioAddr, 60*time.Second)
	for attempt := 1; ; attempt++ {
		r := startRun(ctx, t, base, "narrate-document", map[string]string{"document": "The lamp is lit again."}, "Grpc-Timeout", "30S")
		failed, completed, final := r.rest(t)
		if r.resp.StatusCode == http.StatusOK && completed {
			back := time.Since(serving)
			t.Logf("figure: fault: audio started again: a new run succeeded %s after it served (attempt %d), orchestrator and gateway not restarted", back.Round(time.Millisecond), attempt)
			if back > 5*time.Second {
				t.Errorf("runs succeeded again only %s after audio served, want within 5s", back)
			}
			break
		}
		if time.Since(serving) > 30*time.Second {
			t.Fatalf("no run succeeded within 30s of audio serving again; the last: %s %+v %+v", r.resp.Status, failed, final)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// faultBackend is a fake text backend: genaitest's behaviours (hold, echo), and "down",
// which fails every call with UNAVAILABLE before any output, as a model server that is down,
// counting the calls that reach it.
type faultBackend struct {
	*genaitest.Backend
	down atomic.Int64
}

func (b *faultBackend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	if req.GetModel() == "down" {
		b.down.Add(1)
		return nil, rpcerr.New(codes.Unavailable, rpcerr.ReasonUpstreamDown, "fake: the model server is down")
	}
	return b.Backend.Generate(ctx, req, emit)
}

// TestUpstreamFaults runs the real orchestrator and gateway over fake text and audio
// services in this process and injects three faults: a text service that is always
// UNAVAILABLE (the calls reaching it are counted: step retries and connection retries must
// not multiply), a backend slower than the client's deadline (DEADLINE_EXCEEDED, and the
// backend sees its call canceled), and a client that disconnects mid-stream (the backend's
// call is canceled, so no work goes on for nobody).
func TestUpstreamFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the servers as processes")
	}
	bin := processtest.Build(t, "./orchestrator/cmd/orchestrator", "./gateway/cmd/gateway")
	text := &faultBackend{Backend: genaitest.NewBackend(genaitest.Echo, genaitest.Hold, "down")}
	textAddr := genaitest.Listen(t, genai.Text, text)
	audioAddr := genaitest.Listen(t, genai.Audio, genaitest.NewBackend(genaitest.Voice))
	orchAddr, httpAddr, dead := freeAddr(t), freeAddr(t), freeAddr(t)
	startServer(t, bin, "orchestrator", "-grpc-addr", orchAddr, "-text-addr", textAddr, "-audio-addr", audioAddr,
		"-image-addr", dead, "-data-dir", t.TempDir())
	startServer(t, bin, "gateway", "-http-addr", httpAddr, "-orchestrator-addr", orchAddr,
		"-text-addr", textAddr, "-audio-addr", audioAddr, "-image-addr", dead)
	waitServing(t, orchAddr, 30*time.Second)
	waitListening(t, httpAddr, 30*time.Second)
	base := "http://" + httpAddr

	t.Run("always unavailable", func(t *testing.T) {
		f, _, final := startRun(t.Context(), t, base, "script-then-voiceover", map[string]string{"topic": "x", "text_model": "down"}).rest(t)
		if f == nil || f.Code != "UNAVAILABLE" || f.Step != "script" || final == nil || final.Code != codes.Unavailable {
			t.Fatalf("run: %+v, final error %+v; want RunFailed UNAVAILABLE at step script", f, final)
		}
		// runner.Retry's 3 attempts, and nothing more: the orchestrator's connection does
		// not retry (4 x 3 = 12 before), and the gateway does not repeat the run.
		if n := text.down.Load(); n != 3 {
			t.Errorf("the failing text service was called %d times for one step, want 3", n)
		}
		t.Logf("figure: fault: a text service always UNAVAILABLE: RunFailed UNAVAILABLE at script after %d calls reached it", text.down.Load())
	})

	t.Run("slower than the deadline", func(t *testing.T) {
		start := time.Now()
		f, _, final := startRun(t.Context(), t, base, "script-then-voiceover", map[string]string{"topic": "x", "text_model": genaitest.Hold},
			"Grpc-Timeout", "1S").rest(t)
		took := time.Since(start)
		// The gateway's deadline ends its call as the orchestrator's ends the run, so the
		// RunFailed event may not reach the client; the stream's final error must.
		if f != nil && f.Code != "DEADLINE_EXCEEDED" || final == nil || final.Code != codes.DeadlineExceeded {
			t.Fatalf("run: %+v, final error %+v; want DEADLINE_EXCEEDED", f, final)
		}
		text.Wait(t, "started")
		text.Wait(t, "canceled")
		t.Logf("figure: fault: a backend slower than a 1s deadline: DEADLINE_EXCEEDED after %s; the backend saw its call canceled", took.Round(time.Millisecond))
		if took > 10*time.Second {
			t.Errorf("DEADLINE_EXCEEDED after %s for a 1s deadline", took)
		}
	})

	t.Run("client disconnects", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		run := startRun(ctx, t, base, "script-then-voiceover", map[string]string{"topic": "x", "text_model": genaitest.Hold})
		if ev, ok := run.next(t); !ok || ev.Result.StepStarted == nil {
			t.Fatalf("first event %+v", ev)
		}
		text.Wait(t, "started")
		gone := time.Now()
		cancel()
		run.resp.Body.Close()
		text.Wait(t, "canceled")
		t.Logf("figure: fault: a client disconnected mid-run: the backend's call canceled %s later", time.Since(gone).Round(time.Millisecond))
	})
}
