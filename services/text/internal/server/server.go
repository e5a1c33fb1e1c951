// Package server assembles the text service: its backends, the shared
// Generate handler and the gRPC server.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/text/internal/backend/openai"
)

// DefaultAddr is where the text service listens by default.
const DefaultAddr = "127.0.0.1:50051"

// Config is the text service's configuration.
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
// the first model of the first route is the service's default. A further
// backend (such as the embedded engine, selected by -models-dir) is one more
// entry here.
func Routes(ctx context.Context, cfg Config, log *slog.Logger) ([]genai.Route, error) {
	var routes []genai.Route
	if cfg.OpenAI.Enabled() {
		log.Info("openai backend", "config", cfg.OpenAI)
		b, err := openai.New(ctx, cfg.OpenAI, log.With("backend", openai.Name))
		if err != nil {
			return nil, err
		}
		routes = append(routes, genai.Route{Backend: b, Concurrency: cfg.Concurrency, Queue: cfg.Queue})
	}
	if len(routes) == 0 {
		log.Warn("no text backend configured: every Generate fails with FAILED_PRECONDITION; " +
			"set -openai-base-url (or CHORUS_OPENAI_BASE_URL) to an OpenAI-compatible server such as vLLM, llama.cpp server or Ollama")
	}
	return routes, nil
}

// New validates cfg, builds the backends and returns a server ready to Run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*serve.Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	routes, err := Routes(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	h, err := genai.NewHandler(genai.Text, log, routes...)
	if err != nil {
		return nil, err
	}
	s, err := serve.New(serve.Config{Addr: cfg.GRPCAddr}, log)
	if err != nil {
		return nil, err
	}
	s.SetServing(genai.Register(s.GRPC(), h))
	return s, nil
}

// Run serves the text service until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
