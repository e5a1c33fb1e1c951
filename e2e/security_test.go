package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chorus-ai/chorus/e2e/internal/suite"
)

// The suite's keys in TestSecurity: two accepted, the first also sent by
// the gateway and the orchestrator to their upstreams.
const (
	e2eKey      = "e2e-key-0123456789abcdef"
	e2eOtherKey = "e2e-other-key-0123456789"
)

// hostile is one request no client should send, and what the gateway must
// answer: a 4xx with a JSON body.
type hostile struct {
	name        string
	method      string
	path        string // sent verbatim, "../" and all
	body        string
	contentType string            // default application/json; "-" for none
	header      map[string]string // more headers
	noKey       bool              // send no Authorization
	want        int               // the exact status; 0 for any 4xx
}

// hostileRequests is the table docs/RELIABILITY.md counts.
func hostileRequests() []hostile {
	const (
		gen    = "/v1/text:generate"
		stream = "/v1/text:streamGenerate"
		image  = "/v1/image:generate"
		audio  = "/v1/audio:generate"
		run    = "/v1/pipelines/script-then-voiceover:run"
		chat   = "/v1/chat/completions"
		speech = "/v1/audio/speech"
	)
	return []hostile{
		// Malformed and mistyped JSON.
		{name: "truncated JSON", method: "POST", path: gen, body: `{"prompt": `, want: 400},
		{name: "array, not an object", method: "POST", path: gen, body: `[1, 2]`, want: 400},
		{name: "bare string", method: "POST", path: gen, body: `"hello"`, want: 400},
		{name: "JSON null", method: "POST", path: gen, body: `null`, want: 400},
		{name: "two objects", method: "POST", path: gen, body: `{"prompt": "a"} {"prompt": "b"}`, want: 400},
		{name: "duplicate field", method: "POST", path: gen, body: `{"prompt": "a", "prompt": "b"}`, want: 400},
		{name: "prompt is a number", method: "POST", path: gen, body: `{"prompt": 5}`, want: 400},
		{name: "prompt is an object", method: "POST", path: gen, body: `{"prompt": {"a": 1}}`, want: 400},
		{name: "maxTokens is a word", method: "POST", path: gen, body: `{"prompt": "a", "text": {"maxTokens": "many"}}`, want: 400},
		{name: "unknown field", method: "POST", path: gen, body: `{"prompt": "a", "promtp": "b"}`, want: 400},
		{name: "two option kinds", method: "POST", path: gen, body: `{"prompt": "a", "text": {}, "image": {}}`, want: 400},
		{name: "deep nesting", method: "POST", path: gen, body: strings.Repeat("[", 100000) + strings.Repeat("]", 100000), want: 400},
		{name: "empty body", method: "POST", path: gen, body: "", want: 400},
		// Sizes out of range.
		{name: "negative maxTokens", method: "POST", path: gen, body: `{"prompt": "a", "text": {"maxTokens": -1}}`, want: 400},
		{name: "maxTokens over int32", method: "POST", path: gen, body: `{"prompt": "a", "text": {"maxTokens": 99999999999}}`, want: 400},
		{name: "maxTokens over the limit", method: "POST", path: gen, body: `{"prompt": "a", "text": {"maxTokens": 2147483647}}`, want: 400},
		{name: "temperature NaN", method: "POST", path: gen, body: `{"prompt": "a", "text": {"temperature": "NaN"}}`, want: 400},
		{name: "temperature infinite", method: "POST", path: gen, body: `{"prompt": "a", "text": {"temperature": "Infinity"}}`, want: 400},
		{name: "negative topP", method: "POST", path: gen, body: `{"prompt": "a", "text": {"topP": -0.5}}`, want: 400},
		{name: "too many stops", method: "POST", path: gen, body: `{"prompt": "a", "text": {"stop": ["1","2","3","4","5","6","7","8","9"]}}`, want: 400},
		{name: "negative image width", method: "POST", path: image, body: `{"prompt": "a", "image": {"width": -512}}`, want: 400},
		{name: "huge image", method: "POST", path: image, body: `{"prompt": "a", "image": {"width": 65536, "height": 65536}}`, want: 400},
		{name: "a thousand images", method: "POST", path: image, body: `{"prompt": "a", "image": {"count": 1000}}`, want: 400},
		{name: "negative speech speed", method: "POST", path: audio, body: `{"prompt": "a", "audio": {"speed": -2}}`, want: 400},
		{name: "huge sample rate", method: "POST", path: audio, body: `{"prompt": "a", "audio": {"sampleRate": 2000000000}}`, want: 400},
		{name: "text options to audio", method: "POST", path: audio, body: `{"prompt": "a", "text": {"maxTokens": 5}}`, want: 400},
		{name: "prompt over the limit", method: "POST", path: gen, body: `{"prompt": "` + strings.Repeat("a", 40000) + `"}`, want: 400},
		{name: "speech prompt over the limit", method: "POST", path: audio, body: `{"prompt": "` + strings.Repeat("a", 5000) + `"}`, want: 400},
		{name: "body over 1 MiB", method: "POST", path: gen, body: `{"prompt": "` + strings.Repeat("a", 1<<20) + `"}`, want: 413},
		{name: "300 messages", method: "POST", path: gen, body: `{"messages": [` + strings.TrimSuffix(strings.Repeat(`{"role": "user", "content": "a"},`, 300), ",") + `]}`, want: 400},
		// Bad text.
		{name: "invalid UTF-8 in the prompt", method: "POST", path: gen, body: "{\"prompt\": \"a\xff\xfeb\"}", want: 400},
		{name: "lone surrogate escape", method: "POST", path: gen, body: `{"prompt": "a\ud800b"}`, want: 400},
		{name: "NUL in the prompt", method: "POST", path: gen, body: `{"prompt": "a\u0000b"}`, want: 400},
		{name: "ESC in a speech prompt", method: "POST", path: audio, body: `{"prompt": "\u001b[2J hello"}`, want: 400},
		{name: "control character in a message", method: "POST", path: gen, body: `{"messages": [{"role": "user", "content": "hi\u0007"}]}`, want: 400},
		{name: "unknown role", method: "POST", path: gen, body: `{"messages": [{"role": "root", "content": "hi"}]}`, want: 400},
		// Unknown names.
		{name: "unknown model", method: "POST", path: gen, body: `{"model": "gpt-17", "prompt": "a"}`, want: 404},
		{name: "unknown model, streamed", method: "POST", path: stream, body: `{"model": "gpt-17", "prompt": "a"}`, want: 404},
		{name: "model name over the limit", method: "POST", path: gen, body: `{"model": "` + strings.Repeat("m", 200) + `", "prompt": "a"}`, want: 400},
		{name: "unknown pipeline", method: "POST", path: "/v1/pipelines/no-such-pipeline:run", body: `{"inputs": {"topic": "a"}}`, want: 404},
		{name: "pipeline without its input", method: "POST", path: run, body: `{"inputs": {}}`, want: 400},
		{name: "pipeline inputs not a map", method: "POST", path: run, body: `{"inputs": "topic"}`, want: 400},
		{name: "unknown job", method: "GET", path: "/v1/jobs/no-such-job", want: 404},
		{name: "cancel an unknown job", method: "POST", path: "/v1/jobs/no-such-job:cancel", contentType: "-", want: 404},
		{name: "job of an unknown pipeline", method: "POST", path: "/v1/jobs", body: `{"pipeline": "no-such-pipeline", "inputs": {}}`},
		{name: "unknown route", method: "GET", path: "/v1/nothing-here", want: 404},
		{name: "wrong method", method: "DELETE", path: gen, want: 405},
		// Paths that try to leave the artifact store.
		{name: "artifact id with ../", method: "GET", path: "/v1/artifacts/../../../etc/passwd", want: 404},
		{name: "artifact id with encoded ../", method: "GET", path: "/v1/artifacts/..%2F..%2F..%2Fetc%2Fpasswd"},
		{name: "artifact id with encoded backslashes", method: "GET", path: "/v1/artifacts/..%5C..%5Cetc%5Cpasswd"},
		{name: "artifact id with a NUL", method: "GET", path: "/v1/artifacts/abc%00def"},
		{name: "unknown artifact", method: "GET", path: "/v1/artifacts/0123456789abcdef0123456789abcdef", want: 404},
		{name: "job id with ../", method: "GET", path: "/v1/jobs/..%2F..%2Fjobs.db"},
		// Content types a web page may send without a preflight.
		{name: "text/plain body", method: "POST", path: run, body: `{"inputs": {"topic": "a"}}`, contentType: "text/plain", want: 415},
		{name: "form body", method: "POST", path: gen, body: `prompt=a`, contentType: "application/x-www-form-urlencoded", want: 415},
		{name: "multipart body", method: "POST", path: gen, body: "--b--\r\n", contentType: "multipart/form-data; boundary=b", want: 415},
		{name: "body without a type", method: "POST", path: gen, body: `{"prompt": "a"}`, contentType: "-", want: 415},
		{name: "XML", method: "POST", path: gen, body: `<prompt>a</prompt>`, contentType: "application/xml", want: 415},
		// Headers.
		{name: "oversized header", method: "GET", path: "/v1/pipelines", header: map[string]string{"X-Padding": strings.Repeat("p", 200<<10)}, want: 431},
		{name: "malformed Grpc-Timeout", method: "POST", path: gen, body: `{"prompt": "a"}`, header: map[string]string{"Grpc-Timeout": "soon"}, want: 400},
		{name: "rebinding Host", method: "GET", path: "/v1/pipelines", header: map[string]string{"Host": "attacker.example"}, want: 421},
		{name: "no API key", method: "POST", path: gen, body: `{"prompt": "a"}`, noKey: true, want: 401},
		{name: "wrong API key", method: "GET", path: "/v1/pipelines", header: map[string]string{"Authorization": "Bearer " + e2eKey + "x"}, want: 401},
		{name: "Basic credentials", method: "GET", path: "/v1/pipelines", header: map[string]string{"Authorization": "Basic ZTJlOmtleQ=="}, want: 401},
		// The OpenAI-compatible routes.
		{name: "chat: messages not a list", method: "POST", path: chat, body: `{"model": "chorus-mini", "messages": "hi"}`, want: 400},
		{name: "chat: no messages", method: "POST", path: chat, body: `{"model": "chorus-mini"}`, want: 400},
		{name: "chat: unknown model", method: "POST", path: chat, body: `{"model": "gpt-17", "messages": [{"role": "user", "content": "hi"}]}`, want: 404},
		{name: "chat: negative max_tokens", method: "POST", path: chat, body: `{"model": "chorus-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}`, want: 400},
		{name: "chat: text/plain", method: "POST", path: chat, body: `{"model": "chorus-mini", "messages": [{"role": "user", "content": "hi"}]}`, contentType: "text/plain", want: 415},
		{name: "chat: no key", method: "POST", path: chat, body: `{"model": "chorus-mini", "messages": [{"role": "user", "content": "hi"}]}`, noKey: true, want: 401},
		{name: "speech: unknown format", method: "POST", path: speech, body: `{"model": "flite", "input": "hi", "response_format": "exe"}`, want: 400},
		{name: "speech: empty input", method: "POST", path: speech, body: `{"model": "flite", "input": ""}`, want: 400},
		{name: "images: absurd size", method: "POST", path: "/v1/images/generations", body: `{"prompt": "a", "size": "99999x99999"}`, want: 400},
	}
}

// TestSecurity runs the real suite with API keys and sends it the hostile
// requests: every one gets a 4xx with a JSON body, none a 5xx, and the
// suite serves on afterwards (its cleanup fails the test if any server
// recovered from a panic). It also proves the keys end to end: the
// orchestrator reaches the services with its upstream key.
func TestSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and starts the whole suite; run without -short")
	}
	s := suite.Start(t, suite.Options{Env: []string{
		"CHORUS_API_KEYS=" + e2eKey + "," + e2eOtherKey,
		"CHORUS_UPSTREAM_API_KEY=" + e2eKey,
	}})
	hc := &http.Client{Timeout: 2 * time.Minute}

	t.Run("hostile requests", func(t *testing.T) {
		table := hostileRequests()
		byStatus := map[int]int{}
		for _, h := range table {
			resp, body := sendRaw(t, hc, s.URL, h)
			byStatus[resp.StatusCode]++
			if h.want != 0 && resp.StatusCode != h.want || resp.StatusCode < 400 || resp.StatusCode >= 500 {
				want := "a 4xx"
				if h.want != 0 {
					want = fmt.Sprint(h.want)
				}
				t.Errorf("%s: %s %s: status %d, want %s; body %.300s", h.name, h.method, clipPath(h.path), resp.StatusCode, want, body)
				continue
			}
			if !strings.Contains(resp.Header.Get("Content-Type"), "json") || !json.Valid(body) {
				t.Errorf("%s: body is not JSON (%s): %.300s", h.name, resp.Header.Get("Content-Type"), body)
			}
			if strings.Contains(string(body), e2eKey) {
				t.Errorf("%s: the body echoes the key", h.name)
			}
		}
		var codes []string
		for code, n := range byStatus {
			codes = append(codes, fmt.Sprintf("%d×%d", code, n))
		}
		sort.Strings(codes)
		t.Logf("figure: hostile requests through the gateway: %d, answered %s", len(table), strings.Join(codes, ", "))
		if len(table) < 40 {
			t.Errorf("only %d hostile requests", len(table))
		}
	})

	t.Run("serves on afterwards, with keys end to end", func(t *testing.T) {
		resp, body := sendRaw(t, hc, s.URL, hostile{method: "GET", path: "/healthz", noKey: true})
		if resp.StatusCode != 200 {
			t.Fatalf("/healthz: %d %s", resp.StatusCode, body)
		}
		resp, body = sendRaw(t, hc, s.URL, hostile{method: "POST", path: "/v1/text:generate", body: `{"prompt": "Once upon a time", "text": {"maxTokens": 8}}`,
			header: map[string]string{"Authorization": "Bearer " + e2eOtherKey}})
		if resp.StatusCode != 200 || !strings.Contains(string(body), "artifacts") {
			t.Fatalf("generate with the second key: %d %.500s", resp.StatusCode, body)
		}
		// A pipeline: the orchestrator calls the text and audio services,
		// which refuse calls without a key.
		resp, body = sendRaw(t, hc, s.URL, hostile{method: "POST", path: "/v1/pipelines/script-then-voiceover:run", body: `{"inputs": {"topic": "keys"}}`})
		if resp.StatusCode != 200 {
			t.Fatalf("pipeline run: %d %.500s", resp.StatusCode, body)
		}
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		if last := lines[len(lines)-1]; !strings.Contains(last, "runCompleted") && !strings.Contains(last, "run_completed") {
			t.Fatalf("the run did not complete; last line %.500s\nlogs:\n%s", last, s.Logs())
		}
	})

	if strings.Contains(s.Logs(), e2eKey) || strings.Contains(s.Logs(), e2eOtherKey) {
		t.Error("an API key reached the suite's logs")
	}
}

// sendRaw sends h with its path verbatim (no cleaning of "../") and the
// suite's key unless h.noKey or h sets its own Authorization.
func sendRaw(tb testing.TB, hc *http.Client, base string, h hostile) (*http.Response, []byte) {
	tb.Helper()
	var r io.Reader
	if h.body != "" {
		r = bytes.NewReader([]byte(h.body))
	}
	req, err := http.NewRequest(h.method, base+"/", r)
	if err != nil {
		tb.Fatal(err)
	}
	req.URL.Opaque = h.path
	switch {
	case h.contentType == "-":
	case h.contentType != "":
		req.Header.Set("Content-Type", h.contentType)
	case h.body != "" || h.method == "POST":
		req.Header.Set("Content-Type", "application/json")
	}
	if !h.noKey {
		req.Header.Set("Authorization", "Bearer "+e2eKey)
	}
	for k, v := range h.header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("%s: %s %s: %v", h.name, h.method, clipPath(h.path), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s: reading the body: %v", h.name, err)
	}
	return resp, body
}

func clipPath(p string) string {
	if len(p) > 80 {
		return p[:80] + "..."
	}
	return p
}
