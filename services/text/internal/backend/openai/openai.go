// Package openai is the text backend for any OpenAI-compatible
// chat-completions server: vLLM, llama.cpp server, Ollama, LM Studio, OpenAI.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/openaiapi"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Name is the backend name ListModels reports.
const Name = "openai"

// discoveryTimeout bounds the GET /models call at startup.
const discoveryTimeout = 10 * time.Second

// maxText bounds the text one generation may return, well under gRPC's
// 4 MiB message limit (8192 tokens are far less than this).
const maxText = 2 << 20

// Config configures the backend: the shared OpenAI connection settings.
// Models may be empty: New then lists them from the server's GET /models.
type Config struct {
	openaiapi.Config
}

// Validate reports a configuration the backend cannot run with.
func (c Config) Validate() error { return c.Config.Validate("http://127.0.0.1:8000/v1") }

// RegisterFlags registers the backend's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Config.RegisterFlags(fs, openaiapi.FlagUsage{
		BaseURL: "OpenAI-compatible API root `url` including /v1, e.g. http://127.0.0.1:8000/v1 (vLLM); empty disables the openai backend",
		Models:  "comma-separated model `names` to expose; empty lists them from the server's /v1/models at startup",
		Timeout: "longest one generation may take upstream",
	})
}

// Backend generates text on an OpenAI-compatible server.
type Backend struct {
	client *openaiapi.Client
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
	b := &Backend{client: openaiapi.NewClient(cfg.Config, log)}
	names := cfg.Models
	if len(names) == 0 {
		var err error
		names, err = b.discover(ctx)
		if err != nil {
			log.Warn("could not list the OpenAI-compatible server's models; serving none until restarted, set -openai-models to name them",
				"base_url", b.client.BaseURL(), "error", err.Error())
		} else {
			log.Info("discovered models", "base_url", b.client.BaseURL(), "models", names)
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
	req, err := b.client.Get(ctx, "/models")
	if err != nil {
		return nil, err
	}
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
	// The text option json_schema, as OpenAI's structured outputs take it
	// (vLLM, llama.cpp server and Ollama read the same shape).
	ResponseFormat *responseFormat `json:"response_format,omitempty"`

	Stream        bool `json:"stream"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type responseFormat struct {
	Type       string `json:"type"` // "json_schema"
	JSONSchema struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
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
		if s := o.GetJsonSchema(); s != "" {
			// Validation made sure it is a JSON object. Strict mode is left off: it
			// demands every property be required, which the schema may not say.
			cr.ResponseFormat = &responseFormat{Type: "json_schema"}
			cr.ResponseFormat.JSONSchema.Name = "response"
			cr.ResponseFormat.JSONSchema.Schema = json.RawMessage(s)
		}
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
	ctx, cancel := b.client.WithTimeout(ctx)
	defer cancel()
	hreq, err := b.newRequest(ctx, req)
	if err != nil {
		return nil, err
	}
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
		return readCompletion(ctx, req.GetModel(), resp.Body, emit)
	}
	return readStream(ctx, req.GetModel(), resp.Body, emit)
}

// newRequest builds the upstream HTTP request for a validated
// GenerateRequest.
func (b *Backend) newRequest(ctx context.Context, req *genaiv1.GenerateRequest) (*http.Request, error) {
	hreq, err := b.client.Post(ctx, "/chat/completions", chatRequestFor(req))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", "text/event-stream")
	return hreq, nil
}

// readStream reads a chat-completions event stream from body (the upstream
// call's context is ctx), emitting each text delta as it arrives, and
// returns the whole text.
func readStream(ctx context.Context, model string, body io.Reader, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	var (
		text      strings.Builder
		finish    string
		finished  bool
		usage     genaiv1.Usage
		gotUsage  bool
		nonEmpty  int32
		sse       = newSSEReader(body)
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
	return response(model, text.String(), &usage, finish), nil
}

// response is the GenerateResponse for one generated text.
func response(model, text string, usage *genaiv1.Usage, finish string) *genaiv1.GenerateResponse {
	return &genaiv1.GenerateResponse{
		Model: model,
		Artifacts: []*genaiv1.Artifact{{
			MimeType: "text/plain; charset=utf-8",
			Content:  &genaiv1.Artifact_Text{Text: text},
		}},
		Usage:        usage,
		FinishReason: finishReason(finish),
	}
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

// readCompletion reads a non-streaming chat completion and emits its text
// as one delta, so streaming clients still see the text before done.
func readCompletion(ctx context.Context, model string, body io.Reader, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
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
	usage := &genaiv1.Usage{InputTokens: c.Usage.PromptTokens, OutputTokens: c.Usage.CompletionTokens}
	return response(model, text, usage, c.Choices[0].FinishReason), nil
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
