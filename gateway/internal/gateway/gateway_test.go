package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/chorus-ai/chorus/platform/genai"

	"github.com/chorus-ai/chorus/gateway/internal/gateway"
)

func TestErrors(t *testing.T) {
	env := newTestServer(t)
	for _, tc := range []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantCode   codes.Code
		wantReason string
		wantFields []string
		wantAllow  string
		golden     string
	}{
		{
			name: "invalid audio request names every bad field", method: "POST", path: "/v1/audio:generate",
			body:       `{"prompt": " ", "audio": {"speed": 9, "format": "mp3"}}`,
			wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT",
			wantFields: []string{"audio.format", "audio.speed", "prompt"}, golden: "error_invalid_argument",
		},
		{
			name: "options of another modality", method: "POST", path: "/v1/audio:generate",
			body:       `{"prompt": "Hello.", "text": {"maxTokens": 5}}`,
			wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT", wantFields: []string{"text"},
		},
		{
			name: "unknown model", method: "POST", path: "/v1/text:generate",
			body:       `{"model": "nope", "prompt": "hi"}`,
			wantStatus: 404, wantCode: codes.NotFound, wantReason: "MODEL_NOT_FOUND", golden: "error_model_not_found",
		},
		{
			name: "unknown field is rejected, naming it", method: "POST", path: "/v1/text:generate",
			body:       `{"prompt": "hi", "text": {"max_token": 5}}`,
			wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT",
			wantFields: []string{"text.max_token"}, golden: "error_unknown_field",
		},
		{
			name: "mistyped field", method: "POST", path: "/v1/text:generate",
			body:       `{"prompt": 5, "messages": {}}`,
			wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT",
			wantFields: []string{"messages", "prompt"},
		},
		{
			name: "two options of the oneof", method: "POST", path: "/v1/text:generate",
			body:       `{"prompt": "hi", "text": {}, "image": {}}`,
			wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT", wantFields: []string{"text"},
		},
		{
			name: "malformed JSON", method: "POST", path: "/v1/text:generate",
			body:       `{"prompt": `,
			wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: gateway.ReasonMalformedBody,
		},
		{
			name: "trailing data after the JSON object", method: "POST", path: "/v1/text:generate",
			body:       `{"prompt": "hi"} {}`,
			wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: gateway.ReasonMalformedBody,
		},
		{
			name: "invalid request on a streaming route is a plain error", method: "POST", path: "/v1/text:streamGenerate",
			body:       `{"prompt": ""}`,
			wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT", wantFields: []string{"prompt"},
		},
		{
			name: "unknown pipeline", method: "GET", path: "/v1/pipelines/nope",
			wantStatus: 404, wantCode: codes.NotFound, wantReason: "PIPELINE_NOT_FOUND",
		},
		{
			name: "run without a required input", method: "POST", path: "/v1/pipelines/echo:run",
			body:       `{"inputs": {}}`,
			wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT", wantFields: []string{"inputs.topic"},
		},
		{
			name: "unknown route", method: "GET", path: "/v1/nothing/here",
			wantStatus: 404, wantCode: codes.NotFound, wantReason: gateway.ReasonRouteNotFound, golden: "error_route_not_found",
		},
		{
			name: "wrong method on a GET route", method: "DELETE", path: "/v1/text/models",
			wantStatus: 405, wantCode: codes.Unimplemented, wantReason: gateway.ReasonMethodNotAllowed, wantAllow: "GET",
		},
		{
			name: "wrong method on a POST route", method: "GET", path: "/v1/image:generate",
			wantStatus: 405, wantCode: codes.Unimplemented, wantReason: gateway.ReasonMethodNotAllowed, wantAllow: "POST",
		},
		{
			name: "bad Grpc-Timeout header", method: "GET", path: "/v1/text/models?x=1",
			wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.name == "bad Grpc-Timeout header" {
				header = []string{"Grpc-Timeout", "soon"}
			}
			resp, body := env.do(t, tc.method, tc.path, tc.body, header...)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			e := decodeError(t, body)
			if codes.Code(e.Code) != tc.wantCode {
				t.Errorf("code %v, want %v", codes.Code(e.Code), tc.wantCode)
			}
			if e.Message == "" {
				t.Error("empty message")
			}
			if got := e.reason(); got != tc.wantReason {
				t.Errorf("reason %q, want %q; body %s", got, tc.wantReason, body)
			}
			if got := e.fields(); !slices.Equal(sorted(got), tc.wantFields) {
				t.Errorf("field violations %q, want %q; body %s", got, tc.wantFields, body)
			}
			if got := resp.Header.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow %q, want %q", got, tc.wantAllow)
			}
			if tc.golden != "" {
				checkGolden(t, tc.golden, body)
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestUnknownFieldSuggestsTheRightName(t *testing.T) {
	env := newTestServer(t)
	_, body := env.do(t, "POST", "/v1/text:generate", `{"prompt": "hi", "text": {"max_token": 5}}`)
	if !strings.Contains(string(body), `did you mean \"maxTokens\"?`) {
		t.Errorf("no suggestion in %s", body)
	}
}

func TestGenerate(t *testing.T) {
	env := newTestServer(t)
	for _, tc := range []struct {
		name, path, body, golden string
	}{
		{name: "text", path: "/v1/text:generate", body: `{"model": "echo", "prompt": "one two three", "text": {"maxTokens": 16, "temperature": 0}}`, golden: "generate_text"},
		{name: "proto field names are accepted too", path: "/v1/text:generate", body: `{"model": "echo", "prompt": "one two three", "text": {"max_tokens": 16}}`, golden: "generate_text"},
		{name: "audio", path: "/v1/audio:generate", body: `{"prompt": "Hello there. Bye.", "audio": {"sampleRate": 16000}}`, golden: "generate_audio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := env.do(t, "POST", tc.path, tc.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d; body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			for k := range resp.Header {
				if strings.HasPrefix(k, "Grpc-") {
					t.Errorf("gRPC metadata leaked into HTTP header %s", k)
				}
			}
			checkGolden(t, tc.golden, body)
		})
	}
}

func TestListModels(t *testing.T) {
	env := newTestServer(t)
	resp, body := env.do(t, "GET", "/v1/text/models", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; body %s", resp.StatusCode, body)
	}
	checkGolden(t, "text_models", body)
}

func TestStreamGenerate(t *testing.T) {
	env := newTestServer(t)
	for _, tc := range []struct {
		name, path, body, golden string
	}{
		{name: "text deltas then done", path: "/v1/text:streamGenerate", body: `{"model": "echo", "prompt": "one two three"}`, golden: "stream_text"},
		{name: "audio segments then done", path: "/v1/audio:streamGenerate", body: `{"prompt": "Hello there. Bye."}`, golden: "stream_audio"},
		{name: "failure after the first chunk is an error line", path: "/v1/text:streamGenerate", body: `{"model": "break", "prompt": "x"}`, golden: "stream_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := env.do(t, "POST", tc.path, tc.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d; body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != gateway.ContentTypeNDJSON {
				t.Errorf("Content-Type %q, want %q", ct, gateway.ContentTypeNDJSON)
			}
			checkGoldenLines(t, tc.golden, ndjson(t, body))
		})
	}
}

// TestStreamFlushesEachMessage reads the first line while the backend is
// still generating: it can only arrive if the gateway flushed it.
func TestStreamFlushesEachMessage(t *testing.T) {
	env := newTestServer(t)
	resp := env.send(t, context.Background(), "POST", "/v1/text:streamGenerate", `{"model": "step", "prompt": "x"}`)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the first line: %v", err)
	}
	if want := `{"result":{"delta":{"text":"first"}}}`; compactJSON(t, first) != want {
		t.Errorf("first line %s, want %s", first, want)
	}
	close(env.text.Release)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	lines := ndjson(t, rest)
	if len(lines) != 1 || !strings.Contains(lines[0], `"done"`) {
		t.Errorf("after release got %q, want one done line", lines)
	}
}

func compactJSON(tb testing.TB, s string) string {
	tb.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		tb.Fatalf("not JSON: %s", s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestPipelines(t *testing.T) {
	env := newTestServer(t)
	t.Run("list", func(t *testing.T) {
		resp, body := env.do(t, "GET", "/v1/pipelines", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d; body %s", resp.StatusCode, body)
		}
		checkGolden(t, "pipelines", body)
	})
	t.Run("get", func(t *testing.T) {
		resp, body := env.do(t, "GET", "/v1/pipelines/echo", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d; body %s", resp.StatusCode, body)
		}
		if !strings.Contains(string(body), `"name":"echo"`) && !strings.Contains(compactJSON(t, string(body)), `"name":"echo"`) {
			t.Errorf("body %s", body)
		}
	})
	t.Run("run", func(t *testing.T) {
		resp, body := env.do(t, "POST", "/v1/pipelines/echo:run", `{"inputs": {"topic": "cats"}}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d; body %s", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != gateway.ContentTypeNDJSON {
			t.Errorf("Content-Type %q", ct)
		}
		checkGoldenLines(t, "stream_pipeline", ndjson(t, body))
	})
}

func TestQueueFull(t *testing.T) {
	env := newTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan *http.Response, 1)
	go func() {
		// Not env.send: no t.Fatal off the test goroutine.
		req, _ := http.NewRequestWithContext(ctx, "POST", env.url+"/v1/audio:generate", strings.NewReader(`{"model": "hold", "prompt": "x"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := env.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		held <- resp
	}()
	env.audio.Wait(t, "started")

	resp, body := env.do(t, "POST", "/v1/audio:generate", `{"model": "voice", "prompt": "Hello."}`)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429; body %s", resp.StatusCode, body)
	}
	// The service's RetryInfo (genai.QueueFullRetryDelay), in whole seconds.
	if got, want := resp.Header.Get("Retry-After"), strconv.Itoa(int(genai.QueueFullRetryDelay.Seconds())); got != want {
		t.Errorf("Retry-After %q, want %q", got, want)
	}
	if e := decodeError(t, body); e.reason() != "QUEUE_FULL" || codes.Code(e.Code) != codes.ResourceExhausted {
		t.Errorf("body %s", body)
	}
	checkGolden(t, "error_queue_full", body)
	cancel()
	<-held
	env.audio.Wait(t, "canceled")
}

func TestUpstreamDown(t *testing.T) {
	env := newTestServer(t, envOptions{audioAddr: deadAddr(t)})
	resp, body := env.do(t, "POST", "/v1/audio:generate", `{"prompt": "Hello."}`)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503; body %s", resp.StatusCode, body)
	}
	e := decodeError(t, body)
	if codes.Code(e.Code) != codes.Unavailable || e.reason() != "UPSTREAM_UNAVAILABLE" {
		t.Errorf("body %s", body)
	}
	if strings.Contains(e.Message, "127.0.0.1") {
		t.Errorf("message leaks the upstream address: %q", e.Message)
	}
	checkGolden(t, "error_upstream_down", body)

	// Audio down leaves the gateway ready (degraded); only ?all waits for it.
	for _, tc := range []struct {
		path string
		want int
	}{{"/readyz", http.StatusOK}, {"/readyz?all", http.StatusServiceUnavailable}} {
		resp, body = env.do(t, "GET", tc.path, "")
		if resp.StatusCode != tc.want {
			t.Fatalf("%s status %d, want %d; body %s", tc.path, resp.StatusCode, tc.want, body)
		}
		r := decodeReadiness(t, body)
		if got := r.Upstreams[2]; got.Name != "audio" || got.Ready || got.Required || got.Status != "UNAVAILABLE" || !r.Degraded {
			t.Errorf("%s: audio reported %+v (degraded %v)", tc.path, got, r.Degraded)
		}
		if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "refused") {
			t.Errorf("%s publishes an address or a transport error: %s", tc.path, body)
		}
	}
}

func TestDefaultDeadline(t *testing.T) {
	env := newTestServer(t, envOptions{config: func(c *gateway.Config) { c.RequestTimeout = 100 * time.Millisecond }})
	resp, body := env.do(t, "POST", "/v1/text:generate", `{"model": "hold", "prompt": "x"}`)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504; body %s", resp.StatusCode, body)
	}
	if e := decodeError(t, body); codes.Code(e.Code) != codes.DeadlineExceeded {
		t.Errorf("body %s", body)
	}
}

func TestClientDeadlineWins(t *testing.T) {
	// The configured default would let this run for a minute; the client's
	// Grpc-Timeout cuts it short.
	env := newTestServer(t, envOptions{config: func(c *gateway.Config) { c.RequestTimeout = time.Minute }})
	resp, body := env.do(t, "POST", "/v1/text:generate", `{"model": "hold", "prompt": "x"}`, "Grpc-Timeout", "100m")
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504; body %s", resp.StatusCode, body)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	for _, path := range []string{"/v1/text:generate", "/v1/text:streamGenerate"} {
		t.Run(path, func(t *testing.T) {
			env := newTestServer(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				req, _ := http.NewRequestWithContext(ctx, "POST", env.url+path, strings.NewReader(`{"model": "hold", "prompt": "x"}`))
				req.Header.Set("Content-Type", "application/json")
				if resp, err := env.client.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			env.text.Wait(t, "started")
			cancel()
			env.text.Wait(t, "canceled")
			<-done
		})
	}
}

func decodeReadiness(tb testing.TB, b []byte) gateway.Readiness {
	tb.Helper()
	var r gateway.Readiness
	if err := json.Unmarshal(b, &r); err != nil {
		tb.Fatalf("readyz body: %v\n%s", err, b)
	}
	var names []string
	for _, u := range r.Upstreams {
		names = append(names, u.Name)
	}
	if got := strings.Join(names, ","); got != "text,image,audio,embedding,orchestrator" {
		tb.Fatalf("readyz lists upstreams %s, want text,image,audio,embedding,orchestrator: %s", got, b)
	}
	return r
}

// TestReadyz: the gateway is ready while its core path (text, the
// orchestrator) serves, whatever image and audio say (they are reported,
// and the answer is marked degraded); /readyz?all is ready only when every
// upstream serves. The body never names an address or quotes an error.
func TestReadyz(t *testing.T) {
	audioAddr, audioHealth := startHealthOnly(t)
	textAddr, textHealth := startHealthOnly(t)
	const audioService, textService = "chorus.genai.v1.AudioService", "chorus.genai.v1.TextService"
	env := newTestServer(t, envOptions{audioAddr: audioAddr, config: func(c *gateway.Config) { c.TextAddr = textAddr }})

	for _, step := range []struct {
		name               string
		text, audio        healthpb.HealthCheckResponse_ServingStatus
		wantReady, wantAll int
		wantDegraded       bool
	}{
		{name: "all serving", text: healthpb.HealthCheckResponse_SERVING, audio: healthpb.HealthCheckResponse_SERVING, wantReady: 200, wantAll: 200},
		{name: "audio not serving", text: healthpb.HealthCheckResponse_SERVING, audio: healthpb.HealthCheckResponse_NOT_SERVING, wantReady: 200, wantAll: 503, wantDegraded: true},
		{name: "text not serving", text: healthpb.HealthCheckResponse_NOT_SERVING, audio: healthpb.HealthCheckResponse_SERVING, wantReady: 503, wantAll: 503},
		{name: "all back", text: healthpb.HealthCheckResponse_SERVING, audio: healthpb.HealthCheckResponse_SERVING, wantReady: 200, wantAll: 200},
	} {
		textHealth.SetServingStatus(textService, step.text)
		audioHealth.SetServingStatus(audioService, step.audio)
		for _, path := range []string{"/readyz", "/readyz?all"} {
			want := step.wantReady
			if path == "/readyz?all" {
				want = step.wantAll
			}
			resp, body := env.do(t, "GET", path, "")
			if resp.StatusCode != want {
				t.Fatalf("%s %s: status %d, want %d; body %s", step.name, path, resp.StatusCode, want, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", step.name, ct)
			}
			if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "error") {
				t.Errorf("%s %s: the body names an address or an error: %s", step.name, path, body)
			}
			r := decodeReadiness(t, body)
			if r.Ready != (want == 200) || r.Degraded != step.wantDegraded {
				t.Errorf("%s %s: ready %v degraded %v", step.name, path, r.Ready, r.Degraded)
			}
			for _, u := range r.Upstreams {
				wantStatus := healthpb.HealthCheckResponse_SERVING
				switch u.Name {
				case "text":
					wantStatus = step.text
				case "audio":
					wantStatus = step.audio
				}
				if u.Status != wantStatus.String() || u.Ready != (wantStatus == healthpb.HealthCheckResponse_SERVING) || u.Required != (u.Name == "text" || u.Name == "orchestrator") {
					t.Errorf("%s: %s reported %+v, want status %s", step.name, u.Name, u, wantStatus)
				}
			}
		}
	}
	// What the body leaves out is in the log, once per change.
	logs := env.logs.String()
	if n := strings.Count(logs, `"upstream not ready"`); n != 2 || !strings.Contains(logs, audioAddr) || !strings.Contains(logs, "audio reports NOT_SERVING") {
		t.Errorf("the log has %d not-ready lines, want 2 (audio, then text) naming the address and the status:\n%s", n, logs)
	}
}

func TestReadyzUnknownService(t *testing.T) {
	// A server that does not know the service is not ready: the address is
	// probably wrong.
	audioAddr, _ := startHealthOnly(t)
	env := newTestServer(t, envOptions{audioAddr: audioAddr})
	resp, body := env.do(t, "GET", "/readyz?all", "")
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503; body %s", resp.StatusCode, body)
	}
	if got := decodeReadiness(t, body).Upstreams[2]; got.Status != "NOT_FOUND" || got.Ready {
		t.Errorf("audio reported %+v", got)
	}
}

func TestHealthz(t *testing.T) {
	env := newTestServer(t, envOptions{audioAddr: deadAddr(t)})
	resp, body := env.do(t, "GET", "/healthz", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; body %s", resp.StatusCode, body)
	}
}

func TestOpenAPI(t *testing.T) {
	env := newTestServer(t)
	resp, body := env.do(t, "GET", "/openapi.json", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var doc struct {
		Swagger string                     `json:"swagger"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	for _, p := range []string{
		"/v1/text:generate", "/v1/text:streamGenerate", "/v1/text/models",
		"/v1/image:generate", "/v1/image:streamGenerate", "/v1/image/models",
		"/v1/audio:generate", "/v1/audio:streamGenerate", "/v1/audio/models",
		"/v1/pipelines", "/v1/pipelines/{name}", "/v1/pipelines/{name}:run",
	} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	env := newTestServer(t, envOptions{config: func(c *gateway.Config) { c.MaxBodyBytes = 1024 }})
	big := `{"prompt": "` + strings.Repeat("a", 2048) + `"}`
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{name: "declared length", body: strings.NewReader(big)},
		// A reader of unknown length makes the client send it chunked, so
		// the limit is hit while decoding.
		{name: "chunked", body: io.MultiReader(strings.NewReader(big))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", env.url+"/v1/text:generate", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := env.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413; body %s", resp.StatusCode, body)
			}
			if e := decodeError(t, body); e.reason() != gateway.ReasonBodyTooLarge {
				t.Errorf("body %s", body)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	const origin = "https://app.example"
	preflight := []string{"Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"}
	t.Run("off by default", func(t *testing.T) {
		env := newTestServer(t)
		resp, _ := env.do(t, "GET", "/v1/text/models", "", "Origin", origin)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin %q with CORS off", got)
		}
		resp, _ = env.do(t, "OPTIONS", "/v1/text:generate", "", preflight...)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("preflight status %d with CORS off, want 405", resp.StatusCode)
		}
	})
	t.Run("allowed origin", func(t *testing.T) {
		env := newTestServer(t, envOptions{config: func(c *gateway.Config) { c.CORSOrigins = []string{origin} }})
		resp, _ := env.do(t, "OPTIONS", "/v1/text:generate", "", preflight...)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("preflight status %d, want 204", resp.StatusCode)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("Access-Control-Allow-Origin %q", got)
		}
		if got := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
			t.Errorf("Access-Control-Allow-Methods %q", got)
		}
		resp, _ = env.do(t, "GET", "/v1/text/models", "", "Origin", origin)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("GET: Access-Control-Allow-Origin %q", got)
		}
		resp, _ = env.do(t, "GET", "/v1/text/models", "", "Origin", "https://evil.example")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("other origin: Access-Control-Allow-Origin %q", got)
		}
	})
}

// TestTraceContinues checks that a trace starts at the gateway and that the
// upstream handler runs in the same trace.
func TestTraceContinues(t *testing.T) {
	env := newTestServer(t)
	resp, body := env.do(t, "POST", "/v1/text:generate", `{"model": "trace", "prompt": "x"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; body %s", resp.StatusCode, body)
	}
	var out struct {
		Artifacts []struct{ Text string } `json:"artifacts"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Artifacts) != 1 {
		t.Fatalf("body %s", body)
	}
	upstreamTrace := out.Artifacts[0].Text
	if got := resp.Header.Get("X-Trace-Id"); got != upstreamTrace {
		t.Errorf("X-Trace-Id %q, want the upstream's trace %s", got, upstreamTrace)
	}
	found := false
	for _, s := range spans.Ended() {
		if s.Name() == "POST /v1/text:generate" && s.SpanContext().TraceID().String() == upstreamTrace {
			found = true
		}
	}
	if !found {
		t.Errorf("no gateway span POST /v1/text:generate in the upstream's trace %s", upstreamTrace)
	}
}

func TestRequestLog(t *testing.T) {
	env := newTestServer(t)
	const secret = "a-prompt-nobody-may-log"
	env.do(t, "POST", "/v1/pipelines/echo:run", `{"inputs": {"topic": "`+secret+`"}}`)
	logs := env.logs.String()
	if strings.Contains(logs, secret) {
		t.Errorf("the logs hold the request body:\n%s", logs)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "http" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no request log line in:\n%s", logs)
	}
	if line["route"] != "/v1/pipelines/{name}:run" || line["method"] != "POST" || line["status"] != float64(200) {
		t.Errorf("log line %v", line)
	}
	if _, ok := line["duration_ms"]; !ok {
		t.Errorf("log line %v has no duration", line)
	}
}

// TestServeShutsDownGracefully runs the real server: a request in flight
// when shutdown begins finishes; the server then returns.
func TestServeShutsDownGracefully(t *testing.T) {
	env := newTestServer(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- env.gateway.Serve(ctx, lis, 10*time.Second) }()

	url := "http://" + lis.Addr().String()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(url+"/v1/text:streamGenerate", "application/json", strings.NewReader(`{"model": "step", "prompt": "x"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatalf("first line: %v", err)
	}
	stop() // shutdown begins with the stream in flight
	close(env.text.Release)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("the in-flight stream was cut: %v", err)
	}
	if !strings.Contains(string(rest), `"done"`) {
		t.Errorf("the in-flight stream did not finish: %s", rest)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     gateway.Config
		wantErr string
	}{
		{name: "ok", cfg: gateway.Config{TextAddr: "a:1", ImageAddr: "b:2", AudioAddr: "c:3", EmbedAddr: "e:5", OrchestratorAddr: "d:4"}},
		{name: "missing upstream", cfg: gateway.Config{TextAddr: "a:1", ImageAddr: "b:2", AudioAddr: "c:3", EmbedAddr: "e:5"}, wantErr: "-orchestrator-addr is empty"},
		{name: "missing embedding upstream", cfg: gateway.Config{TextAddr: "a:1", ImageAddr: "b:2", AudioAddr: "c:3", OrchestratorAddr: "d:4"}, wantErr: "-embed-addr is empty"},
		{name: "bad origin", cfg: gateway.Config{TextAddr: "a:1", ImageAddr: "b:2", AudioAddr: "c:3", EmbedAddr: "e:5", OrchestratorAddr: "d:4", CORSOrigins: []string{"app.example"}}, wantErr: "not an origin"},
		{name: "negative timeout", cfg: gateway.Config{TextAddr: "a:1", ImageAddr: "b:2", AudioAddr: "c:3", EmbedAddr: "e:5", OrchestratorAddr: "d:4", RequestTimeout: -time.Second}, wantErr: "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if got := gateway.ParseOrigins(" https://a.example/, ,*"); !slices.Equal(got, []string{"https://a.example", "*"}) {
		t.Errorf("ParseOrigins: %q", got)
	}
}
