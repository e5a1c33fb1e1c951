// Package openaitest runs a fake OpenAI-compatible HTTP server for tests,
// in the manner of net/http/httptest: it speaks the real wire format but
// generates nothing real (canned text, gradient images).
package openaitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultModel is the model the fake serves when Options.Models is empty.
const DefaultModel = "fake-model"

// DefaultText is the text the fake produces when Options.Text is empty.
const DefaultText = "Hello from the fake OpenAI server."

// Options configure a Server. The zero value serves DefaultModel and
// DefaultText with no delays, failures or authentication.
type Options struct {
	// Models are the model ids GET /v1/models lists and requests may name.
	// A request naming another model gets 404 model_not_found; a request
	// naming no model is accepted. Default {DefaultModel}.
	Models []string
	// Text is what chat and completion requests produce (default
	// DefaultText). It is split into deltas at word boundaries, each delta
	// a word with the whitespace before it, and one delta counts as one
	// completion token.
	Text string
	// Deltas, when set, are the exact deltas to produce instead of Text.
	Deltas []string
	// DeltaDelay is waited before each delta (streaming or not), so a test
	// can observe streaming order or hold a request open. The wait ends
	// early when the client goes away or the server closes.
	DeltaDelay time.Duration
	// FinishReason is the finish_reason reported when every delta was sent
	// (default "stop"). When a request's max_tokens cuts the deltas short it
	// is "length".
	FinishReason string
	// APIKey, when set, is the bearer token every /v1 request must carry;
	// others get 401 invalid_api_key.
	APIKey string
	// CutAfter, when positive, makes a streaming response break the
	// connection after that many deltas, without [DONE], as a crashed
	// upstream would.
	CutAfter int
	// SSEComments adds an SSE comment line (": keep-alive") before every
	// event, and SSECRLF ends lines with CRLF instead of LF; both are legal
	// SSE that a robust client must accept.
	SSEComments bool
	SSECRLF     bool
	// Gate, when set, holds every generation request after it is recorded
	// until a value is received from Gate (or the client goes away), so a
	// test can keep requests in flight deterministically.
	Gate <-chan struct{}
}

// Failure is an error response the fake returns instead of serving.
type Failure struct {
	// Status is the HTTP status, for example 400, 401, 404, 429, 500, 503.
	Status int
	// Message is error.message; empty selects a message fitting Status.
	Message string
}

// Request is one request the fake received, recorded for assertions.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Decode unmarshals the recorded JSON body into v.
func (r Request) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// Server is a running fake. Create it with New and Close it when done.
type Server struct {
	// URL is the server's root, "http://127.0.0.1:port", like
	// httptest.Server.URL.
	URL string
	// BaseURL is URL + "/v1", the base URL OpenAI clients are configured
	// with.
	BaseURL string

	opts     Options
	http     *httptest.Server
	done     chan struct{}
	closeOne sync.Once

	mu        sync.Mutex
	requests  []Request
	arrived   chan struct{} // closed and replaced on each recorded request
	failNext  []Failure
	failAll   *Failure
	images    map[string][]byte
	imageSeq  int
	canceled  chan Request
	completed int
}

// New starts a fake server on 127.0.0.1.
func New(opts Options) *Server {
	if len(opts.Models) == 0 {
		opts.Models = []string{DefaultModel}
	}
	if opts.Text == "" {
		opts.Text = DefaultText
	}
	if opts.FinishReason == "" {
		opts.FinishReason = "stop"
	}
	s := &Server{
		opts:     opts,
		done:     make(chan struct{}),
		arrived:  make(chan struct{}),
		images:   map[string][]byte{},
		canceled: make(chan Request, 64),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.api(s.chat))
	mux.HandleFunc("POST /v1/completions", s.api(s.completions))
	mux.HandleFunc("GET /v1/models", s.api(s.models))
	mux.HandleFunc("POST /v1/images/generations", s.api(s.imageGenerations))
	mux.HandleFunc("POST /v1/embeddings", s.api(s.embeddings))
	mux.HandleFunc("GET /files/{name}", s.file)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, Failure{Status: http.StatusNotFound, Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path)})
	})
	s.http = httptest.NewServer(mux)
	s.URL = s.http.URL
	s.BaseURL = s.URL + "/v1"
	return s
}

// Close stops the server. Requests held by DeltaDelay or Gate end at once.
func (s *Server) Close() {
	s.closeOne.Do(func() {
		close(s.done)
		s.http.CloseClientConnections()
		s.http.Close()
	})
}

// Client returns an HTTP client for the server (plain, like
// httptest.Server.Client).
func (s *Server) Client() *http.Client { return s.http.Client() }

// FailNext makes the next len(f) API requests fail with f, in order.
func (s *Server) FailNext(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, f...)
}

// Fail makes every API request fail with f until Fail(nil).
func (s *Server) Fail(f *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = f
}

// Requests returns the requests received so far (API and file fetches), in
// arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// WaitRequests blocks until at least n requests were received or ctx ends.
func (s *Server) WaitRequests(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, arrived := len(s.requests), s.arrived
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return fmt.Errorf("openaitest: %d of %d requests arrived: %w", got, n, ctx.Err())
		}
	}
}

// Canceled delivers each generation request whose client went away (its
// request context ended) before the fake finished answering it. It buffers
// 64 requests; more are dropped.
func (s *Server) Canceled() <-chan Request { return s.canceled }

// Completed reports how many generation responses were sent in full.
func (s *Server) Completed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.completed
}

// api records the request, applies authentication and injected failures,
// then serves it with h.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request, rec Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			writeError(w, Failure{Status: http.StatusBadRequest, Message: "could not read the request body"})
			return
		}
		rec := s.record(r, body)
		if s.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
			writeError(w, Failure{Status: http.StatusUnauthorized})
			return
		}
		if f, ok := s.failure(); ok {
			writeError(w, f)
			return
		}
		h(w, r, rec)
	}
}

func (s *Server) record(r *http.Request, body []byte) Request {
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, rec)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return rec
}

func (s *Server) failure() (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failNext) > 0 {
		f := s.failNext[0]
		s.failNext = s.failNext[1:]
		return f, true
	}
	if s.failAll != nil {
		return *s.failAll, true
	}
	return Failure{}, false
}

// hold waits for the gate, if any; false means the client or server went
// away.
func (s *Server) hold(r *http.Request, rec Request) bool {
	if s.opts.Gate == nil {
		return true
	}
	select {
	case <-s.opts.Gate:
		return true
	case <-r.Context().Done():
		s.noteCanceled(rec)
	case <-s.done:
	}
	return false
}

// wait sleeps for the delta delay; false means the client or server went
// away.
func (s *Server) wait(r *http.Request, rec Request) bool {
	if s.opts.DeltaDelay <= 0 {
		if r.Context().Err() != nil {
			s.noteCanceled(rec)
			return false
		}
		return true
	}
	t := time.NewTimer(s.opts.DeltaDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		s.noteCanceled(rec)
	case <-s.done:
	}
	return false
}

func (s *Server) noteCanceled(rec Request) {
	select {
	case s.canceled <- rec:
	default:
	}
}

func (s *Server) noteCompleted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.completed++
}

func (s *Server) knownModel(model string) bool {
	return model == "" || slices.Contains(s.opts.Models, model)
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request, _ Request) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list"}
	for _, m := range s.opts.Models {
		list.Data = append(list.Data, model{ID: m, Object: "model", Created: 1700000000, OwnedBy: "openaitest"})
	}
	writeJSON(w, http.StatusOK, list)
}

// deltas returns what to produce for a request allowing maxTokens (0 = no
// limit), and the finish reason.
func (s *Server) deltas(maxTokens int) ([]string, string) {
	d := s.opts.Deltas
	if len(d) == 0 {
		d = SplitDeltas(s.opts.Text)
	}
	if maxTokens > 0 && maxTokens < len(d) {
		return d[:maxTokens], "length"
	}
	return d, s.opts.FinishReason
}

// SplitDeltas splits text into the deltas the fake streams: each word with
// the whitespace before it. Concatenated, they are text.
func SplitDeltas(text string) []string {
	var out []string
	start := 0
	inWord := false
	for i, r := range text {
		space := r == ' ' || r == '\n' || r == '\t' || r == '\r'
		if space && inWord {
			out = append(out, text[start:i])
			start = i
		}
		inWord = !space
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// countTokens is the fake's tokenizer: whitespace-separated words.
func countTokens(texts ...string) int {
	n := 0
	for _, t := range texts {
		n += len(strings.Fields(t))
	}
	return n
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func newUsage(prompt, completion int) *usage {
	return &usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

// streamable are the fields chat and legacy completion requests share.
type streamable struct {
	Model         string `json:"model"`
	MaxTokens     int    `json:"max_tokens"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (r streamable) includeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// decode reads rec's body into req, whose shared fields are in common,
// and answers as OpenAI does when it is not JSON or names an unknown
// model; false when it answered.
func (s *Server) decode(w http.ResponseWriter, rec Request, req any, common *streamable) bool {
	if err := json.Unmarshal(rec.Body, req); err != nil {
		writeError(w, Failure{Status: http.StatusBadRequest, Message: "We could not parse the JSON body of your request."})
		return false
	}
	if !s.knownModel(common.Model) {
		writeModelNotFound(w, common.Model)
		return false
	}
	return true
}

type chatRequest struct {
	streamable
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	MaxCompletionTokens int `json:"max_completion_tokens"`
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, rec Request) {
	var req chatRequest
	if !s.decode(w, rec, &req, &req.streamable) {
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, Failure{Status: http.StatusBadRequest, Message: "[] is too short - 'messages'"})
		return
	}
	var texts []string
	for _, m := range req.Messages {
		texts = append(texts, m.Content)
	}
	maxTokens := req.MaxTokens
	if req.MaxCompletionTokens > 0 {
		maxTokens = req.MaxCompletionTokens
	}
	s.generate(w, r, rec, generation{
		object: "chat.completion", model: req.Model, stream: req.Stream, includeUsage: req.includeUsage(),
		maxTokens: maxTokens, promptTokens: countTokens(texts...), chat: true,
	})
}

type completionRequest struct {
	streamable
	Prompt any `json:"prompt"`
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request, rec Request) {
	var req completionRequest
	if !s.decode(w, rec, &req, &req.streamable) {
		return
	}
	prompt, _ := req.Prompt.(string)
	s.generate(w, r, rec, generation{
		object: "text_completion", model: req.Model, stream: req.Stream, includeUsage: req.includeUsage(),
		maxTokens: req.MaxTokens, promptTokens: countTokens(prompt),
	})
}

type generation struct {
	object       string
	model        string
	stream       bool
	includeUsage bool
	maxTokens    int
	promptTokens int
	chat         bool
}

// choice renders one choice; chat choices carry message or delta, legacy
// completions carry text.
func (g generation) choice(text string, finish *string, streaming bool, first bool) map[string]any {
	c := map[string]any{"index": 0, "finish_reason": finish, "logprobs": nil}
	switch {
	case !g.chat:
		c["text"] = text
	case streaming:
		d := map[string]any{"content": text}
		if first {
			d["role"] = "assistant"
		}
		if finish != nil {
			d = map[string]any{}
		}
		c["delta"] = d
	default:
		c["message"] = map[string]any{"role": "assistant", "content": text}
	}
	return c
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request, rec Request, g generation) {
	if !s.hold(r, rec) {
		return
	}
	deltas, finish := s.deltas(g.maxTokens)
	model := g.model
	if model == "" {
		model = s.opts.Models[0]
	}
	id := fmt.Sprintf("fake-%d", time.Now().UnixNano())
	base := func() map[string]any {
		obj := g.object
		if g.stream && g.chat {
			obj = "chat.completion.chunk"
		}
		return map[string]any{"id": id, "object": obj, "created": time.Now().Unix(), "model": model}
	}
	if !g.stream {
		var text strings.Builder
		for _, d := range deltas {
			if !s.wait(r, rec) {
				return
			}
			text.WriteString(d)
		}
		body := base()
		body["choices"] = []any{g.choice(text.String(), &finish, false, false)}
		body["usage"] = newUsage(g.promptTokens, len(deltas))
		writeJSON(w, http.StatusOK, body)
		s.noteCompleted()
		return
	}

	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	nl := "\n"
	if s.opts.SSECRLF {
		nl = "\r\n"
	}
	send := func(v any) {
		var b bytes.Buffer
		if s.opts.SSEComments {
			b.WriteString(": keep-alive" + nl)
		}
		if str, ok := v.(string); ok {
			b.WriteString("data: " + str + nl + nl)
		} else {
			data, _ := json.Marshal(v)
			b.WriteString("data: " + string(data) + nl + nl)
		}
		_, _ = w.Write(b.Bytes())
		if flusher != nil {
			flusher.Flush()
		}
	}
	for i, d := range deltas {
		if s.opts.CutAfter > 0 && i == s.opts.CutAfter {
			// Breaks the connection mid-body without a clean end.
			panic(http.ErrAbortHandler)
		}
		if !s.wait(r, rec) {
			return
		}
		chunk := base()
		chunk["choices"] = []any{g.choice(d, nil, true, i == 0)}
		send(chunk)
	}
	chunk := base()
	chunk["choices"] = []any{g.choice("", &finish, true, false)}
	send(chunk)
	if g.includeUsage {
		chunk = base()
		chunk["choices"] = []any{}
		chunk["usage"] = newUsage(g.promptTokens, len(deltas))
		send(chunk)
	}
	send("[DONE]")
	s.noteCompleted()
}

// errorBody is OpenAI's error shape.
type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, f Failure) {
	var b errorBody
	b.Error.Message = f.Message
	code := func(c string) *string { return &c }
	switch f.Status {
	case http.StatusBadRequest:
		b.Error.Type = "invalid_request_error"
		if b.Error.Message == "" {
			b.Error.Message = "Invalid request."
		}
	case http.StatusUnauthorized:
		b.Error.Type, b.Error.Code = "invalid_request_error", code("invalid_api_key")
		if b.Error.Message == "" {
			b.Error.Message = "Incorrect API key provided."
		}
	case http.StatusForbidden:
		b.Error.Type = "invalid_request_error"
		if b.Error.Message == "" {
			b.Error.Message = "You are not allowed to access this resource."
		}
	case http.StatusNotFound:
		b.Error.Type = "invalid_request_error"
		if b.Error.Message == "" {
			b.Error.Message = "Not found."
		}
	case http.StatusTooManyRequests:
		b.Error.Type, b.Error.Code = "requests", code("rate_limit_exceeded")
		if b.Error.Message == "" {
			b.Error.Message = "Rate limit reached. Please try again in 1s."
		}
		w.Header().Set("Retry-After", "1")
	default:
		b.Error.Type = "server_error"
		if b.Error.Message == "" {
			b.Error.Message = http.StatusText(f.Status)
		}
	}
	status := f.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, b)
}

func writeModelNotFound(w http.ResponseWriter, model string) {
	var b errorBody
	b.Error.Message = fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model)
	b.Error.Type = "invalid_request_error"
	c := "model_not_found"
	b.Error.Code = &c
	writeJSON(w, http.StatusNotFound, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "openaitest: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
