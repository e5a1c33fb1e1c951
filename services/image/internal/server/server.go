// Package server is the image service: its configuration, its backends and
// its gRPC server.
package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/image/internal/backend/a1111"
	"github.com/chorus-ai/chorus/services/image/internal/backend/embedded"
	"github.com/chorus-ai/chorus/services/image/internal/backend/openai"
)

// Routes builds one route per configured backend, in order of preference:
// the first model of the first route is the service's default. The
// embedded image models (-models-dir) come first, so the service draws
// offline with no configuration; an OpenAI-compatible images API and an
// AUTOMATIC1111 server follow when configured.
//
// Unary responses too large for one gRPC message fail in the shared
// handler with RESOURCE_EXHAUSTED naming StreamGenerate (one image a
// message).
func Routes(ctx context.Context, cfg Config, log *slog.Logger) ([]genai.Route, []io.Closer, error) {
	var routes []genai.Route
	var closers []io.Closer
	if cfg.ModelsDir != "" {
		dir, err := embedded.WatchDir(cfg.ModelsDir, cfg.Embedded, cfg.Rescan, log.With("backend", embedded.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("-models-dir %s: %w", cfg.ModelsDir, err)
		}
		closers = append(closers, dir)
		// The engine samples Sessions pictures of a model at once; each
		// model's admission matches. Files added to or removed from the
		// directory later are served or dropped without a restart.
		route := cfg.Server.Route(dir)
		route.Concurrency = cfg.Embedded.Sessions
		route.Dynamic = true
		routes = append(routes, route)
	}
	if cfg.OpenAI.Enabled() {
		log.Info("openai backend", "config", cfg.OpenAI)
		b, err := openai.New(ctx, cfg.OpenAI, log.With("backend", openai.Name))
		if err != nil {
			closeAll(closers)
			return nil, nil, err
		}
		routes = append(routes, cfg.Server.Route(b))
	}
	if cfg.A1111.Enabled() {
		log.Info("a1111 backend", "config", cfg.A1111)
		b, err := a1111.New(cfg.A1111)
		if err != nil {
			closeAll(closers)
			return nil, nil, err
		}
		routes = append(routes, cfg.Server.Route(b))
	}
	if len(routes) == 0 {
		log.Warn("no image backend configured: every Generate fails with FAILED_PRECONDITION; " +
			"put an image model GGUF in -models-dir, or set -openai-base-url and -openai-models (CHORUS_OPENAI_BASE_URL, CHORUS_OPENAI_MODELS) " +
			"to an OpenAI-compatible images API, or -a1111-base-url to an AUTOMATIC1111 server")
	}
	return routes, closers, nil
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		_ = c.Close()
	}
}

// Server is the image service's gRPC server: the modality server every
// service shares, over the routes of Routes.
type Server = serve.Modality

// New validates cfg, builds the backends and returns a server ready to Run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return serve.NewModality(cfg.Server, genai.Image, log, func() ([]genai.Route, []io.Closer, error) {
		return Routes(ctx, cfg, log)
	})
}
