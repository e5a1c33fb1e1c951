// Package server is the image service: its configuration, its backends and
// its gRPC server.
package server

import (
	"context"
	"io"
	"log/slog"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/image/internal/backend/openai"
)

// Routes builds one route per configured backend, in order of preference:
// the first model of the first route is the service's default. Another
// backend (A1111, an embedded generator) is one more entry here.
//
// Unary responses too large for one gRPC message fail in the shared
// handler with RESOURCE_EXHAUSTED naming StreamGenerate (one image a
// message).
func Routes(ctx context.Context, cfg Config, log *slog.Logger) ([]genai.Route, []io.Closer, error) {
	var routes []genai.Route
	if cfg.OpenAI.Enabled() {
		log.Info("openai backend", "config", cfg.OpenAI)
		b, err := openai.New(ctx, cfg.OpenAI, log.With("backend", openai.Name))
		if err != nil {
			return nil, nil, err
		}
		routes = append(routes, cfg.Server.Route(b))
	}
	if len(routes) == 0 {
		log.Warn("no image backend configured: every Generate fails with FAILED_PRECONDITION; " +
			"set -openai-base-url and -openai-models (or CHORUS_OPENAI_BASE_URL and CHORUS_OPENAI_MODELS) to an OpenAI-compatible images API")
	}
	return routes, nil, nil
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
