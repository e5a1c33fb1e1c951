// Package server assembles the image service: its backends, the shared
// Generate handler behind a response-size guard, and the gRPC server.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/image/internal/backend/openai"
)

// DefaultAddr is where the image service listens by default.
const DefaultAddr = "127.0.0.1:50052"

// MaxUnaryBytes is the largest unary Generate response the service sends:
// gRPC clients refuse messages over 4 MiB by default, and Chorus does not
// raise that limit. StreamGenerate sends one image per message instead.
const MaxUnaryBytes = 3.5 * (1 << 20)

// ReasonResponseTooLarge is the ErrorInfo reason when a unary response
// would exceed MaxUnaryBytes.
const ReasonResponseTooLarge = "RESPONSE_TOO_LARGE"

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
	genaiv1.RegisterImageServiceServer(s.GRPC(), &imageService{h: h})
	s.SetServing(genaiv1.ImageService_ServiceDesc.ServiceName)
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

// imageService is genai's handler with one addition: unary responses that
// would not fit in a gRPC message fail with a status that says what to do,
// instead of the client's opaque "message larger than max".
type imageService struct {
	genaiv1.UnimplementedImageServiceServer
	h *genai.Handler
}

var _ genaiv1.ImageServiceServer = (*imageService)(nil)

// Generate implements genaiv1.ImageServiceServer.
func (s *imageService) Generate(ctx context.Context, req *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	resp, err := s.h.Generate(ctx, req)
	if err != nil {
		return nil, err
	}
	if n := proto.Size(resp); n > MaxUnaryBytes {
		return nil, rpcerr.New(codes.ResourceExhausted, ReasonResponseTooLarge,
			fmt.Sprintf("the %d images come to %.1f MiB, more than the %.1f MiB a unary response carries; use StreamGenerate, which sends one image per message, or ask for fewer or smaller images",
				len(resp.GetArtifacts()), float64(n)/(1<<20), float64(MaxUnaryBytes)/(1<<20))).
			WithMetadata("subject", "response_bytes")
	}
	return resp, nil
}

// StreamGenerate implements genaiv1.ImageServiceServer.
func (s *imageService) StreamGenerate(req *genaiv1.GenerateRequest, stream grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	return s.h.StreamGenerate(req, stream)
}

// ListModels implements genaiv1.ImageServiceServer.
func (s *imageService) ListModels(ctx context.Context, req *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return s.h.ListModels(ctx, req)
}
