// Package openai is the text backend for any OpenAI-compatible
// chat-completions server: vLLM, llama.cpp server, Ollama, LM Studio, OpenAI.
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
	"net/url"
	"strings"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/openaiapi"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Name is the backend name ListModels reports.
const Name = "openai"

// DefaultTimeout bounds one generation when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// discoveryTimeout bounds the GET /models call at startup.
const discoveryTimeout = 10 * time.Second

// maxText bounds the text one generation may return, well under gRPC's
// 4 MiB message limit (8192 tokens are far less than this).
const maxText = 2 << 20

// Config configures the backend.
type Config struct {
	// BaseURL is the server's OpenAI API root, including /v1, for example
	// "http://127.0.0.1:8000/v1". Empty disables the backend.
	BaseURL string
	// APIKey is sent as a bearer token when set. It is never logged.
	APIKey string
	// Models are the model names to expose, as the server knows them.
	// Empty discovers them from GET /models at startup.
	Models []string
	// Timeout bounds one generation, upstream call included (default
	// DefaultTimeout).
	Timeout time.Duration
	// Transport replaces the HTTP transport (tests); nil uses the default.
	Transport http.RoundTripper
}

// Enabled reports whether the backend is configured at all.
func (c Config) Enabled() bool { return c.BaseURL != "" }

// Validate reports a configuration the backend cannot run with.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("openai: -openai-base-url %q must be an http or https URL such as http://127.0.0.1:8000/v1", c.BaseURL)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("openai: negative timeout %s", c.Timeout)
	}
	for _, m := range c.Models {
		if m == "" || len(m) > genai.MaxModelLen {
			return fmt.Errorf("openai: model name %q must be 1 to %d bytes", m, genai.MaxModelLen)
		}
	}
	return nil
}

// LogValue keeps the API key out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", openaiapi.RedactURL(c.BaseURL)),
		slog.Bool("api_key_set", c.APIKey != ""),
		slog.Any("models", c.Models),
		slog.String("timeout", c.Timeout.String()),
	)
}

// Backend generates text on an OpenAI-compatible server.
type Backend struct {
	cfg    Config
	base   string
	client *http.Client
	models []*genaiv1.Model
}

var _ genai.Backend = (*Backend)(nil)

// New builds the backend. With no models configured it asks the server for
// its list; when that fails the backend serves no models and New logs a
// warning saying how to fix it, so the service still starts.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	b := &Backend{
		cfg:  cfg,
		base: strings.TrimSuffix(cfg.BaseURL, "/"),
		// No client timeout: each call gets a context deadline instead,
		// which also bounds reading a stream.
		client: &http.Client{Transport: otelhttp.NewTransport(transport)},
	}
	if !strings.HasSuffix(b.base, "/v1") {
		// Every common server (vLLM, llama.cpp, Ollama, LM Studio, OpenAI)
		// serves the API under /v1; without it every call is a 404.
		log.Warn("the OpenAI base URL usually ends in /v1", "base_url", openaiapi.RedactURL(b.base))
	}
	names := cfg.Models
	if len(names) == 0 {
		var err error
		names, err = b.discover(ctx)
		if err != nil {
			log.Warn("could not list the OpenAI-compatible server's models; serving none until restarted, set -openai-models to name them",
				"base_url", openaiapi.RedactURL(b.base), "error", err.Error())
		} else {
			log.Info("discovered models", "base_url", openaiapi.RedactURL(b.base), "models", names)
		}
	}
	for _, n := range names {
		b.models = append(b.models, &genaiv1.Model{
			Name:    n,
			Backend: Name,
			// The server's address stays out: ListModels is public.
			Description: "served by an OpenAI-compatible chat-completions server",
			Capabilities: []genaiv1.Capability{
				genaiv1.Capability_CAPABILITY_COMPLETION,
				genaiv1.Capability_CAPABILITY_CHAT,
				genaiv1.Capability_CAPABILITY_STREAMING,
			},
		})
	}
	return b, nil
}

// Models lists the exposed models.
func (b *Backend) Models() []*genaiv1.Model { return b.models }

// discover lists the server's models.
func (b *Backend) discover(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, discoveryTimeout, openaiapi.ErrTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/models", nil)
	if err != nil {
		return nil, err
	}
	b.authorize(req)
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, openaiapi.TransportError(ctx, err, upstreamName)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, openaiapi.StatusError(resp, "", upstreamName)
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxEvent)).Decode(&list); err != nil {
		return nil, fmt.Errorf("decoding the model list: %w", err)
	}
	var names []string
	seen := map[string]bool{}
	for _, m := range list.Data {
		if m.ID == "" || len(m.ID) > genai.MaxModelLen || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		names = append(names, m.ID)
	}
	if len(names) == 0 {
		return nil, errors.New("the server lists no models")
	}
	return names, nil
}

func (b *Backend) authorize(req *http.Request) {
	if b.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+b.cfg.APIKey)
	}
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string    `json:"model"`
	Messages    []message `json:"messages"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Temperature *float32  `json:"temperature,omitempty"`
	TopP        *float32  `json:"top_p,omitempty"`
	Seed        *int64    `json:"seed,omitempty"`
	Stop        []string  `json:"stop,omitempty"`
	// Not part of OpenAI's API, but vLLM, llama.cpp server and Ollama's
	// OpenAI routes read them; sent only when the caller set them, so a
	// server that rejects unknown fields only sees them when asked for.
	TopK              int32    `json:"top_k,omitempty"`
	MinP              *float32 `json:"min_p,omitempty"`
	RepetitionPenalty *float32 `json:"repetition_penalty,omitempty"`

	Stream        bool `json:"stream"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// chatRequestFor maps a validated GenerateRequest to the upstream request.
func chatRequestFor(req *genaiv1.GenerateRequest) chatRequest {
	cr := chatRequest{
		Model:     req.GetModel(),
		MaxTokens: genai.MaxTokens(req),
		// Always stream upstream, even for unary calls: one code path, and
		// cancellation reaches the server between tokens.
		Stream: true,
	}
	if o := req.GetText(); o != nil {
		cr.Temperature, cr.TopP, cr.Seed, cr.Stop = o.Temperature, o.TopP, o.Seed, o.GetStop()
		cr.TopK, cr.MinP, cr.RepetitionPenalty = o.GetTopK(), o.MinP, o.RepetitionPenalty
	}
	cr.StreamOptions.IncludeUsage = true
	if msgs := req.GetMessages(); len(msgs) > 0 {
		for _, m := range msgs {
			cr.Messages = append(cr.Messages, message{Role: m.GetRole(), Content: m.GetContent()})
		}
	} else {
		cr.Messages = []message{{Role: "user", Content: req.GetPrompt()}}
	}
	return cr
}

type chatChunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int32 `json:"prompt_tokens"`
		CompletionTokens int32 `json:"completion_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// Generate streams one chat completion, emitting each text delta as it
// arrives, and returns the whole text.
func (b *Backend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	body, err := json.Marshal(chatRequestFor(req))
	if err != nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "internal error").WithCause(err)
	}
	// Ending ctx (our timeout, the caller's deadline or cancellation) closes
	// the upstream connection, which is how servers learn to stop.
	ctx, cancel := context.WithTimeoutCause(ctx, b.cfg.Timeout, openaiapi.ErrTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "internal error").WithCause(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	b.authorize(hreq)
	resp, err := b.client.Do(hreq)
	if err != nil {
		return nil, openaiapi.TransportError(ctx, err, upstreamName)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, openaiapi.StatusError(resp, req.GetModel(), upstreamName)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		// A server that ignores stream: true answers with one completion.
		return b.unary(ctx, req, resp.Body, emit)
	}

	var (
		text      strings.Builder
		finish    string
		finished  bool
		usage     genaiv1.Usage
		gotUsage  bool
		nonEmpty  int32
		sse       = newSSEReader(resp.Body)
		sawDone   bool
		streamErr error
	)
	for {
		ev, err := sse.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				streamErr = err
			}
			break
		}
		if ev.Data == "[DONE]" {
			sawDone = true
			break
		}
		var c chatChunk
		if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
			return nil, rpcerr.New(codes.Unavailable, rpcerr.ReasonUpstreamDown,
				"the model server sent a malformed stream").WithCause(err)
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			msg := openaiapi.UpstreamMessage([]byte(`{"error":` + string(c.Error) + `}`))
			return nil, rpcerr.New(codes.Unavailable, rpcerr.ReasonUpstreamDown,
				"the model server failed mid-stream").WithCause(errors.New(msg))
		}
		if c.Usage != nil {
			usage.InputTokens, usage.OutputTokens, gotUsage = c.Usage.PromptTokens, c.Usage.CompletionTokens, true
		}
		for _, ch := range c.Choices {
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				finish, finished = *ch.FinishReason, true
			}
			d := ch.Delta.Content
			if d == "" {
				continue
			}
			if text.Len()+len(d) > maxText {
				return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the model server produced more text than this service returns")
			}
			text.WriteString(d)
			nonEmpty++
			if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Delta{Delta: &genaiv1.TextDelta{Text: d}}}); err != nil {
				return nil, err
			}
		}
	}
	if !sawDone && !finished {
		// The stream was cut before the model finished.
		if streamErr == nil {
			streamErr = io.ErrUnexpectedEOF
		}
		return nil, openaiapi.TransportError(ctx, streamErr, upstreamName)
	}
	if !sawDone && streamErr != nil && ctx.Err() != nil {
		return nil, openaiapi.TransportError(ctx, streamErr, upstreamName)
	}
	if !gotUsage {
		// Servers that ignore stream_options send no usage; most stream
		// one token per chunk, so the chunk count is a fair estimate.
		usage.OutputTokens = nonEmpty
	}
	return &genaiv1.GenerateResponse{
		Model: req.GetModel(),
		Artifacts: []*genaiv1.Artifact{{
			MimeType: "text/plain; charset=utf-8",
			Content:  &genaiv1.Artifact_Text{Text: text.String()},
		}},
		Usage:        &usage,
		FinishReason: finishReason(finish),
	}, nil
}

type chatCompletion struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int32 `json:"prompt_tokens"`
		CompletionTokens int32 `json:"completion_tokens"`
	} `json:"usage"`
}

// unary reads a non-streaming chat completion and emits its text as one
// delta, so streaming clients still see the text before done.
func (b *Backend) unary(ctx context.Context, req *genaiv1.GenerateRequest, body io.Reader, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	var c chatCompletion
	if err := json.NewDecoder(io.LimitReader(body, maxText+maxEvent)).Decode(&c); err != nil {
		if ctx.Err() != nil {
			return nil, openaiapi.TransportError(ctx, err, upstreamName)
		}
		return nil, rpcerr.New(codes.Unavailable, rpcerr.ReasonUpstreamDown, "the model server sent a malformed response").WithCause(err)
	}
	if len(c.Choices) == 0 {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the model server returned no choices")
	}
	text := c.Choices[0].Message.Content
	if len(text) > maxText {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, "the model server produced more text than this service returns")
	}
	if text != "" {
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Delta{Delta: &genaiv1.TextDelta{Text: text}}}); err != nil {
			return nil, err
		}
	}
	return &genaiv1.GenerateResponse{
		Model: req.GetModel(),
		Artifacts: []*genaiv1.Artifact{{
			MimeType: "text/plain; charset=utf-8",
			Content:  &genaiv1.Artifact_Text{Text: text},
		}},
		Usage:        &genaiv1.Usage{InputTokens: c.Usage.PromptTokens, OutputTokens: c.Usage.CompletionTokens},
		FinishReason: finishReason(c.Choices[0].FinishReason),
	}, nil
}

func finishReason(s string) genaiv1.FinishReason {
	switch s {
	case "stop", "eos", "stop_sequence":
		return genaiv1.FinishReason_FINISH_REASON_STOP
	case "length", "max_tokens":
		return genaiv1.FinishReason_FINISH_REASON_LENGTH
	}
	return genaiv1.FinishReason_FINISH_REASON_UNSPECIFIED
}
