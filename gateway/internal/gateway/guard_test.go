package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/apikey"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"

	"github.com/chorus-ai/chorus/gateway/internal/gateway"
)

const (
	keyA = "gateway-test-key-aaaaaaaa"
	keyB = "gateway-test-key-bbbbbbbb"
)

func TestAPIKeys(t *testing.T) {
	env := newTestServer(t, envOptions{config: func(c *gateway.Config) { c.Auth = apikey.Config{Keys: keyA + "," + keyB} }})
	tests := []struct {
		name       string
		method     string
		path, body string
		auth       string
		wantStatus int
		wantCode   string // the OpenAI error code, on OpenAI routes
	}{
		{name: "no key", method: "POST", path: "/v1/text:generate", body: `{"prompt": "a b"}`, wantStatus: 401},
		{name: "wrong key", method: "POST", path: "/v1/text:generate", body: `{"prompt": "a b"}`, auth: "Bearer " + keyA + "!", wantStatus: 401},
		{name: "key not as bearer", method: "POST", path: "/v1/text:generate", body: `{"prompt": "a b"}`, auth: keyA, wantStatus: 401},
		{name: "first key", method: "POST", path: "/v1/text:generate", body: `{"prompt": "a b"}`, auth: "Bearer " + keyA, wantStatus: 200},
		{name: "second key", method: "POST", path: "/v1/text:generate", body: `{"prompt": "a b"}`, auth: "Bearer " + keyB, wantStatus: 200},
		{name: "listing needs a key too", method: "GET", path: "/v1/pipelines", wantStatus: 401},
		{name: "artifacts need a key", method: "GET", path: "/v1/artifacts/abc", wantStatus: 401},
		{name: "OpenAI route without a key", method: "POST", path: "/v1/chat/completions", body: `{"model": "echo", "messages": [{"role": "user", "content": "hi"}]}`, wantStatus: 401, wantCode: "missing_api_key"},
		{name: "OpenAI route with a wrong key", method: "GET", path: "/v1/models", auth: "Bearer nope", wantStatus: 401, wantCode: "invalid_api_key"},
		{name: "OpenAI route with a key", method: "GET", path: "/v1/models", auth: "Bearer " + keyB, wantStatus: 200},
		{name: "liveness is open", method: "GET", path: "/healthz", wantStatus: 200},
		{name: "readiness is open", method: "GET", path: "/readyz", wantStatus: 200},
		// The test binary sets up no metrics: 503, but not 401.
		{name: "metrics are open", method: "GET", path: "/metrics", wantStatus: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			if tt.auth != "" {
				header = []string{"Authorization", tt.auth}
			}
			resp, body := env.do(t, tt.method, tt.path, tt.body, header...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus != 401 {
				return
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if strings.Contains(string(body), "gateway-test-key") {
				t.Errorf("the body echoes a key: %s", body)
			}
			if strings.HasPrefix(tt.path, "/v1/chat") || strings.HasPrefix(tt.path, "/v1/models") {
				e := decodeOpenAIError(t, body)
				if e.Error.Code == nil || *e.Error.Code != tt.wantCode || e.Error.Type != "invalid_request_error" {
					t.Errorf("OpenAI error body %s, want code %s", body, tt.wantCode)
				}
				return
			}
			if e := decodeError(t, body); e.Code != 16 || e.reason() != apikey.ReasonUnauthenticated {
				t.Errorf("body %s, want code 16 (UNAUTHENTICATED) with its reason", body)
			}
		})
	}
	if logs := env.logs.String(); strings.Contains(logs, "gateway-test-key") {
		t.Errorf("a key reached the logs:\n%s", logs)
	}
}

func TestUpstreamKey(t *testing.T) {
	upstream := apikey.Config{Keys: keyA}
	for _, tt := range []struct {
		name       string
		key        apikey.ClientKey
		wantStatus int
	}{
		// The upstream's UNAUTHENTICATED is a fault between the servers,
		// not the caller's: the caller sees INTERNAL.
		{name: "without the upstream key", wantStatus: 500},
		{name: "with the upstream key", key: keyA, wantStatus: 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestServer(t, envOptions{upstreamAuth: upstream, config: func(c *gateway.Config) { c.UpstreamKey = tt.key }})
			resp, body := env.do(t, "POST", "/v1/text:generate", `{"prompt": "a b"}`)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
		})
	}
}

func TestPostNeedsJSON(t *testing.T) {
	env := newTestServer(t)
	for _, tt := range []struct {
		name        string
		path        string
		contentType string // "-" sends none
		body        string
		want        int
	}{
		{name: "text/plain, as a form or fetch from any page sends", path: "/v1/pipelines/echo:run", contentType: "text/plain", body: `{"inputs": {"topic": "x"}}`, want: 415},
		{name: "text/plain with a charset", path: "/v1/text:generate", contentType: "text/plain;charset=UTF-8", body: `{"prompt": "x"}`, want: 415},
		{name: "form", path: "/v1/text:generate", contentType: "application/x-www-form-urlencoded", body: `{"prompt": "x"}`, want: 415},
		{name: "multipart", path: "/v1/text:generate", contentType: "multipart/form-data; boundary=x", body: "--x--", want: 415},
		{name: "no type with a body", path: "/v1/text:generate", contentType: "-", body: `{"prompt": "x"}`, want: 415},
		{name: "unparsable type", path: "/v1/text:generate", contentType: "application/json;;", body: `{"prompt": "x"}`, want: 415},
		{name: "OpenAI route, text/plain", path: "/v1/chat/completions", contentType: "text/plain", body: `{"model": "echo", "messages": [{"role": "user", "content": "hi"}]}`, want: 415},
		{name: "JSON", path: "/v1/text:generate", contentType: "application/json", body: `{"prompt": "x"}`, want: 200},
		{name: "JSON with a charset", path: "/v1/text:generate", contentType: "application/json; charset=utf-8", body: `{"prompt": "x"}`, want: 200},
		{name: "a +json type", path: "/v1/text:generate", contentType: "application/vnd.chorus+json", body: `{"prompt": "x"}`, want: 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", env.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "-" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := env.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body json.RawMessage
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.want, body)
			}
			if tt.want == 415 && !strings.Contains(strings.ToLower(string(body)), "unsupported_media_type") {
				t.Errorf("body %s names no reason", body)
			}
		})
	}
}

func TestHostAllowList(t *testing.T) {
	env := newTestServer(t, envOptions{config: func(c *gateway.Config) { c.AllowedHosts = gateway.LoopbackHosts }})
	for _, tt := range []struct {
		host string
		want int
	}{
		{host: "localhost:8080", want: 200},
		{host: "LOCALHOST", want: 200},
		{host: "127.0.0.1:8080", want: 200},
		{host: "[::1]:8080", want: 200},
		{host: "attacker.example:8080", want: 421},
		{host: "attacker.example", want: 421},
		{host: "localhost.attacker.example", want: 421},
		{host: "127.0.0.1.nip.io", want: 421},
	} {
		t.Run(tt.host, func(t *testing.T) {
			req, err := http.NewRequest("GET", env.url+"/v1/pipelines", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			resp, err := env.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("Host %s: status %d, want %d", tt.host, resp.StatusCode, tt.want)
			}
			if tt.want != 200 && resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("refusal is %s, want JSON", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestServerBindAndHostDefaults(t *testing.T) {
	base := gateway.DefaultServerConfig()
	base.Gateway.TextAddr, base.Gateway.ImageAddr, base.Gateway.AudioAddr, base.Gateway.EmbedAddr, base.Gateway.OrchestratorAddr = deadAddr(t), deadAddr(t), deadAddr(t), deadAddr(t), deadAddr(t)
	for _, tt := range []struct {
		name    string
		addr    string
		auth    apikey.Config
		refused bool
	}{
		{name: "loopback without keys", addr: "127.0.0.1:0"},
		{name: "all interfaces without keys", addr: "0.0.0.0:0", refused: true},
		{name: "empty host without keys", addr: ":0", refused: true},
		{name: "all interfaces, explicitly allowed", addr: "0.0.0.0:0", auth: apikey.Config{AllowInsecureBind: true}},
		{name: "all interfaces with keys", addr: "0.0.0.0:0", auth: apikey.Config{Keys: keyA}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.HTTP.Addr, cfg.Gateway.Auth = tt.addr, tt.auth
			srv, err := gateway.NewServer(context.Background(), cfg, discard())
			if (err != nil) != tt.refused {
				t.Fatalf("NewServer(%s): %v, want refused %v", tt.addr, err, tt.refused)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "-allow-insecure-bind") {
					t.Errorf("the refusal does not say how to allow it: %v", err)
				}
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()
			if tt.addr != "127.0.0.1:0" {
				return
			}
			// Bound to loopback, the gateway serves loopback names only.
			port := srv.Addr().(*net.TCPAddr).Port
			for host, want := range map[string]int{fmt.Sprintf("localhost:%d", port): 200, "rebound.example": 421} {
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/healthz", port), nil)
				req.Host = host
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("Host %s: status %d, want %d", host, resp.StatusCode, want)
				}
			}
			http.DefaultClient.CloseIdleConnections()
		})
	}
}

// floodBackend is a fake text backend whose one model streams large deltas
// until its request is canceled, then says so.
type floodBackend struct {
	canceled chan struct{}
	once     *sync.Once
}

func (floodBackend) Models() []*genaiv1.Model {
	return []*genaiv1.Model{{Name: "flood", Backend: "fake", Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_STREAMING}}}
}

func (f floodBackend) Generate(ctx context.Context, _ *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	defer f.once.Do(func() { close(f.canceled) })
	delta := strings.Repeat("flood ", 10<<10)
	for {
		if err := emit(genaitest.Delta(delta)); err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

func TestStalledReaderFreesItsSlot(t *testing.T) {
	flood := floodBackend{canceled: make(chan struct{}), once: &sync.Once{}}
	const writeTimeout = 300 * time.Millisecond
	env := newTestServer(t, envOptions{
		config: func(c *gateway.Config) { c.StreamWriteTimeout = writeTimeout },
		// One slot and no queue: while the stalled stream holds it, every
		// other flood request is refused.
		text: []genai.Route{{Backend: flood, Concurrency: 1, Queue: -1}},
	})
	u, err := url.Parse(env.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	body := `{"model": "flood", "prompt": "x"}`
	if _, err := fmt.Fprintf(conn, "POST /v1/text:streamGenerate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", u.Host, len(body), body); err != nil {
		t.Fatal(err)
	}
	// The client now never reads. The gateway's writes block once the
	// socket buffers are full, and the write deadline must end the stream.
	start := time.Now()
	select {
	case <-flood.canceled:
	case <-time.After(30 * time.Second):
		t.Fatal("the stalled client's stream still holds its backend slot after 30 s")
	}
	t.Logf("the stalled stream was canceled %s after it started (write timeout %s)", time.Since(start).Round(time.Millisecond), writeTimeout)
	// The slot is free: another request on the same one-slot route is
	// admitted (its own stream is read, and ends when the test does).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := env.send(t, ctx, "POST", "/v1/text:streamGenerate", `{"model": "flood", "prompt": "x"}`)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the stall: status %d, want 200", resp.StatusCode)
	}
	buf := make([]byte, 1024)
	if _, err := resp.Body.Read(buf); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("reading the second stream: %v", err)
	}
}

func TestSlowBodyIsCutOff(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	env := newTestServer(t, envOptions{config: func(c *gateway.Config) { c.BodyReadTimeout = readTimeout }})
	u, err := url.Parse(env.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Half a body, then silence.
	if _, err := fmt.Fprintf(conn, "POST /v1/text:generate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt\": ", u.Host); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	t.Logf("a stalled body was answered 400 after %s (read timeout %s)", time.Since(start).Round(time.Millisecond), readTimeout)
}

func TestRateLimitPerKey(t *testing.T) {
	// One request a second per key, in bursts of one.
	env := newTestServer(t, envOptions{config: func(c *gateway.Config) { c.Auth = apikey.Config{Keys: keyA + "," + keyB, RateLimit: 1} }})
	get := func(key, path string) (*http.Response, []byte) {
		return env.do(t, "GET", path, "", "Authorization", "Bearer "+key)
	}
	if resp, body := get(keyA, "/v1/pipelines"); resp.StatusCode != 200 {
		t.Fatalf("first request: %d %s", resp.StatusCode, body)
	}
	resp, body := get(keyA, "/v1/pipelines")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("second request at once: %d, Retry-After %q, want 429 and 1; body %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if e := decodeError(t, body); e.Code != 8 || e.reason() != apikey.ReasonRateLimited {
		t.Errorf("body %s, want RESOURCE_EXHAUSTED with its reason", body)
	}
	resp, body = get(keyA, "/v1/models")
	if e := decodeOpenAIError(t, body); resp.StatusCode != 429 || e.Error.Code == nil || *e.Error.Code != "rate_limit_exceeded" {
		t.Errorf("OpenAI route over the rate: %d %s", resp.StatusCode, body)
	}
	// Another key has its own bucket; probes have none.
	if resp, body := get(keyB, "/v1/pipelines"); resp.StatusCode != 200 {
		t.Errorf("the other key: %d %s", resp.StatusCode, body)
	}
	if resp, _ := env.do(t, "GET", "/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("/healthz over the rate: %d", resp.StatusCode)
	}
}
