// Package server implements chorus.orchestrator.v1.OrchestratorService over
// the pipeline registry and the runner.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/chorus-ai/chorus/orchestrator/internal/admission"
	"github.com/chorus-ai/chorus/orchestrator/internal/artifact"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/orchestrator/internal/runner"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve"
)

// ReasonPipelineNotFound is the ErrorInfo reason for an unknown pipeline.
const ReasonPipelineNotFound = "PIPELINE_NOT_FOUND"

// DefaultRunTimeout bounds a run whose client set no deadline.
const DefaultRunTimeout = 5 * time.Minute

// Server serves OrchestratorService.
type Server struct {
	orchestratorv1.UnimplementedOrchestratorServiceServer
	pipelines  *pipeline.Registry
	runner     *runner.Runner
	runTimeout time.Duration
	log        *slog.Logger
	gate       *admission.Gate
	jobs       *jobs.Manager
	artifacts  *artifact.Dir
}

var _ orchestratorv1.OrchestratorServiceServer = (*Server)(nil)

// Config holds what a Server serves. Pipelines and Runner are required.
type Config struct {
	Pipelines *pipeline.Registry
	Runner    *runner.Runner
	// RunTimeout (DefaultRunTimeout if 0) bounds runs whose client set no
	// deadline.
	RunTimeout time.Duration
	Log        *slog.Logger
	// Gate admits runs (RunPipeline and jobs alike); nil admits every run.
	Gate *admission.Gate
	// Jobs serves the job RPCs; nil answers them UNIMPLEMENTED.
	Jobs *jobs.Manager
	// Artifacts serves GetArtifact; nil answers it NOT_FOUND.
	Artifacts *artifact.Dir
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = DefaultRunTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Gate == nil {
		cfg.Gate = admission.New(1<<20, 0)
	}
	return &Server{pipelines: cfg.Pipelines, runner: cfg.Runner, runTimeout: cfg.RunTimeout, log: cfg.Log,
		gate: cfg.Gate, jobs: cfg.Jobs, artifacts: cfg.Artifacts}
}

// Register registers s on g and returns the service's full name.
func (s *Server) Register(g grpc.ServiceRegistrar) string {
	orchestratorv1.RegisterOrchestratorServiceServer(g, s)
	return orchestratorv1.OrchestratorService_ServiceDesc.ServiceName
}

// ListPipelines implements OrchestratorServiceServer.
func (s *Server) ListPipelines(context.Context, *orchestratorv1.ListPipelinesRequest) (*orchestratorv1.ListPipelinesResponse, error) {
	out := &orchestratorv1.ListPipelinesResponse{}
	for _, name := range s.pipelines.Names() {
		out.Pipelines = append(out.Pipelines, s.pipelines.Get(name).Proto())
	}
	return out, nil
}

// GetPipeline implements OrchestratorServiceServer.
func (s *Server) GetPipeline(_ context.Context, req *orchestratorv1.GetPipelineRequest) (*orchestratorv1.GetPipelineResponse, error) {
	p, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return &orchestratorv1.GetPipelineResponse{Pipeline: p.Proto()}, nil
}

// RunPipeline implements OrchestratorServiceServer. Requests that cannot
// start fail before any event; a run that fails sends run_failed and then
// ends with the same status.
func (s *Server) RunPipeline(req *orchestratorv1.RunPipelineRequest, stream grpc.ServerStreamingServer[orchestratorv1.RunPipelineResponse]) error {
	p, err := s.lookup(req.GetName())
	if err != nil {
		return err
	}
	inputs, err := p.ResolveInputs(req.GetInputs())
	if err != nil {
		return err
	}
	ctx := stream.Context()
	release, err := s.admit(ctx)
	if err != nil {
		return err
	}
	defer release()
	// Before the first event: a run that cannot start fails as a plain
	// UNAVAILABLE (503 through the gateway), not in the middle of a stream.
	if err := s.runner.Preflight(ctx, p); err != nil {
		// The check already waited for the service; tell clients' retry
		// policies not to repeat the call (gRPC's server pushback).
		stream.SetTrailer(metadata.Pairs("grpc-retry-pushback-ms", "-1"))
		return err
	}
	if !serve.ClientSetDeadline(ctx) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.runTimeout)
		defer cancel()
	}
	runID := newRunID()
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("chorus.pipeline", p.Name), attribute.String("chorus.run_id", runID))
	s.log.InfoContext(ctx, "run started", "pipeline", p.Name, "run_id", runID)
	start := time.Now()
	err = s.runner.Run(ctx, p, inputs, func(ev *orchestratorv1.RunPipelineResponse) error {
		ev.RunId = runID
		return stream.Send(ev)
	})
	s.log.InfoContext(ctx, "run finished", "pipeline", p.Name, "run_id", runID,
		"ok", err == nil, "duration_ms", time.Since(start).Milliseconds())
	var deliberate *rpcerr.Error
	switch {
	case err == nil:
		return nil
	case stream.Context().Err() != nil:
		// The client went away or its deadline passed: say so, rather
		// than whatever the failed Send reported.
		return stream.Context().Err()
	case !errors.As(err, &deliberate):
		// Only a failed Send gets here: the client's connection closed
		// before its context noticed. Nobody is left to read this.
		return rpcerr.New(codes.Canceled, rpcerr.ReasonCanceled, "the client went away").WithCause(err)
	}
	return err
}

func (s *Server) lookup(name string) (*pipeline.Pipeline, error) {
	if name == "" {
		return nil, rpcerr.Invalid(rpcerr.FieldViolation{Field: "name", Description: "must name a pipeline; ListPipelines lists them"})
	}
	p := s.pipelines.Get(name)
	if p == nil {
		shown := name
		if len(shown) > 64 {
			shown = shown[:64] + "..."
		}
		shown = strings.ToValidUTF8(shown, "?")
		return nil, rpcerr.New(codes.NotFound, ReasonPipelineNotFound,
			fmt.Sprintf("no pipeline %q; ListPipelines lists the %d this orchestrator runs", shown, len(s.pipelines.Names()))).
			WithMetadata("pipeline", shown)
	}
	return p, nil
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
