package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/openaiapi"
	"github.com/chorus-ai/chorus/platform/openaitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestBackend starts a fake server with opts and a backend pointed at it;
// edit, when set, adjusts the backend's config first.
func newTestBackend(tb testing.TB, opts openaitest.Options, edit func(*Config)) (*Backend, *openaitest.Server) {
	return openaitest.NewBackend(tb, opts, func(c openaiapi.Config) Config { return Config{Config: c} }, edit, New)
}

func textRequest(prompt string) *genaiv1.GenerateRequest {
	return &genaiv1.GenerateRequest{Model: openaitest.DefaultModel, Prompt: prompt}
}

func noEmit(*genaiv1.GenerateChunk) error { return nil }

func TestGenerate(t *testing.T) {
	b, fake := newTestBackend(t, openaitest.Options{APIKey: "sk-test"}, nil)
	resp, err := b.Generate(context.Background(), textRequest("say hello please"), noEmit)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetArtifacts(); len(got) != 1 || got[0].GetText() != openaitest.DefaultText || got[0].GetMimeType() != "text/plain; charset=utf-8" {
		t.Errorf("artifacts = %v", got)
	}
	wantOut := int32(len(openaitest.SplitDeltas(openaitest.DefaultText)))
	if u := resp.GetUsage(); u.GetInputTokens() != 3 || u.GetOutputTokens() != wantOut {
		t.Errorf("usage = %v, want 3 in, %d out", u, wantOut)
	}
	if resp.GetFinishReason() != genaiv1.FinishReason_FINISH_REASON_STOP {
		t.Errorf("finish = %v", resp.GetFinishReason())
	}

	reqs := fake.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1/chat/completions" {
		t.Fatalf("requests = %+v", reqs)
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer sk-test" {
		t.Errorf("Authorization = %q", got)
	}
	var sent map[string]any
	if err := reqs[0].Decode(&sent); err != nil {
		t.Fatal(err)
	}
	if sent["model"] != openaitest.DefaultModel || sent["stream"] != true || sent["max_tokens"] != float64(genai.DefaultMaxTokens) {
		t.Errorf("sent %v", sent)
	}
	if so, _ := sent["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Errorf("stream_options = %v", sent["stream_options"])
	}
	msgs, _ := sent["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["role"] != "user" || msgs[0].(map[string]any)["content"] != "say hello please" {
		t.Errorf("messages = %v", msgs)
	}
	for _, absent := range []string{"temperature", "top_p", "seed", "stop", "top_k", "min_p", "repetition_penalty", "response_format"} {
		if _, ok := sent[absent]; ok {
			t.Errorf("sent %s although unset", absent)
		}
	}
}

func TestGenerateOptions(t *testing.T) {
	b, fake := newTestBackend(t, openaitest.Options{}, nil)
	req := &genaiv1.GenerateRequest{
		Model: openaitest.DefaultModel,
		Messages: []*genaiv1.Message{
			{Role: "system", Content: "be brief"},
			{Role: "user", Content: "hi"},
		},
		Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{
			MaxTokens: 2, Temperature: proto.Float32(0), TopP: proto.Float32(0.5), Seed: proto.Int64(7),
			Stop: []string{"\n\n"}, TopK: 40, JsonSchema: `{"type":"object","properties":{"a":{"type":"string"}}}`,
		}},
	}
	resp, err := b.Generate(context.Background(), req, noEmit)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetFinishReason() != genaiv1.FinishReason_FINISH_REASON_LENGTH || resp.GetUsage().GetOutputTokens() != 2 {
		t.Errorf("finish %v usage %v", resp.GetFinishReason(), resp.GetUsage())
	}
	var sent struct {
		Messages    []message
		MaxTokens   int      `json:"max_tokens"`
		Temperature *float32 `json:"temperature"`
		TopP        float32  `json:"top_p"`
		Seed        int64
		Stop        []string
		TopK        int `json:"top_k"`
		Format      struct {
			Type       string
			JSONSchema struct {
				Name   string
				Schema map[string]any
			} `json:"json_schema"`
		} `json:"response_format"`
	}
	if err := fake.Requests()[0].Decode(&sent); err != nil {
		t.Fatal(err)
	}
	if len(sent.Messages) != 2 || sent.Messages[0] != (message{"system", "be brief"}) || sent.MaxTokens != 2 ||
		sent.Temperature == nil || *sent.Temperature != 0 || sent.TopP != 0.5 || sent.Seed != 7 ||
		len(sent.Stop) != 1 || sent.TopK != 40 {
		t.Errorf("sent %+v", sent)
	}
	if f := sent.Format; f.Type != "json_schema" || f.JSONSchema.Name == "" || f.JSONSchema.Schema["type"] != "object" {
		t.Errorf("response_format = %+v", f)
	}
}

func TestGenerateStreamsDeltasInOrder(t *testing.T) {
	deltas := []string{"The", " quick", " brown", " fox", "."}
	b, _ := newTestBackend(t, openaitest.Options{Deltas: deltas, DeltaDelay: time.Millisecond, SSEComments: true, SSECRLF: true}, nil)
	var got []string
	resp, err := b.Generate(context.Background(), textRequest("go"), func(c *genaiv1.GenerateChunk) error {
		got = append(got, c.GetDelta().GetText())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != strings.Join(deltas, "|") {
		t.Errorf("deltas %q, want %q", got, deltas)
	}
	if text := resp.GetArtifacts()[0].GetText(); text != strings.Join(got, "") {
		t.Errorf("final text %q is not the deltas joined", text)
	}
	if resp.GetUsage().GetOutputTokens() != int32(len(deltas)) {
		t.Errorf("usage %v", resp.GetUsage())
	}
}

func TestGenerateEmitErrorStops(t *testing.T) {
	b, _ := newTestBackend(t, openaitest.Options{}, nil)
	stop := errors.New("client gone")
	_, err := b.Generate(context.Background(), textRequest("go"), func(*genaiv1.GenerateChunk) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want the emit error", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        openaitest.Options
		fail        *openaitest.Failure
		edit        func(*Config)
		ctx         func() (context.Context, context.CancelFunc)
		closed      bool
		want        codes.Code
		wantMsg     string // a substring of the status message
		notInStatus string // must not reach the client
	}{
		{name: "400 keeps the upstream message", fail: &openaitest.Failure{Status: 400, Message: "max_tokens is too large:\n 9999"},
			want: codes.InvalidArgument, wantMsg: "max_tokens is too large: 9999"},
		{name: "401 is a misconfigured key", fail: &openaitest.Failure{Status: 401, Message: "Incorrect API key provided: sk-abc***"},
			want: codes.FailedPrecondition, wantMsg: "-openai-api-key", notInStatus: "sk-abc"},
		{name: "403", fail: &openaitest.Failure{Status: 403}, want: codes.FailedPrecondition},
		{name: "wrong key", opts: openaitest.Options{APIKey: "right"}, edit: func(c *Config) { c.APIKey = "wrong" }, want: codes.FailedPrecondition},
		{name: "404", fail: &openaitest.Failure{Status: 404}, want: codes.NotFound},
		{name: "unknown upstream model", edit: func(c *Config) { c.Models = []string{"gone"} }, want: codes.NotFound, wantMsg: "gone"},
		{name: "429", fail: &openaitest.Failure{Status: 429}, want: codes.ResourceExhausted},
		{name: "500 hides the body", fail: &openaitest.Failure{Status: 500, Message: "Traceback: secret internals"},
			want: codes.Unavailable, notInStatus: "secret"},
		{name: "503", fail: &openaitest.Failure{Status: 503}, want: codes.Unavailable},
		{name: "connection refused", closed: true, want: codes.Unavailable},
		{name: "stream cut mid-way", opts: openaitest.Options{CutAfter: 2}, want: codes.Unavailable},
		{name: "caller deadline", opts: openaitest.Options{DeltaDelay: time.Hour},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 20*time.Millisecond)
			},
			want: codes.DeadlineExceeded, wantMsg: "deadline"},
		{name: "backend timeout", opts: openaitest.Options{DeltaDelay: time.Hour}, edit: func(c *Config) { c.Timeout = 20 * time.Millisecond },
			want: codes.DeadlineExceeded, wantMsg: "timeout"},
		{name: "canceled before the call", ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, want: codes.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, fake := newTestBackend(t, tc.opts, tc.edit)
			if tc.fail != nil {
				fake.FailNext(*tc.fail)
			}
			if tc.closed {
				fake.Close()
			}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			req := textRequest("hi")
			req.Model = b.Models()[0].GetName()
			_, err := b.Generate(ctx, req, noEmit)
			st := status.Convert(err)
			if st.Code() != tc.want {
				t.Fatalf("code %v (%v), want %v", st.Code(), err, tc.want)
			}
			if !strings.Contains(st.Message(), tc.wantMsg) {
				t.Errorf("message %q lacks %q", st.Message(), tc.wantMsg)
			}
			if tc.notInStatus != "" && strings.Contains(st.String(), tc.notInStatus) {
				t.Errorf("status %q leaks %q", st, tc.notInStatus)
			}
		})
	}
}

func TestCancellationReachesUpstream(t *testing.T) {
	b, fake := newTestBackend(t, openaitest.Options{Gate: make(chan struct{})}, nil)
	fake.CheckCancelReachesUpstream(t, func(ctx context.Context) error {
		_, err := b.Generate(ctx, textRequest("hi"), noEmit)
		return err
	})
}

func TestCancellationMidStream(t *testing.T) {
	b, fake := newTestBackend(t, openaitest.Options{Deltas: []string{"a", "b", "c"}, DeltaDelay: 5 * time.Millisecond}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := b.Generate(ctx, textRequest("hi"), func(*genaiv1.GenerateChunk) error {
		cancel() // the client goes away after the first delta
		return nil
	})
	if code := status.Code(err); code != codes.Canceled {
		t.Errorf("code %v (%v), want Canceled", code, err)
	}
	select {
	case <-fake.Canceled():
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream stream was not canceled")
	}
}

func TestDiscovery(t *testing.T) {
	b, _ := newTestBackend(t, openaitest.Options{Models: []string{"m1", "m2"}}, func(c *Config) { c.Models = nil })
	var names []string
	for _, m := range b.Models() {
		names = append(names, m.GetName())
	}
	if strings.Join(names, ",") != "m1,m2" {
		t.Errorf("models %v", names)
	}
}

func TestDiscoveryFailureIsTolerated(t *testing.T) {
	fake := openaitest.New(openaitest.Options{APIKey: "right"})
	defer fake.Close()
	var logs bytes.Buffer
	b, err := New(context.Background(), Config{Config: openaiapi.Config{BaseURL: fake.BaseURL, APIKey: "sk-wrong-secret"}}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Models()) != 0 {
		t.Errorf("models %v after a failed discovery", b.Models())
	}
	if !strings.Contains(logs.String(), "-openai-models") || strings.Contains(logs.String(), "sk-wrong-secret") {
		t.Errorf("log %s", logs.String())
	}
}

// The shared checks are platform/openaiapi's; the backend adds its example.
func TestConfigValidate(t *testing.T) {
	if err := (Config{Config: openaiapi.Config{BaseURL: "http://127.0.0.1:8000/v1"}}).Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	err := Config{Config: openaiapi.Config{BaseURL: "127.0.0.1:8000"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "such as http://127.0.0.1:8000/v1") {
		t.Errorf("Validate() = %v, want the vLLM example", err)
	}
}

func TestNewRequest(t *testing.T) {
	b, err := New(context.Background(), Config{Config: openaiapi.Config{BaseURL: "http://127.0.0.1:1/v1/", Models: []string{"m"}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// The minimal request: only the required fields.
	hreq, err := b.newRequest(context.Background(), &genaiv1.GenerateRequest{Model: "m", Prompt: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if hreq.Method != http.MethodPost || hreq.URL.String() != "http://127.0.0.1:1/v1/chat/completions" {
		t.Errorf("%s %s", hreq.Method, hreq.URL)
	}
	if ct, acc := hreq.Header.Get("Content-Type"), hreq.Header.Get("Accept"); ct != "application/json" || acc != "text/event-stream" {
		t.Errorf("Content-Type %q, Accept %q", ct, acc)
	}
	body, err := io.ReadAll(hreq.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":` + fmt.Sprint(genai.DefaultMaxTokens) +
		`,"stream":true,"stream_options":{"include_usage":true}}`
	if string(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
}

func TestReadStream(t *testing.T) {
	const (
		hello = `data: {"choices":[{"delta":{"content":"Hel"}}]}` + "\n\n" + `data: {"choices":[{"delta":{"content":"lo"}}]}` + "\n\n"
		stop  = `data: {"choices":[{"delta":{},"finish_reason":"length"}]}` + "\n\n"
		usage = `data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":9}}` + "\n\n"
		done  = "data: [DONE]\n\n"
	)
	for _, tc := range []struct {
		name       string
		body       string
		wantText   string
		wantIn     int32
		wantOut    int32
		wantFinish genaiv1.FinishReason
		wantCode   codes.Code
	}{
		{name: "usage", body: hello + stop + usage + done, wantText: "Hello", wantIn: 7, wantOut: 9, wantFinish: genaiv1.FinishReason_FINISH_REASON_LENGTH},
		{name: "no usage counts chunks", body: hello + done, wantText: "Hello", wantOut: 2},
		{name: "finished without done", body: hello + stop, wantText: "Hello", wantOut: 2, wantFinish: genaiv1.FinishReason_FINISH_REASON_LENGTH},
		{name: "cut short", body: hello, wantCode: codes.Unavailable},
		{name: "malformed", body: "data: {nope\n\n", wantCode: codes.Unavailable},
		{name: "error event", body: hello + `data: {"error":{"message":"overloaded"}}` + "\n\n", wantCode: codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var emitted strings.Builder
			resp, err := readStream(context.Background(), "m", strings.NewReader(tc.body), func(c *genaiv1.GenerateChunk) error {
				emitted.WriteString(c.GetDelta().GetText())
				return nil
			})
			if code := status.Code(err); code != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", code, err, tc.wantCode)
			}
			if err != nil {
				return
			}
			if got := resp.GetArtifacts()[0].GetText(); got != tc.wantText || emitted.String() != tc.wantText || resp.GetModel() != "m" {
				t.Errorf("text %q, emitted %q, model %q; want %q", got, emitted.String(), resp.GetModel(), tc.wantText)
			}
			if u := resp.GetUsage(); u.GetInputTokens() != tc.wantIn || u.GetOutputTokens() != tc.wantOut {
				t.Errorf("usage %v, want %d in, %d out", u, tc.wantIn, tc.wantOut)
			}
			if resp.GetFinishReason() != tc.wantFinish {
				t.Errorf("finish %v, want %v", resp.GetFinishReason(), tc.wantFinish)
			}
		})
	}
}

// readAll reads every event from an SSE body.
func readAll(body string) ([]sseEvent, error) {
	r := newSSEReader(strings.NewReader(body))
	var out []sseEvent
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
		out = append(out, ev)
	}
}

func TestSSEReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		want    []string
		wantErr error
	}{
		{name: "lf", body: "data: a\n\ndata: b\n\n", want: []string{"a", "b"}},
		{name: "crlf", body: "data: a\r\n\r\ndata: b\r\n\r\n", want: []string{"a", "b"}},
		{name: "cr", body: "data: a\r\rdata: b\r\r", want: []string{"a", "b"}},
		{name: "multi-line data", body: "data: a\ndata:b\ndata:  c\n\n", want: []string{"a\nb\n c"}},
		{name: "comments and other fields", body: ": ping\nevent: message\nid: 1\nretry: 10\ndata: x\n\n: bye\n", want: []string{"x"}},
		{name: "no space after colon", body: "data:[DONE]\n\n", want: []string{"[DONE]"}},
		{name: "field without colon", body: "data\n\n", want: []string{""}},
		{name: "event without data is dropped", body: "event: x\n\ndata: y\n\n", want: []string{"y"}},
		{name: "blank lines only", body: "\n\n\r\n", want: nil},
		{name: "cut inside an event", body: "data: a\n\ndata: {\"cho", want: []string{"a"}, wantErr: io.ErrUnexpectedEOF},
		{name: "cut before the blank line", body: "data: a\n", wantErr: io.ErrUnexpectedEOF},
		{name: "too long", body: "data: " + strings.Repeat("x", maxEvent+10) + "\n\n", wantErr: errEventTooLarge},
		{name: "too much data", body: strings.Repeat("data: "+strings.Repeat("x", 1000)+"\n", maxEvent/1000+1) + "\n", wantErr: errEventTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, err := readAll(tc.body)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			var got []string
			for _, ev := range events {
				got = append(got, ev.Data)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("data %q, want %q", got, tc.want)
			}
		})
	}
}

// The CRLF split across reads must not produce an extra blank line.
func TestSSEReaderSplitCRLF(t *testing.T) {
	r := newSSEReader(io.MultiReader(strings.NewReader("data: a\r"), strings.NewReader("\ndata: b\r"), strings.NewReader("\n\r\n")))
	ev, err := r.Next()
	if err != nil || ev.Data != "a\nb" {
		t.Errorf("got %q, %v", ev.Data, err)
	}
}

func FuzzSSEReader(f *testing.F) {
	for _, seed := range []string{
		"data: a\n\n", "data: a\r\n\r\n", "data: a\r\r", ": c\ndata:x\ndata: y\n\n", "data: [DONE]\n\n",
		"data", "\r", "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n", "event:\n\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		events, _ := readAll(body) // must not panic or loop
		for _, ev := range events {
			if strings.ContainsAny(ev.Data, "\r") {
				t.Errorf("event data %q holds a CR", ev.Data)
			}
		}
		// Round trip: any CR-free text sent as data lines comes back whole.
		text := strings.ReplaceAll(body, "\r", "")
		var enc strings.Builder
		for line := range strings.SplitSeq(text, "\n") {
			enc.WriteString("data: " + line + "\n")
		}
		enc.WriteString("\n")
		got, err := readAll(enc.String())
		if err != nil || len(got) != 1 || got[0].Data != text {
			if len(text) < maxEvent/2 {
				t.Errorf("round trip of %q: %v, %v", text, got, err)
			}
		}
	})
}

// A server that ignores stream: true and answers with one JSON completion
// (the fake's non-streaming path, reached by proxying with stream off).
func TestGenerateNonStreamingServer(t *testing.T) {
	fake := openaitest.New(openaitest.Options{Text: "plain answer here"})
	defer fake.Close()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body["stream"] = false
		data, _ := json.Marshal(body)
		resp, err := fake.Client().Post(fake.BaseURL+"/chat/completions", "application/json", bytes.NewReader(data))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	b, err := New(context.Background(), Config{Config: openaiapi.Config{BaseURL: proxy.URL + "/v1", Models: []string{openaitest.DefaultModel}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	resp, err := b.Generate(context.Background(), textRequest("one two"), func(c *genaiv1.GenerateChunk) error {
		deltas = append(deltas, c.GetDelta().GetText())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetArtifacts()[0].GetText() != "plain answer here" || len(deltas) != 1 || deltas[0] != "plain answer here" {
		t.Errorf("text %q, deltas %q", resp.GetArtifacts()[0].GetText(), deltas)
	}
	if u := resp.GetUsage(); u.GetInputTokens() != 2 || u.GetOutputTokens() != 3 || resp.GetFinishReason() != genaiv1.FinishReason_FINISH_REASON_STOP {
		t.Errorf("usage %v finish %v", u, resp.GetFinishReason())
	}
}
