// Package openai is the embedding backend for any OpenAI-compatible /v1/embeddings server:
// OpenAI, vLLM, llama.cpp server (--embeddings), Ollama, LocalAI, Text Embeddings Inference.
package openai

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/openaiapi"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Name is the backend name ListModels reports.
const Name = "openai"

// upstreamName names the server in errors.
const upstreamName = "the OpenAI-compatible embeddings server"

// maxBody bounds an upstream response: 256 vectors of 4096 floats as JSON text.
const maxBody = 64 << 20

// Config configures the backend: the shared OpenAI connection settings, the models to
// expose (an embeddings server's /v1/models does not say which models embed, so they are
// named), and what ListModels reports of them.
type Config struct {
	openaiapi.Config
	// Dimensions is the models' vector size, reported by ListModels and used to check
	// requests' dimensions; 0 reports none and leaves the check to the server.
	Dimensions int
	// MaxInputTokens is the models' input limit as ListModels reports it; 0 reports none.
	MaxInputTokens int
}

// Validate reports a configuration the backend cannot run with.
func (c Config) Validate() error {
	err := c.Config.Validate("http://127.0.0.1:8000/v1")
	if err == nil && (c.Dimensions < 0 || c.MaxInputTokens < 0) {
		err = fmt.Errorf("openai: -openai-dimensions and -openai-max-input-tokens must not be negative")
	}
	return err
}

// RegisterFlags registers the backend's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Config.RegisterFlags(fs, openaiapi.FlagUsage{
		BaseURL: "OpenAI-compatible API root `url` including /v1, e.g. http://127.0.0.1:8000/v1 (vLLM); empty disables the openai backend",
		Models:  "comma-separated embedding model `names` to expose; none serves none (a server's /v1/models does not say which of its models embed)",
		Timeout: "longest one embedding call may take upstream",
	})
	fs.IntVar(&c.Dimensions, "openai-dimensions", c.Dimensions, "the OpenAI-compatible models' vector size `n`, as ListModels reports it (0: unknown)")
	fs.IntVar(&c.MaxInputTokens, "openai-max-input-tokens", c.MaxInputTokens, "the OpenAI-compatible models' input limit in tokens `n`, as ListModels reports it (0: unknown)")
}

// Backend embeds on an OpenAI-compatible server.
type Backend struct {
	client *openaiapi.Client
	models []*genaiv1.Model
}

var _ genai.EmbedBackend = (*Backend)(nil)

// New builds the backend for a validated cfg.
func New(cfg Config, log *slog.Logger) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Backend{client: openaiapi.NewClient(cfg.Config, log)}
	if len(cfg.Models) == 0 {
		// CHORUS_OPENAI_BASE_URL set for the text service reaches this one
		// too under `chorus up`; serving none says so without failing.
		log.Warn("the OpenAI-compatible embeddings server has no models named: it serves none; set -openai-models (CHORUS_EMBED_OPENAI_MODELS under chorus up)",
			"base_url", b.client.BaseURL())
	}
	for _, n := range cfg.Models {
		b.models = append(b.models, &genaiv1.Model{
			Name:                n,
			Backend:             Name,
			Description:         "served by an OpenAI-compatible embeddings server",
			Capabilities:        []genaiv1.Capability{genaiv1.Capability_CAPABILITY_EMBEDDING},
			EmbeddingDimensions: int32(cfg.Dimensions),
			MaxInputTokens:      int32(cfg.MaxInputTokens),
			ContextLength:       int32(cfg.MaxInputTokens),
		})
	}
	return b, nil
}

// Models lists the exposed models.
func (b *Backend) Models() []*genaiv1.Model { return b.models }

type embedRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int32    `json:"dimensions,omitempty"`
}

type embedResponse struct {
	Model string `json:"model"`
	Data  []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Usage struct {
		PromptTokens int32 `json:"prompt_tokens"`
	} `json:"usage"`
}

// Embed sends the whole batch in one POST /embeddings and returns the vectors in input
// order, L2-normalised (most servers normalise already; some, such as llama.cpp's with
// pooling none, do not). The server decides about over-long inputs: most cut them, some
// refuse with 400 (UPSTREAM_REJECTED).
func (b *Backend) Embed(ctx context.Context, req *genaiv1.EmbedRequest) (*genaiv1.EmbedResponse, error) {
	ctx, cancel := b.client.WithTimeout(ctx)
	defer cancel()
	hreq, err := b.client.Post(ctx, "/embeddings", embedRequest{Model: req.GetModel(), Input: req.GetInputs(),
		EncodingFormat: "float", Dimensions: req.GetDimensions()})
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
	var er embedResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&er); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, openaiapi.TransportError(ctx, ctxErr, upstreamName)
		}
		return nil, badUpstream("an embeddings response that is not valid JSON").WithCause(err)
	}
	n := len(req.GetInputs())
	out := make([]*genaiv1.Embedding, n)
	dims := -1
	for _, d := range er.Data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil || len(d.Embedding) == 0 {
			return nil, badUpstream(fmt.Sprintf("an embeddings response with a missing, repeated or out-of-range index %d", d.Index))
		}
		if dims >= 0 && len(d.Embedding) != dims {
			return nil, badUpstream("embeddings of different lengths in one response")
		}
		dims = len(d.Embedding)
		v := d.Embedding
		genai.Normalize(v)
		out[d.Index] = &genaiv1.Embedding{Values: v, Index: int32(d.Index)}
	}
	for i, e := range out {
		if e == nil {
			return nil, badUpstream(fmt.Sprintf("an embeddings response without input %d's vector", i))
		}
	}
	return &genaiv1.EmbedResponse{Model: req.GetModel(), Embeddings: out,
		Usage: &genaiv1.Usage{InputTokens: er.Usage.PromptTokens}}, nil
}

func badUpstream(what string) *rpcerr.Error {
	return rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, upstreamName+" sent "+what)
}
