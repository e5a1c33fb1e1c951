package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/openaitest"
	"github.com/chorus-ai/chorus/platform/processtest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// loadStreams is how many clients TestLoad runs at once against each target.
const loadStreams = 200

// loadDuration is how long TestLoad holds each load: 5 s in make test, and what
// CHORUS_LOAD_DURATION says (make reliability sets 60s).
func loadDuration(t *testing.T) time.Duration {
	t.Helper()
	if s := os.Getenv("CHORUS_LOAD_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("CHORUS_LOAD_DURATION=%q: %v", s, err)
		}
		return d
	}
	return 5 * time.Second
}

// outcomes counts what a load's calls got. Only two outcomes are allowed: success, and
// RESOURCE_EXHAUSTED with a retry delay (a queue was full: the deliberate refusal, at once).
type outcomes struct {
	ok, exhausted, failed atomic.Int64
	mu                    sync.Mutex
	sample                []string // the first few failures
}

func (o *outcomes) fail(format string, args ...any) {
	o.failed.Add(1)
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.sample) < 5 {
		o.sample = append(o.sample, fmt.Sprintf(format, args...))
	}
}

func (o *outcomes) String() string {
	return fmt.Sprintf("%d ok, %d RESOURCE_EXHAUSTED with retry info, %d other errors", o.ok.Load(), o.exhausted.Load(), o.failed.Load())
}

// callTimeout bounds one call of the load; a call that needs it has failed.
const callTimeout = 30 * time.Second

// hold runs call from n goroutines, each in a loop, starting calls for d. The
// window decides only when calls start: each call gets its own deadline
// (callTimeout) and runs to its end, so none is cut short by the window's end
// and every error a call gets counts.
func hold(n int, d time.Duration, call func(ctx context.Context)) {
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				call(ctx)
				cancel()
			}
		})
	}
	wg.Wait()
}

// usage is a process's goroutines and resident memory, from its /metrics.
type usage struct {
	goroutines int
	rss        float64 // bytes
}

func (u usage) String() string {
	return fmt.Sprintf("%d goroutines, %.1f MiB RSS", u.goroutines, u.rss/(1<<20))
}

// measure reads go_goroutines and process_resident_memory_bytes from a /metrics URL.
func measure(t *testing.T, recap *processtest.Recap, url string) usage {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		recap.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var u usage
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_goroutines":
			g, _ := strconv.ParseFloat(value, 64)
			u.goroutines = int(g)
		case "process_resident_memory_bytes":
			u.rss, _ = strconv.ParseFloat(value, 64)
		}
	}
	if u.goroutines == 0 || u.rss == 0 {
		recap.Fatalf("%s has no go_goroutines or process_resident_memory_bytes", url)
	}
	return u
}

// settle waits until the goroutines at url are back within slack of idle (the load's
// connections and calls all ended) and returns the usage then; it fails t after limit.
func settle(t *testing.T, recap *processtest.Recap, name, url string, idle usage, limit time.Duration) usage {
	t.Helper()
	const slack = 10
	deadline := time.Now().Add(limit)
	for {
		u := measure(t, recap, url)
		if u.goroutines <= idle.goroutines+slack {
			return u
		}
		if time.Now().After(deadline) {
			recap.Errorf("%s: %d goroutines %s after the load, %d idle", name, u.goroutines, limit, idle.goroutines)
			return u
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLoad holds loadStreams concurrent clients for loadDuration against the real gateway
// in front of the real text service (its OpenAI-compatible backend over an instant fake
// model server), streaming text:streamGenerate, and then against the real orchestrator's
// RunPipeline (script-then-voiceover over instant fake text and audio services). Every call
// must succeed or be refused at once with RESOURCE_EXHAUSTED carrying a retry delay (429
// with Retry-After through the gateway), and afterwards the servers' goroutines must be back
// at their idle count and their resident memory within bounds of idle.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the servers as processes")
	}
	d := loadDuration(t)
	recap := processtest.NewRecap(t) // the failures again after the servers' logs
	bin := processtest.Build(t, "./orchestrator/cmd/orchestrator", "./gateway/cmd/gateway", "./services/text/cmd/text")
	model := openaitest.New(openaitest.Options{Text: "A quick answer from an instant model."})
	t.Cleanup(model.Close)
	fakeText := genaitest.Listen(t, genai.Text, genaitest.NewBackend(genaitest.Echo))
	fakeAudio := genaitest.Listen(t, genai.Audio, genaitest.NewBackend(genaitest.Voice))
	textAddr, textMetrics, orchAddr, orchMetrics, httpAddr, dead := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	startServer(t, bin, "text", "-grpc-addr", textAddr, "-metrics-addr", textMetrics, "-models-dir", "",
		"-openai-base-url", model.BaseURL)
	startServer(t, bin, "orchestrator", "-grpc-addr", orchAddr, "-metrics-addr", orchMetrics,
		"-text-addr", fakeText, "-audio-addr", fakeAudio, "-image-addr", dead, "-data-dir", t.TempDir())
	startServer(t, bin, "gateway", "-http-addr", httpAddr, "-orchestrator-addr", orchAddr,
		"-text-addr", textAddr, "-audio-addr", dead, "-image-addr", dead)
	waitServing(t, textAddr, 30*time.Second)
	waitServing(t, orchAddr, 30*time.Second)
	waitListening(t, httpAddr, 30*time.Second)
	base := "http://" + httpAddr
	metrics := map[string]string{"gateway": base + "/metrics", "text": "http://" + textMetrics + "/metrics",
		"orchestrator": "http://" + orchMetrics + "/metrics"}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadStreams}}
	generate := func(ctx context.Context, o *outcomes) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/text:streamGenerate",
			strings.NewReader(`{"prompt": "Say something.", "text": {"maxTokens": 8}}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			o.fail("POST: %v", err)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
			o.fail("reading: %v", err)
		case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "":
			o.exhausted.Add(1)
		case resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) || !strings.Contains(string(body), `"done"`):
			o.fail("%s: %.200s", resp.Status, body)
		default:
			o.ok.Add(1)
		}
	}
	conn, err := grpc.NewClient(orchAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	orch := orchestratorv1.NewOrchestratorServiceClient(conn)
	run := func(ctx context.Context, o *outcomes) {
		stream, err := orch.RunPipeline(ctx, &orchestratorv1.RunPipelineRequest{Name: "script-then-voiceover",
			Inputs: map[string]string{"topic": "one two three", "text_model": genaitest.Echo}})
		completed := false
		for err == nil {
			var ev *orchestratorv1.RunPipelineResponse
			if ev, err = stream.Recv(); err == nil && ev.GetRunCompleted() != nil {
				completed = true
			}
		}
		st := status.Convert(err)
		switch {
		case errors.Is(err, io.EOF) && completed:
			o.ok.Add(1)
		case st.Code() == codes.ResourceExhausted && rpcerr.RetryDelay(st) > 0:
			o.exhausted.Add(1)
		default:
			o.fail("RunPipeline: %v (completed %v)", err, completed)
		}
	}

	// Idle: after one call of each kind, so that what is built on first use is counted.
	var warm outcomes
	generate(t.Context(), &warm)
	run(t.Context(), &warm)
	if warm.ok.Load() != 2 {
		recap.Fatalf("warm-up: %s %v", &warm, warm.sample)
	}
	hc.CloseIdleConnections()
	idle := map[string]usage{}
	for name, url := range metrics {
		idle[name] = measure(t, recap, url)
	}

	for _, target := range []struct {
		name string
		call func(context.Context, *outcomes)
	}{
		{name: "gateway text:streamGenerate", call: generate},
		{name: "orchestrator RunPipeline", call: run},
	} {
		var o outcomes
		start := time.Now()
		hold(loadStreams, d, func(ctx context.Context) { target.call(ctx, &o) })
		took := time.Since(start)
		t.Logf("figure: load %s: %d streams for %s: %s (%.0f calls/s)", target.name, loadStreams, d, &o,
			float64(o.ok.Load()+o.exhausted.Load())/took.Seconds())
		if o.failed.Load() > 0 {
			recap.Errorf("%s: %s; first: %v", target.name, &o, o.sample)
		}
		if o.ok.Load() == 0 {
			recap.Errorf("%s: no call succeeded: %s", target.name, &o)
		}
	}

	hc.CloseIdleConnections()
	for _, name := range []string{"gateway", "text", "orchestrator"} {
		after := settle(t, recap, name, metrics[name], idle[name], 30*time.Second)
		t.Logf("figure: idle and after the load, %s: %s; %s", name, idle[name], after)
		// Freed heap goes back to the system gradually (the Go scavenger), so RSS is held
		// to a bound rather than to its idle value.
		if limit := 2*idle[name].rss + 64<<20; after.rss > limit {
			recap.Errorf("%s: %.1f MiB RSS after the load, idle %.1f MiB", name, after.rss/(1<<20), idle[name].rss/(1<<20))
		}
	}
}
