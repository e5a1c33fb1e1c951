// Package server is the text service: its configuration, its backends and
// its gRPC server.
package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/text/internal/backend/embedded"
	"github.com/chorus-ai/chorus/services/text/internal/backend/openai"
)

// Routes builds one route per configured backend, in order of preference:
// the first model of the first route is the service's default. An explicitly
// configured OpenAI-compatible server comes first; the embedded models
// (-models-dir, rescanned every -rescan) follow, in file-name order. A new
// backend is registered here, as one more route.
//
// Backends that hold resources (memory-mapped models) are returned as
// closers, to be closed once no request can reach them.
func Routes(ctx context.Context, cfg Config, log *slog.Logger) ([]genai.Route, []io.Closer, error) {
	var routes []genai.Route
	var closers []io.Closer
	if cfg.OpenAI.Enabled() {
		log.Info("openai backend", "config", cfg.OpenAI)
		b, err := openai.New(ctx, cfg.OpenAI, log.With("backend", openai.Name))
		if err != nil {
			return nil, nil, err
		}
		routes = append(routes, cfg.Server.Route(b))
	}
	if cfg.ModelsDir != "" {
		dir, err := embedded.WatchDir(cfg.ModelsDir, cfg.Embedded, cfg.Rescan, log.With("backend", "embedded"))
		if err != nil {
			return nil, nil, fmt.Errorf("-models-dir %s: %w", cfg.ModelsDir, err)
		}
		closers = append(closers, dir)
		if len(dir.Models()) == 0 {
			log.Warn("no GGUF models found yet", "models_dir", cfg.ModelsDir, "rescan", cfg.Rescan)
		}
		// The engine runs one generation per slot at once, batched
		// together; more would only wait inside it, so each model's
		// admission matches its slots (the Dir's Concurrency). Files added
		// to or removed from the directory later are served or dropped
		// without a restart (Dynamic).
		routes = append(routes, genai.Route{Backend: dir, Concurrency: cfg.Embedded.Sessions, Queue: cfg.Server.Queue, Dynamic: true})
	}
	if len(routes) == 0 {
		log.Warn("no text backend configured: every Generate fails with FAILED_PRECONDITION; " +
			"put GGUF files in -models-dir, or set -openai-base-url (or CHORUS_OPENAI_BASE_URL) to an OpenAI-compatible server such as vLLM, llama.cpp server or Ollama")
	}
	return routes, closers, nil
}

// Server is the text service's gRPC server: the modality server every
// service shares, over the routes of Routes.
type Server = serve.Modality

// New validates cfg, builds the backends and returns a server ready to Run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return serve.NewModality(cfg.Server, genai.Text, log, func() ([]genai.Route, []io.Closer, error) {
		return Routes(ctx, cfg, log)
	})
}
