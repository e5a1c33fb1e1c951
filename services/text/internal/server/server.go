// Package server assembles the text service: its backends, the shared
// Generate handler and the gRPC server.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/text/internal/backend/embedded"
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
	// ModelsDir holds GGUF files served in process by the embedded engine,
	// one model per file named after it; empty or missing serves none.
	ModelsDir string
	// Embedded tunes the embedded engine.
	Embedded embedded.Config
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
// the first model of the first route is the service's default. An explicitly
// configured OpenAI-compatible server comes first; the embedded models
// (-models-dir) follow, in file-name order.
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
		routes = append(routes, genai.Route{Backend: b, Concurrency: cfg.Concurrency, Queue: cfg.Queue})
	}
	if cfg.ModelsDir != "" {
		backends, err := embedded.OpenDir(cfg.ModelsDir, cfg.Embedded)
		if err != nil {
			return nil, nil, fmt.Errorf("-models-dir %s: %w", cfg.ModelsDir, err)
		}
		if len(backends) == 0 {
			log.Warn("no GGUF models found", "models_dir", cfg.ModelsDir)
		}
		sessions := max(cfg.Embedded.Sessions, 1)
		for _, b := range backends {
			closers = append(closers, b)
			m := b.Models()[0]
			log.Info("embedded model", "model", m.GetName(), "quantization", m.GetQuantization(), "context", m.GetContextLength())
			// The engine itself runs Sessions generations at once; more would
			// only wait inside it, so admission matches it.
			routes = append(routes, genai.Route{Backend: b, Concurrency: sessions, Queue: cfg.Queue})
		}
	}
	if len(routes) == 0 {
		log.Warn("no text backend configured: every Generate fails with FAILED_PRECONDITION; " +
			"put GGUF files in -models-dir, or set -openai-base-url (or CHORUS_OPENAI_BASE_URL) to an OpenAI-compatible server such as vLLM, llama.cpp server or Ollama")
	}
	return routes, closers, nil
}

// Server is the text service's gRPC server and the backends it owns.
type Server struct {
	*serve.Server
	closers []io.Closer
}

// Run serves until ctx ends, drains in-flight requests, then releases the
// backends.
func (s *Server) Run(ctx context.Context) error {
	err := s.Server.Run(ctx)
	for _, c := range s.closers {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}

// New validates cfg, builds the backends and returns a server ready to Run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	routes, closers, err := Routes(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	h, err := genai.NewHandler(genai.Text, log, routes...)
	if err != nil {
		closeAll(closers)
		return nil, err
	}
	s, err := serve.New(serve.Config{Addr: cfg.GRPCAddr}, log)
	if err != nil {
		closeAll(closers)
		return nil, err
	}
	s.SetServing(genai.Register(s.GRPC(), h))
	return &Server{Server: s, closers: closers}, nil
}

// Run serves the text service until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
