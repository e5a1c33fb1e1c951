package openaitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := New(opts)
	tb.Cleanup(s.Close)
	return s
}

func post(t *testing.T, s *Server, path, body string) *http.Response {
	t.Helper()
	resp, err := s.Client().Post(s.BaseURL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestChatUnary(t *testing.T) {
	s := newTestServer(t, Options{Text: "one two three"})
	resp := post(t, s, "/chat/completions", `{"model":"fake-model","messages":[{"role":"user","content":"hi there"}]}`)
	var got struct {
		Choices []struct {
			Message      struct{ Content string }
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Choices) != 1 || got.Choices[0].Message.Content != "one two three" || got.Choices[0].FinishReason != "stop" {
		t.Errorf("choices = %+v", got.Choices)
	}
	if got.Usage.PromptTokens != 2 || got.Usage.CompletionTokens != 3 {
		t.Errorf("usage = %+v", got.Usage)
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("recorded %d requests, want 1", n)
	}
}

func TestChatStream(t *testing.T) {
	s := newTestServer(t, Options{Text: "a b c", SSECRLF: true, SSEComments: true})
	resp := post(t, s, "/chat/completions", `{"messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":2}`)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var text strings.Builder
	var finish string
	var sawUsage, sawDone bool
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			sawDone = true
			continue
		}
		var c struct {
			Choices []struct {
				Delta        struct{ Content string }
				FinishReason *string `json:"finish_reason"`
			}
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
		if c.Usage != nil {
			sawUsage = c.Usage.CompletionTokens == 2
		}
	}
	if text.String() != "a b" || finish != "length" || !sawUsage || !sawDone {
		t.Errorf("text %q finish %q usage %v done %v", text.String(), finish, sawUsage, sawDone)
	}
}

func TestImages(t *testing.T) {
	s := newTestServer(t, Options{})
	for _, format := range []string{"b64_json", "url"} {
		resp := post(t, s, "/images/generations", `{"prompt":"a cat","n":2,"size":"64x32","response_format":"`+format+`"}`)
		var got struct {
			Data []struct {
				B64JSON string `json:"b64_json"`
				URL     string
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if len(got.Data) != 2 {
			t.Fatalf("%s: %d images", format, len(got.Data))
		}
		var b []byte
		if format == "b64_json" {
			var err error
			if b, err = base64.StdEncoding.DecodeString(got.Data[0].B64JSON); err != nil {
				t.Fatal(err)
			}
		} else {
			r, err := s.Client().Get(got.Data[0].URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(r.Body)
			r.Body.Close()
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width != 64 || cfg.Height != 32 {
			t.Errorf("%s: config %+v, %v", format, cfg, err)
		}
	}
}

func TestErrors(t *testing.T) {
	s := newTestServer(t, Options{APIKey: "k"})
	for _, tc := range []struct {
		name   string
		auth   string
		fail   *Failure
		path   string
		body   string
		status int
	}{
		{name: "no key", path: "/models", status: 401},
		{name: "unknown model", auth: "k", path: "/chat/completions", body: `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, status: 404},
		{name: "no messages", auth: "k", path: "/chat/completions", body: `{"messages":[]}`, status: 400},
		{name: "bad size", auth: "k", path: "/images/generations", body: `{"prompt":"x","size":"big"}`, status: 400},
		{name: "injected 429", auth: "k", fail: &Failure{Status: 429}, path: "/models", status: 429},
		{name: "injected 503", auth: "k", fail: &Failure{Status: 503, Message: "loading"}, path: "/models", status: 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fail != nil {
				s.FailNext(*tc.fail)
			}
			method := http.MethodPost
			if tc.body == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, s.BaseURL+tc.path, strings.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", "Bearer "+tc.auth)
			}
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body errorBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || body.Error.Message == "" {
				t.Errorf("status %d message %q, want %d", resp.StatusCode, body.Error.Message, tc.status)
			}
		})
	}
}

func TestCanceledAndGate(t *testing.T) {
	gate := make(chan struct{})
	s := newTestServer(t, Options{Gate: gate})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.BaseURL+"/chat/completions",
			strings.NewReader(`{"messages":[{"role":"user","content":"x"}]}`))
		resp, err := s.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := s.WaitRequests(wctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-s.Canceled():
	case <-wctx.Done():
		t.Fatal("the fake never saw the cancellation")
	}
	if err := <-errc; err == nil {
		t.Error("canceled request succeeded")
	}
}

func TestSplitDeltas(t *testing.T) {
	for _, text := range []string{"", "a", " a  b\nc ", "héllo wörld"} {
		if got := strings.Join(SplitDeltas(text), ""); got != text {
			t.Errorf("SplitDeltas(%q) joins to %q", text, got)
		}
	}
}
