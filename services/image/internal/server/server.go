// Package server assembles the image service: its backends, the shared
// Generate handler behind a response-size guard, and the gRPC server.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/image/internal/backend/openai"
)

// DefaultAddr is where the image service listens by default.
const DefaultAddr = "127.0.0.1:50052"

// Config is the image service's configuration.
type Config struct {
	// GRPCAddr is the gRPC listen address.
	GRPCAddr string
	// OpenAI configures the OpenAI-compatible backend; disabled when its
	// BaseURL is empty.
	OpenAI openai.Config
	// Concurrency is how many requests each backend runs at once.
	Concurrency int
	// Queue is how many more requests may wait per backend.
	Queue int
}

// Validate reports a configuration the service cannot start with.
func (c Config) Validate() error {
	var errs []error
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("-concurrency must be at least 1, got %d", c.Concurrency))
	}
	// genai.Route reads a zero queue as "the default", so 0 cannot mean
	// "no queue"; refuse it rather than surprise.
	if c.Queue < 1 {
		errs = append(errs, fmt.Errorf("-queue must be at least 1, got %d", c.Queue))
	}
	if c.OpenAI.Enabled() {
		if err := c.OpenAI.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Routes builds one route per configured backend, in order of preference:
// the first model of the first route is the service's default. Another
// backend (A1111, an embedded generator) is one more entry here.
func Routes(cfg Config, log *slog.Logger) ([]genai.Route, error) {
	var routes []genai.Route
	if cfg.OpenAI.Enabled() {
		log.Info("openai backend", "config", cfg.OpenAI)
		if !strings.HasSuffix(strings.TrimSuffix(cfg.OpenAI.BaseURL, "/"), "/v1") {
			// OpenAI-compatible servers serve the API under /v1; without it
			// every call is a 404.
			log.Warn("the OpenAI base URL usually ends in /v1", "config", cfg.OpenAI)
		}
		b, err := openai.New(cfg.OpenAI)
		if err != nil {
			return nil, err
		}
		routes = append(routes, genai.Route{Backend: b, Concurrency: cfg.Concurrency, Queue: cfg.Queue})
	}
	if len(routes) == 0 {
		log.Warn("no image backend configured: every Generate fails with FAILED_PRECONDITION; " +
			"set -openai-base-url and -openai-models (or CHORUS_OPENAI_BASE_URL and CHORUS_OPENAI_MODELS) to an OpenAI-compatible images API")
	}
	return routes, nil
}

// New validates cfg, builds the backends and returns a server ready to Run.
func New(cfg Config, log *slog.Logger) (*serve.Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	routes, err := Routes(cfg, log)
	if err != nil {
		return nil, err
	}
	return newServer(cfg.GRPCAddr, log, routes...)
}

func newServer(addr string, log *slog.Logger, routes ...genai.Route) (*serve.Server, error) {
	h, err := genai.NewHandler(genai.Image, log, routes...)
	if err != nil {
		return nil, err
	}
	s, err := serve.New(serve.Config{Addr: addr}, log)
	if err != nil {
		return nil, err
	}
	// Unary responses too large for one gRPC message fail in the handler
	// with RESOURCE_EXHAUSTED naming StreamGenerate (one image a message).
	s.SetServing(genai.Register(s.GRPC(), h))
	return s, nil
}

// Run serves the image service until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
