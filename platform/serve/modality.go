package serve

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

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
	// HealthInterval is how often the service's grpc.health.v1 status is
	// worked out again from its backends (see Modality); zero means
	// DefaultHealthInterval.
	HealthInterval time.Duration
}

// DefaultHealthInterval is how often a modality service checks its
// backends for its health status.
const DefaultHealthInterval = 5 * time.Second

// HealthChecker is implemented by a backend that can tell it is broken
// (its worker cannot start, its upstream is gone). A backend without it is
// taken to be healthy while it lists a model.
type HealthChecker interface {
	// Healthy returns nil when the backend can serve, else why not.
	Healthy(ctx context.Context) error
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
//
// Its service reports SERVING on grpc.health.v1 while at least one backend
// lists a model and is healthy (HealthChecker), and NOT_SERVING otherwise:
// a service whose backends all failed to load, or whose only backend is
// broken, is taken out of rotation though its process runs. The status is
// worked out at start and every HealthInterval, each change logged.
type Modality struct {
	*Server
	closers  []io.Closer
	service  string
	routes   []genai.Route
	interval time.Duration
	log      *slog.Logger
	serving  *bool // the last status set; nil before the first
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
	s, h, name, err := serveRoutes(cfg, m, log, rs)
	if err != nil {
		_ = closeAll(closers)
		return nil, err
	}
	md := &Modality{Server: s, closers: append(closers, h), service: name, routes: rs,
		interval: cmp.Or(cfg.HealthInterval, DefaultHealthInterval), log: log}
	md.checkHealth(context.Background())
	return md, nil
}

func serveRoutes(cfg ModalityConfig, m genai.Modality, log *slog.Logger, routes []genai.Route) (*Server, *genai.Handler, string, error) {
	h, err := genai.NewHandler(m, log, routes...)
	if err != nil {
		return nil, nil, "", err
	}
	s, err := New(cfg.Config, log)
	if err != nil {
		_ = h.Close()
		return nil, nil, "", err
	}
	name := genai.Register(s.GRPC(), h)
	// The server as a whole serves (its process is up); the service's own
	// status follows its backends.
	s.SetServing()
	return s, h, name, nil
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
	watchCtx, stop := context.WithCancel(ctx)
	watched := make(chan struct{})
	if s.interval <= 0 {
		// An embedding service's health is set once (NewEmbedding).
		close(watched)
	} else {
		go s.watchHealth(watchCtx, watched)
	}
	err := s.Server.Run(ctx)
	stop()
	<-watched
	return errors.Join(err, closeAll(s.closers))
}

// watchHealth works out the service's status every interval until ctx
// ends, then closes done.
func (s *Modality) watchHealth(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.checkHealth(ctx)
		}
	}
}

// checkHealth sets the service's status from its backends.
func (s *Modality) checkHealth(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(s.interval, time.Second))
	defer cancel()
	why := "no backend lists a model"
	serving := false
	for _, r := range s.routes {
		if len(r.Backend.Models()) == 0 {
			continue
		}
		if hc, ok := r.Backend.(HealthChecker); ok {
			if err := hc.Healthy(ctx); err != nil {
				why = err.Error()
				continue
			}
		}
		serving = true
		break
	}
	if ctx.Err() != nil && !serving {
		return // shutting down: the server's own shutdown sets the status
	}
	if s.serving != nil && *s.serving == serving {
		return
	}
	s.serving = &serving
	s.SetStatus(s.service, serving)
	if serving {
		s.log.Info("serving", "service", s.service)
	} else {
		s.log.Warn("not serving: no backend can serve", "service", s.service, "reason", why)
	}
}

func closeAll(cs []io.Closer) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
