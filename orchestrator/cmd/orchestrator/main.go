// Command orchestrator serves chorus.orchestrator.v1.OrchestratorService: it
// runs declarative multi-modal pipelines over the text, image and audio
// services.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/orchestrator/internal/admission"
	"github.com/chorus-ai/chorus/orchestrator/internal/artifact"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/pgstore"
	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/sqlitestore"
	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/orchestrator/internal/runner"
	"github.com/chorus-ai/chorus/orchestrator/internal/server"
	"github.com/chorus-ai/chorus/platform/app"
	"github.com/chorus-ai/chorus/platform/dial"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/serve"
)

func main() {
	fs := flag.NewFlagSet("orchestrator", flag.ContinueOnError)
	grpcAddr := fs.String("grpc-addr", ports.OrchestratorAddr, "address to serve gRPC on")
	textAddr := fs.String("text-addr", ports.TextAddr, "gRPC target of the text service")
	imageAddr := fs.String("image-addr", ports.ImageAddr, "gRPC target of the image service")
	audioAddr := fs.String("audio-addr", ports.AudioAddr, "gRPC target of the audio service")
	dir := fs.String("pipelines-dir", "", "directory of extra pipeline YAML files (*.yaml, *.yml); a file may replace a built-in of the same name")
	runTimeout := fs.Duration("run-timeout", server.DefaultRunTimeout, "deadline of a run whose client sets none")
	maxSteps := fs.Int("max-parallel-steps", 4, "most steps of one run that execute at once")
	dataDir := fs.String("data-dir", defaultDataDir(), "directory for the job database and the artifact store")
	jobsDB := fs.String("jobs-db", "", "SQLite file of jobs and their events (default <data-dir>/jobs.db), or a postgres:// URL for a database that several orchestrators share")
	lease := fs.Duration("lease", pgstore.DefaultLease, "with PostgreSQL: how long a silent orchestrator keeps its jobs before another records them failed")
	artifactsDir := fs.String("artifacts-dir", "", "directory of stored artifacts (default <data-dir>/artifacts)")
	artifactTTL := fs.Duration("artifact-ttl", 7*24*time.Hour, "how long stored artifacts are kept")
	inlineLimit := fs.Int("inline-limit", runner.DefaultInlineLimit, "largest artifact (bytes) sent inline; larger ones are stored and sent by uri")
	maxRuns := fs.Int("max-runs", 4, "most runs (RunPipeline and jobs) executing at once")
	runQueue := fs.Int("run-queue", 16, "most runs waiting for a place; more are refused RESOURCE_EXHAUSTED")
	app.Main("orchestrator", fs, func(ctx context.Context, log *slog.Logger) error {
		if *runTimeout <= 0 {
			return errors.New("-run-timeout must be positive")
		}
		if *maxSteps < 1 {
			return errors.New("-max-parallel-steps must be at least 1")
		}
		if *maxRuns < 1 || *runQueue < 0 {
			return errors.New("-max-runs must be at least 1 and -run-queue at least 0")
		}
		if *artifactTTL <= 0 || *inlineLimit < 1 || *lease <= 0 {
			return errors.New("-artifact-ttl, -inline-limit and -lease must be positive")
		}
		if *jobsDB == "" {
			*jobsDB = filepath.Join(*dataDir, "jobs.db")
		}
		if *artifactsDir == "" {
			*artifactsDir = filepath.Join(*dataDir, "artifacts")
		}
		pipelines, err := pipeline.Builtin()
		if err != nil {
			return fmt.Errorf("built-in pipelines: %w", err)
		}
		if *dir != "" {
			if err := pipelines.LoadDir(*dir); err != nil {
				return fmt.Errorf("-pipelines-dir %s: %w", *dir, err)
			}
		}
		clients := map[genai.Modality]genai.Client{}
		for _, svc := range []struct {
			modality genai.Modality
			target   string
		}{{genai.Text, *textAddr}, {genai.Image, *imageAddr}, {genai.Audio, *audioAddr}} {
			// Connections are lazy: the orchestrator starts without its
			// peers, and a run fails UNAVAILABLE while one is down.
			conn, err := dial.Dial(svc.target)
			if err != nil {
				return fmt.Errorf("-%s-addr: %w", svc.modality, err)
			}
			defer conn.Close()
			clients[svc.modality] = genai.NewClient(svc.modality, conn)
		}
		artifacts, err := artifact.OpenDir(*artifactsDir)
		if err != nil {
			return fmt.Errorf("-artifacts-dir: %w", err)
		}
		store, err := openStore(ctx, *jobsDB, *lease)
		if err != nil {
			return fmt.Errorf("-jobs-db: %w", err)
		}
		defer store.Close()
		rn := runner.New(runner.Config{Clients: clients, MaxParallelSteps: *maxSteps, Log: log, Artifacts: artifacts, InlineLimit: *inlineLimit})
		gate := admission.New(*maxRuns, *runQueue)
		manager := jobs.New(jobs.Config{Store: store, Runner: rn, Gate: gate, RunTimeout: *runTimeout, Log: log})
		defer manager.Close()
		// Jobs end (recorded as aborted) as soon as shutdown begins, so that
		// WatchJob streams end too and do not hold up the graceful stop.
		stopJobs := context.AfterFunc(ctx, manager.Close)
		defer stopJobs()
		if n, err := manager.Recover(ctx); err != nil {
			return fmt.Errorf("-jobs-db: recovering interrupted jobs: %w", err)
		} else if n > 0 {
			log.Warn("jobs interrupted by the last stop marked failed", "count", n)
		}
		srv, err := serve.New(serve.Config{Addr: *grpcAddr, ShutdownTimeout: 10 * time.Second}, log)
		if err != nil {
			return err
		}
		s := server.New(server.Config{Pipelines: pipelines, Runner: rn, RunTimeout: *runTimeout, Log: log,
			Gate: gate, Jobs: manager, Artifacts: artifacts})
		srv.SetServing(s.Register(srv.GRPC()))
		log.Info("pipelines loaded", "names", pipelines.Names(), "jobs_db", *jobsDB, "artifacts_dir", *artifactsDir)
		go housekeep(ctx, log, manager, artifacts, *artifactTTL, *lease/2)
		return srv.Run(ctx)
	})
}

// defaultDataDir is chorus/orchestrator in the XDG state directory
// ($XDG_STATE_HOME, or ~/.local/state), or out/orchestrator under the
// working directory when there is no home.
func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "chorus", "orchestrator")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "chorus", "orchestrator")
	}
	return filepath.Join("out", "orchestrator")
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
