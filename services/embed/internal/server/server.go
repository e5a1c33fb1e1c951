// Package server is the embedding service: its configuration, its backends
// and its gRPC server.
package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/embed/internal/backend/embedded"
	"github.com/chorus-ai/chorus/services/embed/internal/backend/openai"
)

// Routes builds one route per configured backend, in order of preference:
// the first model of the first route is the service's default. An explicitly
// configured OpenAI-compatible server comes first; the embedded models
// (-models-dir) follow, in file-name order.
//
// Backends that hold resources (memory-mapped models) are returned as
// closers, to be closed once no request can reach them.
func Routes(_ context.Context, cfg Config, log *slog.Logger) ([]genai.EmbedRoute, []io.Closer, error) {
	var routes []genai.EmbedRoute
	var closers []io.Closer
	if cfg.OpenAI.Enabled() {
		log.Info("openai backend", "config", cfg.OpenAI.Config)
		b, err := openai.New(cfg.OpenAI, log.With("backend", openai.Name))
		if err != nil {
			return nil, nil, err
		}
		routes = append(routes, cfg.Server.EmbedRoute(b))
	}
	if cfg.ModelsDir != "" {
		backends, err := embedded.OpenDir(cfg.ModelsDir, cfg.Embedded)
		if err != nil {
			return nil, nil, fmt.Errorf("-models-dir %s: %w", cfg.ModelsDir, err)
		}
		if len(backends) == 0 {
			log.Warn("no GGUF embedding models found", "models_dir", cfg.ModelsDir)
		}
		for _, b := range backends {
			closers = append(closers, b)
			m := b.Models()[0]
			log.Info("embedded model", "model", m.GetName(), "quantization", m.GetQuantization(),
				"dimensions", m.GetEmbeddingDimensions(), "max_input_tokens", m.GetMaxInputTokens())
			// The engine embeds Sessions texts at once; more would only wait
			// inside it, so admission matches it.
			routes = append(routes, genai.EmbedRoute{Backend: b, Concurrency: cfg.Embedded.Sessions, Queue: cfg.Server.Queue})
		}
	}
	if len(routes) == 0 {
		log.Warn("no embedding backend configured: every Embed fails with FAILED_PRECONDITION; " +
			"put a GGUF embedding model in -models-dir, or set -openai-base-url and -openai-models to an OpenAI-compatible embeddings server")
	}
	return routes, closers, nil
}

// Server is the embedding service's gRPC server.
type Server = serve.Modality

// New validates cfg, builds the backends and returns a server ready to Run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return serve.NewEmbedding(cfg.Server, log, func() ([]genai.EmbedRoute, []io.Closer, error) {
		return Routes(ctx, cfg, log)
	})
}
