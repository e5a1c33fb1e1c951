package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/genai"
)

// sampling holds the options chat completions and completions share.
type sampling struct {
	Model               string          `json:"model"`
	Temperature         *float32        `json:"temperature"`
	TopP                *float32        `json:"top_p"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	Stop                stopList        `json:"stop"`
	Seed                *int64          `json:"seed"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	N                   *int64          `json:"n"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	User                string          `json:"user"` // accepted and unused
	ResponseFormat      *responseFormat `json:"response_format"`
}

// responseFormat is OpenAI's response_format: {"type": "text"} or
// {"type": "json_schema", "json_schema": {"name": ..., "schema": {...},
// "strict": ...}}. The schema becomes TextOptions.json_schema; json_object
// (any JSON object) has no schema to give and is refused.
type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
	} `json:"json_schema"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// stopList is OpenAI's stop: a string or an array of strings.
type stopList []string

func (s *stopList) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stopList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &paramError{"stop", "must be a string or an array of strings"}
	}
	*s = many
	return nil
}

var samplingParams = []string{
	"model", "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
	"stream", "stream_options", "n", "frequency_penalty", "presence_penalty", "user", "response_format",
}

// textOptions checks what our TextOptions cannot express and translates the
// rest; validation of the values is the text service's. It also returns
// the names to report errors in.
func (s *sampling) textOptions(promptParam string) (*genaiv1.TextOptions, paramNames, error) {
	names := paramNames{
		"model": "model", "prompt": promptParam, "messages": "messages",
		"text.temperature": "temperature", "text.top_p": "top_p", "text.seed": "seed",
		"text.stop": "stop", "text.max_tokens": "max_tokens", "text.json_schema": "response_format.json_schema.schema",
	}
	if s.N != nil && *s.N != 1 {
		return nil, names, unsupported("n", "only n=1 is supported, got %d", *s.N)
	}
	for _, p := range []struct {
		name  string
		value *float64
	}{{"frequency_penalty", s.FrequencyPenalty}, {"presence_penalty", s.PresencePenalty}} {
		if p.value != nil && *p.value != 0 {
			return nil, names, unsupported(p.name, "only 0 is supported, got %v", *p.value)
		}
	}
	if !s.Stream && s.StreamOptions != nil {
		return nil, names, invalidParam("stream_options", "is only allowed when stream is true")
	}
	opts := &genaiv1.TextOptions{Temperature: s.Temperature, TopP: s.TopP, Seed: s.Seed, Stop: s.Stop}
	if f := s.ResponseFormat; f != nil {
		switch f.Type {
		case "text":
		case "json_schema":
			if f.JSONSchema == nil || len(bytes.TrimSpace(f.JSONSchema.Schema)) == 0 {
				return nil, names, invalidParam("response_format.json_schema.schema", "is required when type is json_schema")
			}
			opts.JsonSchema = string(f.JSONSchema.Schema)
		case "json_object":
			return nil, names, unsupported("response_format.type", "json_object is not supported; send json_schema with a schema")
		default:
			return nil, names, invalidParam("response_format.type", "must be text or json_schema, got %q", f.Type)
		}
	}
	maxTokens, maxName := s.MaxTokens, "max_tokens"
	if s.MaxCompletionTokens != nil {
		// The newer name wins when both are sent, as OpenAI documents.
		maxTokens, maxName = s.MaxCompletionTokens, "max_completion_tokens"
	}
	names["text.max_tokens"] = maxName
	if maxTokens != nil {
		if *maxTokens < 1 {
			// Our 0 means "the default"; OpenAI's means nothing.
			return nil, names, invalidParam(maxName, "must be at least 1, got %d", *maxTokens)
		}
		opts.MaxTokens = clampInt32(*maxTokens)
	}
	return opts, names, nil
}

func (s *sampling) includeUsage() bool { return s.StreamOptions != nil && s.StreamOptions.IncludeUsage }

// chatRequest is a POST /v1/chat/completions body.
type chatRequest struct {
	sampling
	Messages []chatMessage `json:"messages"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name"` // accepted and unused
}

// contentPart is one element of a message content array.
type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// text returns a message's content: a string, or the text parts of an
// array joined.
func (m chatMessage) text(i int) (string, error) {
	param := fmt.Sprintf("messages[%d].content", i)
	raw := bytes.TrimSpace(m.Content)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalidParam(param, "must be a string or an array of content parts")
	}
	var b strings.Builder
	for j, p := range parts {
		if p.Type != "text" {
			return "", unsupported(fmt.Sprintf("%s[%d].type", param, j), "only text content parts are supported, got %q", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func (o *openAI) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := decodeOpenAI(r, &req, append([]string{"messages"}, samplingParams...)); err != nil {
		o.fail(w, r, err, nil)
		return
	}
	opts, names, err := req.textOptions("messages")
	if err != nil {
		o.fail(w, r, err, names)
		return
	}
	if len(req.Messages) == 0 {
		o.fail(w, r, invalidParam("messages", "must hold at least one message"), names)
		return
	}
	greq := &genaiv1.GenerateRequest{Model: req.Model, Options: &genaiv1.GenerateRequest_Text{Text: opts}}
	for i, m := range req.Messages {
		content, err := m.text(i)
		if err != nil {
			o.fail(w, r, err, names)
			return
		}
		role := m.Role
		if role == "developer" {
			// OpenAI's newer name for the system role.
			role = "system"
		}
		greq.Messages = append(greq.Messages, &genaiv1.Message{Role: role, Content: content})
	}
	o.text(w, r, &req.sampling, greq, names, chatFormat{})
}

// completionRequest is a POST /v1/completions body.
type completionRequest struct {
	sampling
	Prompt json.RawMessage `json:"prompt"`
}

func (o *openAI) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := decodeOpenAI(r, &req, append([]string{"prompt"}, samplingParams...)); err != nil {
		o.fail(w, r, err, nil)
		return
	}
	opts, names, err := req.textOptions("prompt")
	if err != nil {
		o.fail(w, r, err, names)
		return
	}
	var prompt string
	if raw := bytes.TrimSpace(req.Prompt); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &prompt); err != nil {
			var prompts []string
			if err := json.Unmarshal(raw, &prompts); err != nil || len(prompts) != 1 {
				o.fail(w, r, unsupported("prompt", "must be a string or an array of one string"), names)
				return
			}
			prompt = prompts[0]
		}
	}
	greq := &genaiv1.GenerateRequest{Model: req.Model, Prompt: prompt, Options: &genaiv1.GenerateRequest_Text{Text: opts}}
	o.text(w, r, &req.sampling, greq, names, completionFormat{})
}

// textFormat is what differs between chat completions and completions:
// the JSON of a choice.
type textFormat interface {
	idPrefix() string
	object(stream bool) string
	choice(text string, finish any) map[string]any
	// firstDelta is the choice of a stream's opening chunk, or nil.
	firstDelta() map[string]any
	delta(text string, finish any) map[string]any
}

type chatFormat struct{}

func (chatFormat) idPrefix() string { return "chatcmpl-" }
func (chatFormat) object(stream bool) string {
	if stream {
		return "chat.completion.chunk"
	}
	return "chat.completion"
}
func (chatFormat) choice(text string, finish any) map[string]any {
	return map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text, "refusal": nil}, "logprobs": nil, "finish_reason": finish}
}
func (chatFormat) firstDelta() map[string]any {
	return map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "logprobs": nil, "finish_reason": nil}
}
func (chatFormat) delta(text string, finish any) map[string]any {
	d := map[string]any{}
	if text != "" {
		d["content"] = text
	}
	return map[string]any{"index": 0, "delta": d, "logprobs": nil, "finish_reason": finish}
}

type completionFormat struct{}

func (completionFormat) idPrefix() string { return "cmpl-" }
func (completionFormat) object(bool) string {
	return "text_completion"
}
func (completionFormat) choice(text string, finish any) map[string]any {
	return map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": finish}
}
func (completionFormat) firstDelta() map[string]any { return nil }
func (f completionFormat) delta(text string, finish any) map[string]any {
	return f.choice(text, finish)
}

func finishReason(r genaiv1.FinishReason) string {
	if r == genaiv1.FinishReason_FINISH_REASON_LENGTH {
		return "length"
	}
	return "stop"
}

func openAIUsage(u *genaiv1.Usage) map[string]any {
	in, out := u.GetInputTokens(), u.GetOutputTokens()
	return map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out}
}

func responseText(resp *genaiv1.GenerateResponse) string {
	var b strings.Builder
	for _, a := range resp.GetArtifacts() {
		b.WriteString(a.GetText())
	}
	return b.String()
}

// text runs a text generation and answers in format f, whole or as SSE.
func (o *openAI) text(w http.ResponseWriter, r *http.Request, s *sampling, req *genaiv1.GenerateRequest, names paramNames, f textFormat) {
	ctx := r.Context()
	id, created := newID(f.idPrefix()), time.Now().Unix()
	client := o.clients[genai.Text]
	if !s.Stream {
		resp, err := client.Generate(ctx, req)
		if err != nil {
			o.fail(w, r, err, names)
			return
		}
		writeJSON(w, map[string]any{
			"id": id, "object": f.object(false), "created": created, "model": resp.GetModel(),
			"choices": []any{f.choice(responseText(resp), finishReason(resp.GetFinishReason()))},
			"usage":   openAIUsage(resp.GetUsage()),
		})
		return
	}
	stream, err := client.StreamGenerate(ctx, req)
	if err != nil {
		o.fail(w, r, err, names)
		return
	}
	model := req.GetModel()
	if model == "" {
		model = o.defaultModel(ctx, genai.Text)
	}
	sse := newSSE(w)
	chunk := func(choices []any, usage any) error {
		c := map[string]any{"id": id, "object": f.object(true), "created": created, "model": model, "choices": choices}
		if s.includeUsage() {
			// OpenAI sends usage: null on every chunk but the last.
			c["usage"] = usage
		}
		return sse.event(c)
	}
	if first := f.firstDelta(); first != nil {
		if err := chunk([]any{first}, nil); err != nil {
			return
		}
	}
	sent := false
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_, body := o.openAIErrorFor(ctx, err, names)
			_ = sse.event(map[string]any{"error": body})
			return
		}
		switch c := msg.GetChunk().(type) {
		case *genaiv1.GenerateChunk_Delta:
			if c.Delta.GetText() == "" {
				continue
			}
			sent = true
			if err := chunk([]any{f.delta(c.Delta.GetText(), nil)}, nil); err != nil {
				return
			}
		case *genaiv1.GenerateChunk_Done:
			done := c.Done
			if done.GetModel() != "" {
				model = done.GetModel()
			}
			if text := responseText(done); !sent && text != "" {
				// A backend that streamed no deltas: the whole text at once.
				if err := chunk([]any{f.delta(text, nil)}, nil); err != nil {
					return
				}
			}
			if err := chunk([]any{f.delta("", finishReason(done.GetFinishReason()))}, nil); err != nil {
				return
			}
			if s.includeUsage() {
				if err := chunk([]any{}, openAIUsage(done.GetUsage())); err != nil {
					return
				}
			}
		}
	}
	_ = sse.done()
}

// sseWriter writes server-sent events, each flushed at once.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSE(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

func (s *sseWriter) write(data []byte) error {
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", data); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseWriter) event(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write(b)
}

func (s *sseWriter) done() error { return s.write([]byte("[DONE]")) }
