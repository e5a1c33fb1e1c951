package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/wav"
)

// recorder is a fake chat model: it answers with the last message (or the
// prompt), one delta per word, stopping at max_tokens words with
// finish_reason length, and keeps the last request it served so that tests
// can check how OpenAI's parameters were translated.
type recorder struct {
	mu   sync.Mutex
	last *genaiv1.GenerateRequest
}

func (*recorder) Models() []*genaiv1.Model {
	return []*genaiv1.Model{{
		Name: "recorder", Backend: "fake",
		Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_CHAT, genaiv1.Capability_CAPABILITY_STREAMING},
	}}
}

func (r *recorder) Generate(_ context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	r.mu.Lock()
	r.last = proto.Clone(req).(*genaiv1.GenerateRequest)
	r.mu.Unlock()
	text := req.GetPrompt()
	if msgs := req.GetMessages(); len(msgs) > 0 {
		text = msgs[len(msgs)-1].GetContent()
	}
	words := strings.Fields(text)
	finish := genaiv1.FinishReason_FINISH_REASON_STOP
	if n := genai.MaxTokens(req); len(words) > n {
		words, finish = words[:n], genaiv1.FinishReason_FINISH_REASON_LENGTH
	}
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Delta{Delta: &genaiv1.TextDelta{Text: w}}}); err != nil {
			return nil, err
		}
	}
	return &genaiv1.GenerateResponse{
		Artifacts:    []*genaiv1.Artifact{{MimeType: "text/plain; charset=utf-8", Content: &genaiv1.Artifact_Text{Text: strings.Join(words, " ")}}},
		Usage:        &genaiv1.Usage{InputTokens: int32(len(strings.Fields(text))), OutputTokens: int32(len(words))},
		FinishReason: finish,
	}, nil
}

func (r *recorder) request() *genaiv1.GenerateRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// painter is a fake image model: each image is a PNG of the requested size
// (default 64x64), filled with one grey per image.
type painter struct{}

func (painter) Models() []*genaiv1.Model {
	return []*genaiv1.Model{{Name: "fake-painter", Backend: "fake", Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_TEXT_TO_IMAGE}}}
}

func (painter) Generate(_ context.Context, req *genaiv1.GenerateRequest, _ func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	o := req.GetImage()
	w, h, n := int(o.GetWidth()), int(o.GetHeight()), int(max(o.GetCount(), 1))
	if w == 0 {
		w = 64
	}
	if h == 0 {
		h = 64
	}
	resp := &genaiv1.GenerateResponse{Usage: &genaiv1.Usage{Images: int32(n)}}
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for p := range img.Pix {
			img.Pix[p] = uint8(40 * (i + 1))
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return nil, err
		}
		resp.Artifacts = append(resp.Artifacts, &genaiv1.Artifact{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: buf.Bytes()}})
	}
	return resp, nil
}

func newOpenAIServer(tb testing.TB) (*testEnv, *recorder) {
	tb.Helper()
	rec := &recorder{}
	env := newTestServer(tb, envOptions{text: []genai.Route{{Backend: rec}}, image: painter{}})
	return env, rec
}

// openAIError is OpenAI's error body.
type openAIError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func decodeOpenAIError(tb testing.TB, b []byte) openAIError {
	tb.Helper()
	var e openAIError
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
		tb.Fatalf("not an OpenAI error body (%v):\n%s", err, b)
	}
	return e
}

func (e openAIError) param() string {
	if e.Error.Param == nil {
		return ""
	}
	return *e.Error.Param
}

func (e openAIError) code() string {
	if e.Error.Code == nil {
		return ""
	}
	return *e.Error.Code
}

// sseEvents splits an SSE body into its data payloads, checking that every
// event is one `data: ` line followed by a blank line.
func sseEvents(tb testing.TB, b []byte) []string {
	tb.Helper()
	var events []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	expectBlank := false
	for sc.Scan() {
		line := sc.Text()
		if expectBlank {
			if line != "" {
				tb.Fatalf("SSE event not followed by a blank line: %q\n%s", line, b)
			}
			expectBlank = false
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			tb.Fatalf("SSE line without data: %q\n%s", line, b)
		}
		events = append(events, data)
		expectBlank = true
	}
	return events
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Text  string `json:"text"`
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func TestOpenAIChatTranslatesParameters(t *testing.T) {
	env, rec := newOpenAIServer(t)
	tests := []struct {
		name       string
		body       string
		wantText   string
		wantFinish string
		check      func(*testing.T, *genaiv1.GenerateRequest)
	}{{
		name:       "minimal",
		body:       `{"messages":[{"role":"user","content":"hello big world"}]}`,
		wantText:   "hello big world",
		wantFinish: "stop",
		check: func(t *testing.T, r *genaiv1.GenerateRequest) {
			if o := r.GetText(); o.GetMaxTokens() != 0 || o.Temperature != nil || o.TopP != nil || o.Seed != nil || len(o.GetStop()) > 0 {
				t.Errorf("minimal request set options: %v", r)
			}
		},
	}, {
		name: "every option",
		body: `{"model":"recorder","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"one two "},{"type":"text","text":"three"}]}],
			"temperature":0.5,"top_p":0.9,"max_tokens":50,"stop":"\n","seed":7,"n":1,"user":"u1","presence_penalty":0}`,
		wantText:   "one two three",
		wantFinish: "stop",
		check: func(t *testing.T, r *genaiv1.GenerateRequest) {
			o := r.GetText()
			if r.GetModel() != "recorder" || o.GetTemperature() != 0.5 || o.GetTopP() != 0.9 || o.GetMaxTokens() != 50 ||
				o.GetSeed() != 7 || !slices.Equal(o.GetStop(), []string{"\n"}) {
				t.Errorf("options not translated: %v", r)
			}
			if len(r.GetMessages()) != 2 || r.GetMessages()[0].GetRole() != "system" || r.GetMessages()[1].GetContent() != "one two three" {
				t.Errorf("messages not translated: %v", r.GetMessages())
			}
		},
	}, {
		name:       "max_completion_tokens wins and cuts with length",
		body:       `{"model":"recorder","messages":[{"role":"user","content":"a b c d"}],"max_tokens":100,"max_completion_tokens":2,"stop":["x","y"]}`,
		wantText:   "a b",
		wantFinish: "length",
		check: func(t *testing.T, r *genaiv1.GenerateRequest) {
			if r.GetText().GetMaxTokens() != 2 || !slices.Equal(r.GetText().GetStop(), []string{"x", "y"}) {
				t.Errorf("options not translated: %v", r.GetText())
			}
		},
	}, {
		name: "response_format json_schema",
		body: `{"model":"recorder","messages":[{"role":"user","content":"a b"}],
			"response_format":{"type":"json_schema","json_schema":{"name":"rec","strict":true,"schema":{"type":"object","properties":{"n":{"type":"integer"}}}}}}`,
		wantText:   "a b",
		wantFinish: "stop",
		check: func(t *testing.T, r *genaiv1.GenerateRequest) {
			var schema map[string]any
			if err := json.Unmarshal([]byte(r.GetText().GetJsonSchema()), &schema); err != nil || schema["type"] != "object" {
				t.Errorf("json_schema = %q (%v)", r.GetText().GetJsonSchema(), err)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if !strings.Contains(body, `"model"`) {
				// The minimal request names the recorder only through the route
				// default, which is the genaitest backend; name it here.
				body = strings.Replace(body, "{", `{"model":"recorder",`, 1)
			}
			resp, b := env.do(t, "POST", "/v1/chat/completions", body)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			var got struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Created int64  `json:"created"`
				Model   string `json:"model"`
				Choices []struct {
					Index   int `json:"index"`
					Message struct {
						Role    string `json:"role"`
						Content string `json:"content"`
					} `json:"message"`
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
				Usage struct {
					PromptTokens     int `json:"prompt_tokens"`
					CompletionTokens int `json:"completion_tokens"`
					TotalTokens      int `json:"total_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got.ID, "chatcmpl-") || got.Object != "chat.completion" || got.Created == 0 || got.Model != "recorder" {
				t.Errorf("envelope: %s", b)
			}
			if len(got.Choices) != 1 || got.Choices[0].Message.Role != "assistant" || got.Choices[0].Message.Content != tt.wantText || got.Choices[0].FinishReason != tt.wantFinish {
				t.Errorf("choices: %s, want content %q finish %q", b, tt.wantText, tt.wantFinish)
			}
			words := len(strings.Fields(tt.wantText))
			if got.Usage.CompletionTokens != words || got.Usage.TotalTokens != got.Usage.PromptTokens+words {
				t.Errorf("usage: %s", b)
			}
			tt.check(t, rec.request())
		})
	}
	if !strings.Contains(env.logs.String(), `"route":"POST /v1/chat/completions"`) {
		t.Errorf("the request log does not name the route:\n%s", env.logs)
	}
}

func TestOpenAIStreams(t *testing.T) {
	env, _ := newOpenAIServer(t)
	tests := []struct {
		name, path, body string
		wantObject       string
		wantText         string
		wantFinish       string
		wantUsage        bool
	}{
		{"chat with usage", "/v1/chat/completions", `{"model":"recorder","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"the sea is wide"}]}`,
			"chat.completion.chunk", "the sea is wide", "stop", true},
		{"chat cut by length", "/v1/chat/completions", `{"model":"recorder","stream":true,"max_tokens":2,"messages":[{"role":"user","content":"the sea is wide"}]}`,
			"chat.completion.chunk", "the sea", "length", false},
		{"completion, default model", "/v1/completions", `{"prompt":"once upon a time","stream":true}`,
			"text_completion", "once upon a time", "stop", false},
		{"completion with usage", "/v1/completions", `{"model":"echo","prompt":["one two"],"stream":true,"stream_options":{"include_usage":true}}`,
			"text_completion", "one two", "stop", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := env.do(t, "POST", tt.path, tt.body)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d, %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			events := sseEvents(t, b)
			if len(events) < 3 || events[len(events)-1] != "[DONE]" {
				t.Fatalf("stream does not end with [DONE]:\n%s", b)
			}
			var text, finish, id string
			var usage int
			for i, e := range events[:len(events)-1] {
				var c chunk
				if err := json.Unmarshal([]byte(e), &c); err != nil {
					t.Fatalf("event %d: %v: %s", i, err, e)
				}
				if c.Object != tt.wantObject || c.Model == "" || (id != "" && c.ID != id) {
					t.Errorf("event %d envelope: %s", i, e)
				}
				id = c.ID
				var raw map[string]json.RawMessage
				_ = json.Unmarshal([]byte(e), &raw)
				if _, has := raw["usage"]; has != tt.wantUsage {
					t.Errorf("event %d: usage present %v, want %v: %s", i, has, tt.wantUsage, e)
				}
				if c.Usage != nil {
					usage++
					if len(c.Choices) != 0 || c.Usage.CompletionTokens != len(strings.Fields(tt.wantText)) || i != len(events)-2 {
						t.Errorf("usage chunk %d: %s", i, e)
					}
				}
				for _, ch := range c.Choices {
					text += ch.Text + ch.Delta.Content
					if ch.FinishReason != nil {
						if finish != "" {
							t.Errorf("two finish reasons: %s", b)
						}
						finish = *ch.FinishReason
					}
				}
			}
			if text != tt.wantText || finish != tt.wantFinish {
				t.Errorf("streamed %q finish %q, want %q %q\n%s", text, finish, tt.wantText, tt.wantFinish, b)
			}
			if want := map[bool]int{true: 1}[tt.wantUsage]; usage != want {
				t.Errorf("%d usage chunks, want %d", usage, want)
			}
		})
	}
}

func TestOpenAIStreamFailsMidway(t *testing.T) {
	env, _ := newOpenAIServer(t)
	resp, b := env.do(t, "POST", "/v1/completions", `{"model":"break","prompt":"hi","stream":true}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	events := sseEvents(t, b)
	last := events[len(events)-1]
	if !strings.Contains(events[0], `"text":"partial"`) || slices.Contains(events, "[DONE]") {
		t.Fatalf("stream:\n%s", b)
	}
	e := decodeOpenAIError(t, []byte(last))
	// The backend's own deliberate UNAVAILABLE (reason BACKEND_DOWN) passes
	// through: it says what is down, and names no address.
	if e.Error.Type != "server_error" || e.code() != "backend_down" {
		t.Errorf("error event: %s", last)
	}
}

func TestOpenAIErrors(t *testing.T) {
	env, _ := newOpenAIServer(t)
	down := newTestServer(t, envOptions{audioAddr: deadAddr(t)})
	tests := []struct {
		name         string
		env          *testEnv
		method, path string
		body         string
		wantStatus   int
		wantType     string
		wantParam    string
		wantCode     string
	}{
		{"max_tokens over the limit", env, "POST", "/v1/chat/completions", `{"model":"recorder","messages":[{"role":"user","content":"hi"}],"max_tokens":9000}`,
			400, "invalid_request_error", "max_tokens", "invalid_argument"},
		{"max_completion_tokens over the limit", env, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":99999999999}`,
			400, "invalid_request_error", "max_completion_tokens", "invalid_argument"},
		{"max_tokens zero", env, "POST", "/v1/completions", `{"prompt":"hi","max_tokens":0}`,
			400, "invalid_request_error", "max_tokens", "invalid_argument"},
		{"temperature out of range", env, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"temperature":3}`,
			400, "invalid_request_error", "temperature", "invalid_argument"},
		{"temperature of the wrong type", env, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`,
			400, "invalid_request_error", "temperature", "invalid_argument"},
		{"too many stops", env, "POST", "/v1/completions", `{"prompt":"hi","stop":["a","b","c","d","e","f","g","h","i"]}`,
			400, "invalid_request_error", "stop", "invalid_argument"},
		{"stop of the wrong type", env, "POST", "/v1/completions", `{"prompt":"hi","stop":5}`,
			400, "invalid_request_error", "stop", "invalid_argument"},
		{"empty prompt", env, "POST", "/v1/completions", `{"prompt":""}`,
			400, "invalid_request_error", "prompt", "invalid_argument"},
		{"no messages", env, "POST", "/v1/chat/completions", `{"messages":[]}`,
			400, "invalid_request_error", "messages", "invalid_argument"},
		{"a tool message", env, "POST", "/v1/chat/completions", `{"messages":[{"role":"tool","content":"x"}]}`,
			400, "invalid_request_error", "messages[0].role", "invalid_argument"},
		{"an image part", env, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`,
			400, "invalid_request_error", "messages[0].content[0].type", "unsupported_parameter"},
		{"an unknown parameter", env, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"tools":[]}`,
			400, "invalid_request_error", "tools", "unsupported_parameter"},
		{"response_format json_object", env, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}`,
			400, "invalid_request_error", "response_format.type", "unsupported_parameter"},
		{"response_format json_schema without a schema", env, "POST", "/v1/completions", `{"prompt":"hi","response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`,
			400, "invalid_request_error", "response_format.json_schema.schema", "invalid_argument"},
		{"response_format schema not an object", env, "POST", "/v1/completions", `{"prompt":"hi","response_format":{"type":"json_schema","json_schema":{"schema":[1]}}}`,
			400, "invalid_request_error", "response_format.json_schema.schema", "invalid_argument"},
		{"n of two", env, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"n":2}`,
			400, "invalid_request_error", "n", "unsupported_parameter"},
		{"malformed JSON", env, "POST", "/v1/chat/completions", `{"messages":`,
			400, "invalid_request_error", "", "malformed_body"},
		{"empty body", env, "POST", "/v1/completions", ``,
			400, "invalid_request_error", "", "malformed_body"},
		{"unknown model", env, "POST", "/v1/chat/completions", `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`,
			404, "invalid_request_error", "", "model_not_found"},
		{"image size not WxH", env, "POST", "/v1/images/generations", `{"prompt":"a kite","size":"big"}`,
			400, "invalid_request_error", "size", "invalid_argument"},
		{"image size off the grid", env, "POST", "/v1/images/generations", `{"prompt":"a kite","size":"1000x1001"}`,
			400, "invalid_request_error", "size", "invalid_argument"},
		{"too many images", env, "POST", "/v1/images/generations", `{"prompt":"a kite","n":9}`,
			400, "invalid_request_error", "n", "invalid_argument"},
		{"image url format", env, "POST", "/v1/images/generations", `{"prompt":"a kite","response_format":"url"}`,
			400, "invalid_request_error", "response_format", "unsupported_parameter"},
		{"empty speech input", env, "POST", "/v1/audio/speech", `{"model":"voice","input":" ","voice":"a"}`,
			400, "invalid_request_error", "input", "invalid_argument"},
		{"speech too fast", env, "POST", "/v1/audio/speech", `{"model":"voice","input":"hi","speed":9}`,
			400, "invalid_request_error", "speed", "invalid_argument"},
		{"speech as mp3", env, "POST", "/v1/audio/speech", `{"model":"voice","input":"hi","response_format":"mp3"}`,
			400, "invalid_request_error", "response_format", "unsupported_parameter"},
		{"audio service down", down, "POST", "/v1/audio/speech", `{"input":"hi"}`,
			503, "server_error", "", "upstream_unavailable"},
		{"no embedding input", env, "POST", "/v1/embeddings", `{"input":[]}`,
			400, "invalid_request_error", "input", "invalid_argument"},
		{"an empty embedding input", env, "POST", "/v1/embeddings", `{"input":["a",""]}`,
			400, "invalid_request_error", "input[1]", "invalid_argument"},
		{"token arrays", env, "POST", "/v1/embeddings", `{"input":[[1,2,3]]}`,
			400, "invalid_request_error", "input", "invalid_argument"},
		{"dimensions over the model's", env, "POST", "/v1/embeddings", `{"input":"a","dimensions":4096}`,
			400, "invalid_request_error", "dimensions", "invalid_argument"},
		{"dimensions zero", env, "POST", "/v1/embeddings", `{"input":"a","dimensions":0}`,
			400, "invalid_request_error", "dimensions", "invalid_argument"},
		{"embedding encoding", env, "POST", "/v1/embeddings", `{"input":"a","encoding_format":"int8"}`,
			400, "invalid_request_error", "encoding_format", "invalid_argument"},
		{"unknown embedding model", env, "POST", "/v1/embeddings", `{"input":"a","model":"ada"}`,
			404, "invalid_request_error", "", "model_not_found"},
		{"wrong method", env, "GET", "/v1/chat/completions", ``,
			405, "invalid_request_error", "", "method_not_allowed"},
		{"unknown model id", env, "GET", "/v1/models/gpt-9", ``,
			404, "invalid_request_error", "", "model_not_found"},
		{"body over the limit", env, "POST", "/v1/completions", `{"prompt":"` + strings.Repeat("x", 2<<20) + `"}`,
			413, "invalid_request_error", "", "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := tt.env.do(t, tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			e := decodeOpenAIError(t, b)
			if e.Error.Type != tt.wantType || e.param() != tt.wantParam || e.code() != tt.wantCode {
				t.Errorf("type %q param %q code %q, want %q %q %q: %s", e.Error.Type, e.param(), e.code(), tt.wantType, tt.wantParam, tt.wantCode, b)
			}
			if tt.wantParam != "" && !strings.Contains(e.Error.Message, tt.wantParam) {
				t.Errorf("message does not name %s: %s", tt.wantParam, e.Error.Message)
			}
			if strings.Contains(e.Error.Message, "text.") || strings.Contains(e.Error.Message, "audio.") || strings.Contains(e.Error.Message, "image.") {
				t.Errorf("message names our field, not OpenAI's: %s", e.Error.Message)
			}
		})
	}
}

func TestOpenAIQueueFull(t *testing.T) {
	env, _ := newOpenAIServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", env.url+"/v1/audio/speech", strings.NewReader(`{"model":"hold","input":"hi"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := env.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		held <- resp
	}()
	env.audio.Wait(t, "started")
	resp, b := env.do(t, "POST", "/v1/audio/speech", `{"model":"voice","input":"hi"}`)
	cancel()
	<-held
	env.audio.Wait(t, "canceled")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if e := decodeOpenAIError(t, b); e.Error.Type != "rate_limit_error" || e.code() != "queue_full" {
		t.Errorf("error: %s", b)
	}
}

func TestOpenAIClientGoneCancelsGeneration(t *testing.T) {
	env, _ := newOpenAIServer(t)
	for _, tt := range []struct{ name, path, body string }{
		{"chat stream", "/v1/chat/completions", `{"model":"hold","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"completion", "/v1/completions", `{"model":"hold","prompt":"hi"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				req, _ := http.NewRequestWithContext(ctx, "POST", env.url+tt.path, strings.NewReader(tt.body))
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

func TestOpenAIImages(t *testing.T) {
	env, _ := newOpenAIServer(t)
	tests := []struct {
		name, body string
		n, w, h    int
	}{
		{"minimal", `{"prompt":"a red kite"}`, 1, 64, 64},
		{"size and n", `{"model":"fake-painter","prompt":"a red kite","n":2,"size":"128x64","response_format":"b64_json"}`, 2, 128, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := env.do(t, "POST", "/v1/images/generations", tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			var got struct {
				Created int64 `json:"created"`
				Data    []struct {
					B64 string `json:"b64_json"`
				} `json:"data"`
			}
			if err := json.Unmarshal(b, &got); err != nil || got.Created == 0 || len(got.Data) != tt.n {
				t.Fatalf("%v: %.300s", err, b)
			}
			for i, d := range got.Data {
				raw, err := base64.StdEncoding.DecodeString(d.B64)
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(bytes.NewReader(raw))
				if err != nil {
					t.Fatalf("image %d: %v", i, err)
				}
				if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
					t.Errorf("image %d is %dx%d, want %dx%d", i, b.Dx(), b.Dy(), tt.w, tt.h)
				}
				if g := color.GrayModel.Convert(img.At(0, 0)).(color.Gray).Y; int(g) != 40*(i+1) {
					t.Errorf("image %d has grey %d: images out of order", i, g)
				}
			}
		})
	}
}

func TestOpenAISpeech(t *testing.T) {
	env, _ := newOpenAIServer(t)
	const input = "Hello there. Second one."
	sentences := []string{"Hello there.", "Second one."}

	t.Run("wav", func(t *testing.T) {
		resp, b := env.do(t, "POST", "/v1/audio/speech", `{"model":"voice","input":"`+input+`","voice":"x","speed":1.5}`)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "audio/wav" {
			t.Fatalf("status %d, %s: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		a, err := wav.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		// The fake voices each sentence as 10 ms per byte of samples equal
		// to its length; the WAV is the sentences in order.
		var want []int16
		for _, s := range sentences {
			for range 160 * len(s) {
				want = append(want, int16(len(s)))
			}
		}
		if a.Rate != 16000 || !slices.Equal(a.Samples, want) {
			t.Errorf("WAV: %d Hz, %d samples, want 16000 Hz, %d samples", a.Rate, len(a.Samples), len(want))
		}
	})
	t.Run("pcm", func(t *testing.T) {
		resp, b := env.do(t, "POST", "/v1/audio/speech", `{"model":"voice","input":"`+input+`","response_format":"pcm"}`)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "audio/pcm" {
			t.Fatalf("status %d, %s: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		// Raw 16-bit samples at 24 kHz: 10 ms per byte of each sentence.
		wantSamples := 0
		for _, s := range sentences {
			wantSamples += 240 * len(s)
		}
		if len(b) != 2*wantSamples {
			t.Fatalf("%d bytes, want %d (%d samples at 24 kHz)", len(b), 2*wantSamples, wantSamples)
		}
		mid := int16(b[2*1000]) | int16(b[2*1000+1])<<8 // well inside the first sentence
		if mid != int16(len(sentences[0])) {
			t.Errorf("sample 1000 is %d, want %d", mid, len(sentences[0]))
		}
	})
}

func TestOpenAIEmbeddings(t *testing.T) {
	env, _ := newOpenAIServer(t)
	for _, tt := range []struct {
		name, body string
		n, dims    int
		base64     bool
	}{
		{name: "one string", body: `{"input":"the cat sat"}`, n: 1, dims: genaitest.EmbedDimensions},
		{name: "an array, cut, base64", body: `{"model":"fake-embed","input":["the cat sat","a dog"],"dimensions":4,"encoding_format":"base64","user":"u"}`, n: 2, dims: 4, base64: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := env.do(t, "POST", "/v1/embeddings", tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			var got struct {
				Object string `json:"object"`
				Model  string `json:"model"`
				Data   []struct {
					Object    string          `json:"object"`
					Index     int             `json:"index"`
					Embedding json.RawMessage `json:"embedding"`
				} `json:"data"`
				Usage struct {
					PromptTokens int `json:"prompt_tokens"`
					TotalTokens  int `json:"total_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(b, &got); err != nil || got.Object != "list" || got.Model != "fake-embed" || len(got.Data) != tt.n || got.Usage.PromptTokens == 0 || got.Usage.TotalTokens != got.Usage.PromptTokens {
				t.Fatalf("%v: %s", err, b)
			}
			for i, d := range got.Data {
				var v []float32
				if tt.base64 {
					var s string
					if err := json.Unmarshal(d.Embedding, &s); err != nil {
						t.Fatal(err)
					}
					raw, err := base64.StdEncoding.DecodeString(s)
					if err != nil || len(raw) != 4*tt.dims {
						t.Fatalf("base64 embedding %d: %v, %d bytes", i, err, len(raw))
					}
					v = make([]float32, tt.dims)
					for j := range v {
						v[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
					}
				} else if err := json.Unmarshal(d.Embedding, &v); err != nil {
					t.Fatal(err)
				}
				var ss float64
				for _, x := range v {
					ss += float64(x) * float64(x)
				}
				if d.Object != "embedding" || d.Index != i || len(v) != tt.dims || math.Abs(ss-1) > 1e-4 {
					t.Errorf("embedding %d: %s index %d, %d values, |v|² %.5f", i, d.Object, d.Index, len(v), ss)
				}
			}
		})
	}
	// The native route serves the same service.
	resp, b := env.do(t, "POST", "/v1/embeddings:embed", `{"inputs":["the cat sat"],"dimensions":2}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"model":"fake-embed"`) || !strings.Contains(string(b), `"inputTokens":3`) {
		t.Errorf("POST /v1/embeddings:embed: %d %s", resp.StatusCode, b)
	}
	resp, b = env.do(t, "POST", "/v1/embeddings:embed", `{"inputs":[]}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"inputs"`) {
		t.Errorf("POST /v1/embeddings:embed with no inputs: %d %s", resp.StatusCode, b)
	}
	if resp, b := env.do(t, "GET", "/v1/embeddings/models", ""); resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"embeddingDimensions":16`) {
		t.Errorf("GET /v1/embeddings/models: %d %s", resp.StatusCode, b)
	}
}

func TestOpenAIModels(t *testing.T) {
	env, _ := newOpenAIServer(t)
	resp, b := env.do(t, "GET", "/v1/models", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID       string `json:"id"`
			Object   string `json:"object"`
			OwnedBy  string `json:"owned_by"`
			Modality string `json:"modality"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &list); err != nil || list.Object != "list" {
		t.Fatalf("%v: %s", err, b)
	}
	var got []string
	for _, m := range list.Data {
		if m.Object != "model" || m.OwnedBy == "" {
			t.Errorf("model entry: %+v", m)
		}
		got = append(got, m.Modality+"/"+m.ID)
	}
	want := []string{"text/echo", "text/step", "text/hold", "text/break", "text/trace", "text/recorder", "image/fake-painter", "audio/voice", "audio/hold", "embedding/fake-embed"}
	if !slices.Equal(got, want) {
		t.Errorf("models %v, want %v", got, want)
	}

	resp, b = env.do(t, "GET", "/v1/models/fake-painter", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"id":"fake-painter"`) || !strings.Contains(string(b), `"modality":"image"`) {
		t.Errorf("GET /v1/models/fake-painter: %d %s", resp.StatusCode, b)
	}
	// The native routes beside them still answer.
	if resp, b := env.do(t, "GET", "/v1/text/models", ""); resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"name":"echo"`) {
		t.Errorf("GET /v1/text/models: %d %s", resp.StatusCode, b)
	}
}

func TestPlayground(t *testing.T) {
	env := newTestServer(t)
	for _, tt := range []struct{ path, contentType, contains string }{
		{"/", "text/html; charset=utf-8", "<title>Chorus playground</title>"},
		{"/playground/app.js", "text/javascript; charset=utf-8", "/v1/pipelines"},
		{"/playground/style.css", "text/css; charset=utf-8", "@media"},
	} {
		resp, b := env.do(t, "GET", tt.path, "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tt.contentType || !strings.Contains(string(b), tt.contains) {
			t.Errorf("GET %s: %d %s, body %.200s", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	if resp, _ := env.do(t, "GET", "/playground/missing.js", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET a missing asset: %d", resp.StatusCode)
	}
}
