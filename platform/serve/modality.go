package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/genai"
)

// ModalityConfig is the part of a modality service's configuration that
// every modality shares: where it listens, and how many requests each of
// its backends admits.
type ModalityConfig struct {
	Config
	// Concurrency is how many requests each backend runs at once.
	Concurrency int
	// Queue is how many more requests may wait per backend; beyond that
	// they fail with RESOURCE_EXHAUSTED.
	Queue int
}

// Validate reports a configuration the server cannot start with.
//
// The checks live here, and not in the flag types: a configuration built
// in code (a test, another program) goes through Validate too, while only
// one built from flags goes through the flags. Flags therefore only parse;
// app.Serve runs Validate right after parsing, so a bad flag still exits 2.
func (c ModalityConfig) Validate() error {
	var errs []error
	if err := c.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("-concurrency must be at least 1, got %d", c.Concurrency))
	}
	// genai.Route reads a zero queue as "the default", so 0 cannot mean
	// "no queue"; refuse it rather than surprise.
	if c.Queue < 1 {
		errs = append(errs, fmt.Errorf("-queue must be at least 1, got %d", c.Queue))
	}
	return errors.Join(errs...)
}

// RegisterFlags registers -grpc-addr, -metrics-addr, -concurrency,
// -queue and Config's flags, with c's values as their defaults.
func (c *ModalityConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "grpc-addr", c.Addr, "gRPC listen address")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "HTTP listen address of GET /metrics (Prometheus); \"auto\": the gRPC port + 1000 if free; empty: none")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "each backend runs `n` requests at once")
	fs.IntVar(&c.Queue, "queue", c.Queue, "`n` more requests may wait per backend; beyond that RESOURCE_EXHAUSTED")
	c.Config.RegisterFlags(fs)
}

// Route admits requests to b as c says.
func (c ModalityConfig) Route(b genai.Backend) genai.Route {
	return genai.Route{Backend: b, Concurrency: c.Concurrency, Queue: c.Queue}
}

// Modality is a modality service's server: the shared Generate handler
// over the service's routes, on a Server, and the backends it must release
// once no request can reach them. A modality service differs from another
// only in the routes it builds.
type Modality struct {
	*Server
	closers []io.Closer
}

// Routes builds a modality service's backends: one route each, the first
// model of the first route being the service's default, and the closers to
// call once no request can reach them.
type Routes func() ([]genai.Route, []io.Closer, error)

// NewModality builds the backends with routes and serves the modality m
// over them, on a server configured by cfg, validated by the caller. It
// owns the closers from then on: it closes them itself if it fails, else
// when Run returns.
func NewModality(cfg ModalityConfig, m genai.Modality, log *slog.Logger, routes Routes) (*Modality, error) {
	rs, closers, err := routes()
	if err != nil {
		return nil, err
	}
	s, h, err := serveRoutes(cfg, m, log, rs)
	if err != nil {
		_ = closeAll(closers)
		return nil, err
	}
	return &Modality{Server: s, closers: append(closers, h)}, nil
}

func serveRoutes(cfg ModalityConfig, m genai.Modality, log *slog.Logger, routes []genai.Route) (*Server, *genai.Handler, error) {
	h, err := genai.NewHandler(m, log, routes...)
	if err != nil {
		return nil, nil, err
	}
	s, err := New(cfg.Config, log)
	if err != nil {
		_ = h.Close()
		return nil, nil, err
	}
	s.SetServing(genai.Register(s.GRPC(), h))
	return s, h, nil
}

// EmbedRoute admits embedding requests to b as c says.
func (c ModalityConfig) EmbedRoute(b genai.EmbedBackend) genai.EmbedRoute {
	return genai.EmbedRoute{Backend: b, Concurrency: c.Concurrency, Queue: c.Queue}
}

// EmbedRoutes builds the embedding service's backends, as Routes does a modality's.
type EmbedRoutes func() ([]genai.EmbedRoute, []io.Closer, error)

// NewEmbedding is NewModality for the embedding service: chorus.genai.v1.EmbeddingService
// (genai.EmbedHandler) over the routes that routes builds.
func NewEmbedding(cfg ModalityConfig, log *slog.Logger, routes EmbedRoutes) (*Modality, error) {
	rs, closers, err := routes()
	if err != nil {
		return nil, err
	}
	h, err := genai.NewEmbedHandler(log, rs...)
	if err != nil {
		_ = closeAll(closers)
		return nil, err
	}
	s, err := New(cfg.Config, log)
	if err != nil {
		_ = h.Close()
		_ = closeAll(closers)
		return nil, err
	}
	genaiv1.RegisterEmbeddingServiceServer(s.GRPC(), h)
	s.SetServing(genaiv1.EmbeddingService_ServiceDesc.ServiceName)
	return &Modality{Server: s, closers: append(closers, h)}, nil
}

// Run serves until ctx ends, drains in-flight requests, then releases the
// backends.
func (s *Modality) Run(ctx context.Context) error {
	err := s.Server.Run(ctx)
	return errors.Join(err, closeAll(s.closers))
}

func closeAll(cs []io.Closer) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
