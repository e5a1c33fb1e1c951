// Package service assembles the orchestrator from its configuration: the
// connections to the modality services, the job store, the artifact store,
// the pipeline runner and the gRPC server, and runs them until shutdown.
package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/orchestrator/internal/admission"
	"github.com/chorus-ai/chorus/orchestrator/internal/artifact"
	"github.com/chorus-ai/chorus/orchestrator/internal/collection"
	"github.com/chorus-ai/chorus/orchestrator/internal/collection/chromemstore"
	"github.com/chorus-ai/chorus/orchestrator/internal/collection/pgvecstore"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/pgstore"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/sqlitestore"
	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/orchestrator/internal/runner"
	"github.com/chorus-ai/chorus/orchestrator/internal/server"
	"github.com/chorus-ai/chorus/platform/dial"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// Service is an assembled orchestrator, ready to Run.
type Service struct {
	cfg       Config
	log       *slog.Logger
	grpc      *serve.Server
	jobs      *jobs.Manager
	artifacts *artifact.Dir
	closers   []io.Closer // released when Run returns, last first
	stopJobs  func() bool
}

// New validates cfg and builds the orchestrator. ctx is the one Run will
// get: jobs end (recorded as aborted) as soon as it is done, so that
// WatchJob streams end too and do not hold up the graceful stop.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Service, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	pipelines, err := pipeline.Builtin()
	if err != nil {
		return nil, fmt.Errorf("built-in pipelines: %w", err)
	}
	if cfg.PipelinesDir != "" {
		if err := pipelines.LoadDir(cfg.PipelinesDir); err != nil {
			return nil, fmt.Errorf("-pipelines-dir %s: %w", cfg.PipelinesDir, err)
		}
	}
	tlsOpts, err := cfg.UpstreamTLS.DialOptions()
	if err != nil {
		return nil, err
	}
	clients := map[genai.Modality]genai.Client{}
	for m, target := range map[genai.Modality]string{genai.Text: cfg.TextAddr, genai.Image: cfg.ImageAddr, genai.Audio: cfg.AudioAddr} {
		// Connections are lazy: the orchestrator starts without its peers,
		// and a run fails UNAVAILABLE while one is down. The runner's step
		// retries (runner.Retry) are the only retries of a pipeline's
		// calls, so that they do not multiply with the connection's.
		conn, err := dial.Dial(target, append(append(cfg.UpstreamKey.DialOptions(), tlsOpts...), dial.WithoutRetries())...)
		if err != nil {
			return nil, fmt.Errorf("-%s-addr: %w", m, err)
		}
		s.closers = append(s.closers, conn)
		clients[m] = genai.NewClient(m, conn)
	}
	embedConn, err := dial.Dial(cfg.EmbedAddr, append(cfg.UpstreamKey.DialOptions(), tlsOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("-embed-addr: %w", err)
	}
	s.closers = append(s.closers, embedConn)
	jobsDB, artifactsDir, collectionsDB := cfg.paths()
	collections, err := openCollections(ctx, collectionsDB)
	if err != nil {
		return nil, fmt.Errorf("-collections-db: %w", err)
	}
	s.closers = append(s.closers, collections)
	coll := collection.NewServer(collections, genaiv1.NewEmbeddingServiceClient(embedConn))
	if s.artifacts, err = artifact.OpenDir(artifactsDir); err != nil {
		return nil, fmt.Errorf("-artifacts-dir: %w", err)
	}
	store, err := openStore(ctx, jobsDB, cfg.Lease)
	if err != nil {
		return nil, fmt.Errorf("-jobs-db: %w", err)
	}
	s.closers = append(s.closers, store)
	rn := runner.New(runner.Config{Clients: clients, MaxParallelSteps: cfg.MaxParallelSteps, Log: log, Artifacts: s.artifacts, InlineLimit: cfg.InlineLimit, Retriever: coll,
		MaxStepBytes: cfg.MaxStepBytes, MaxRunBytes: cfg.MaxRunBytes})
	gate := admission.New(cfg.MaxRuns, cfg.RunQueue)
	s.jobs = jobs.New(jobs.Config{Store: store, Runner: rn, Gate: gate, RunTimeout: cfg.RunTimeout, Log: log})
	s.closers = append(s.closers, closerFunc(s.jobs.Close))
	s.stopJobs = context.AfterFunc(ctx, s.jobs.Close)
	if n, err := s.jobs.Recover(ctx); err != nil {
		return nil, fmt.Errorf("-jobs-db: recovering interrupted jobs: %w", err)
	} else if n > 0 {
		log.Warn("jobs interrupted by the last stop marked failed", "count", n)
	}
	if s.grpc, err = serve.New(serve.Config{Addr: cfg.GRPCAddr, MetricsAddr: cfg.MetricsAddr, ShutdownTimeout: 10 * time.Second,
		Auth: cfg.Serve.Auth, Reflection: cfg.Serve.Reflection, TLS: cfg.Serve.TLS, MaxCallDuration: cfg.Serve.MaxCallDuration}, log); err != nil {
		return nil, err
	}
	srv := server.New(server.Config{Pipelines: pipelines, Runner: rn, RunTimeout: cfg.RunTimeout, Log: log,
		Gate: gate, Jobs: s.jobs, Artifacts: s.artifacts})
	s.grpc.SetServing(srv.Register(s.grpc.GRPC()), coll.Register(s.grpc.GRPC()))
	log.Info("pipelines loaded", "names", pipelines.Names(), "jobs_db", jobsDB, "artifacts_dir", artifactsDir)
	return s, nil
}

// Run serves until ctx ends, keeping house meanwhile, then releases what
// New opened.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()
	go housekeep(ctx, s.log, s.jobs, s.artifacts, s.cfg.ArtifactTTL, s.cfg.Lease/2)
	return s.grpc.Run(ctx)
}

func (s *Service) close() {
	if s.stopJobs != nil {
		s.stopJobs()
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i].Close()
	}
	s.closers = nil
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }

// openCollections opens the collections' store that -collections-db names.
func openCollections(ctx context.Context, db string) (collection.Store, error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return pgvecstore.Open(ctx, db)
	}
	return chromemstore.Open(db)
}

// openStore opens the job store that -jobs-db names.
func openStore(ctx context.Context, db string, lease time.Duration) (jobs.Store, error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return pgstore.Open(ctx, db, lease)
	}
	return sqlitestore.Open(ctx, db)
}

// housekeep fails jobs orphaned by another process sharing the job store
// (every interval) and removes expired artifacts (every minute), until ctx
// ends.
func housekeep(ctx context.Context, log *slog.Logger, m *jobs.Manager, artifacts *artifact.Dir, ttl, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var swept time.Time
	for {
		if time.Since(swept) >= time.Minute {
			swept = time.Now()
			if n, err := artifacts.Sweep(time.Now().Add(-ttl)); err != nil {
				log.Warn("removing expired artifacts", "error", err.Error())
			} else if n > 0 {
				log.Info("expired artifacts removed", "count", n)
			}
		}
		if _, err := m.Recover(ctx); err != nil && ctx.Err() == nil {
			log.Warn("recovering orphaned jobs", "error", err.Error())
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
