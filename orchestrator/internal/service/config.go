package service

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chorus-ai/chorus/orchestrator/internal/jobs/pgstore"
	"github.com/chorus-ai/chorus/orchestrator/internal/runner"
	"github.com/chorus-ai/chorus/orchestrator/internal/server"
	"github.com/chorus-ai/chorus/platform/apikey"
	"github.com/chorus-ai/chorus/platform/dial"
	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/serve"
)

// Config is the orchestrator's configuration.
type Config struct {
	// GRPCAddr is where it serves gRPC.
	GRPCAddr string
	// MetricsAddr is where it serves GET /metrics over HTTP:
	// serve.MetricsAuto (the gRPC port + 1000 if free), an address, or
	// empty for none.
	MetricsAddr string
	// TextAddr, ImageAddr and AudioAddr are the gRPC targets of the
	// modality services.
	TextAddr, ImageAddr, AudioAddr string
	// EmbedAddr is the gRPC target of the embedding service, which
	// collections (CollectionService, the retrieve transform) call.
	EmbedAddr string
	// CollectionsDB keeps the collections: a directory (chromem-go), or a
	// postgres:// URL for a database with pgvector that several
	// orchestrators share; empty is DataDir/collections.
	CollectionsDB string
	// PipelinesDir holds pipeline YAML files beside the built-ins; empty
	// loads none.
	PipelinesDir string
	// RunTimeout is the deadline of a run whose client sets none.
	RunTimeout time.Duration
	// MaxParallelSteps is how many steps of one run execute at once.
	MaxParallelSteps int
	// DataDir holds the job database and the artifact store unless JobsDB
	// and ArtifactsDir say otherwise.
	DataDir string
	// JobsDB is a SQLite file, or a postgres:// URL for a database that
	// several orchestrators share; empty is DataDir/jobs.db.
	JobsDB string
	// Lease is, with PostgreSQL, how long a silent orchestrator keeps its
	// jobs before another records them failed.
	Lease time.Duration
	// ArtifactsDir holds stored artifacts; empty is DataDir/artifacts.
	ArtifactsDir string
	// ArtifactTTL is how long stored artifacts are kept.
	ArtifactTTL time.Duration
	// InlineLimit is the largest artifact (bytes) sent inline; larger ones
	// are stored and sent by uri.
	InlineLimit int
	// MaxStepBytes and MaxRunBytes bound the output one step, and one run,
	// may produce (runner.Config).
	MaxStepBytes, MaxRunBytes int64
	// MaxRuns and RunQueue bound the runs (RunPipeline and jobs) executing
	// at once and waiting for a place.
	MaxRuns, RunQueue int
	// Serve is the gRPC server's API keys, bind rule and reflection.
	Serve serve.Config
	// UpstreamKey is the API key sent to the modality services.
	UpstreamKey apikey.ClientKey
	// UpstreamTLS is the TLS (and client certificate) the connections to
	// the modality services use; plaintext when it names no authority.
	UpstreamTLS dial.TLS
}

// DefaultConfig is the configuration with no flags: the default addresses,
// state under the XDG state directory.
func DefaultConfig() Config {
	return Config{
		GRPCAddr:         ports.OrchestratorAddr,
		MetricsAddr:      serve.MetricsAuto,
		TextAddr:         ports.TextAddr,
		ImageAddr:        ports.ImageAddr,
		AudioAddr:        ports.AudioAddr,
		EmbedAddr:        ports.EmbedAddr,
		RunTimeout:       server.DefaultRunTimeout,
		MaxParallelSteps: 4,
		DataDir:          defaultDataDir(),
		Lease:            pgstore.DefaultLease,
		ArtifactTTL:      7 * 24 * time.Hour,
		InlineLimit:      runner.DefaultInlineLimit,
		MaxStepBytes:     runner.DefaultMaxStepBytes,
		MaxRunBytes:      runner.DefaultMaxRunBytes,
		MaxRuns:          4,
		RunQueue:         16,
	}
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

// RegisterFlags registers the flags that set c, with c's values as their
// defaults. They only parse: Validate checks.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "address to serve gRPC on")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "HTTP listen address of GET /metrics (Prometheus); \"auto\": the gRPC port + 1000 if free; empty: none")
	fs.StringVar(&c.TextAddr, "text-addr", c.TextAddr, "gRPC target of the text service")
	fs.StringVar(&c.ImageAddr, "image-addr", c.ImageAddr, "gRPC target of the image service")
	fs.StringVar(&c.AudioAddr, "audio-addr", c.AudioAddr, "gRPC target of the audio service")
	fs.StringVar(&c.EmbedAddr, "embed-addr", c.EmbedAddr, "gRPC target of the embedding service (collections and the retrieve transform use it)")
	fs.StringVar(&c.CollectionsDB, "collections-db", c.CollectionsDB, "directory of the collections (default <data-dir>/collections), or a postgres:// URL of a database with pgvector that several orchestrators share")
	fs.StringVar(&c.PipelinesDir, "pipelines-dir", c.PipelinesDir, "directory of extra pipeline YAML files (*.yaml, *.yml); a file may replace a built-in of the same name")
	fs.DurationVar(&c.RunTimeout, "run-timeout", c.RunTimeout, "deadline of a run whose client sets none")
	fs.IntVar(&c.MaxParallelSteps, "max-parallel-steps", c.MaxParallelSteps, "most steps of one run that execute at once")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the job database and the artifact store")
	fs.StringVar(&c.JobsDB, "jobs-db", c.JobsDB, "SQLite file of jobs and their events (default <data-dir>/jobs.db), or a postgres:// URL for a database that several orchestrators share")
	fs.DurationVar(&c.Lease, "lease", c.Lease, "with PostgreSQL: how long a silent orchestrator keeps its jobs before another records them failed")
	fs.StringVar(&c.ArtifactsDir, "artifacts-dir", c.ArtifactsDir, "directory of stored artifacts (default <data-dir>/artifacts)")
	fs.DurationVar(&c.ArtifactTTL, "artifact-ttl", c.ArtifactTTL, "how long stored artifacts are kept")
	fs.IntVar(&c.InlineLimit, "inline-limit", c.InlineLimit, "largest artifact (bytes) sent inline; larger ones are stored and sent by uri")
	fs.Int64Var(&c.MaxStepBytes, "max-step-bytes", c.MaxStepBytes, "most output (text and artifact bytes) one step may produce; more fails the run RESOURCE_EXHAUSTED")
	fs.Int64Var(&c.MaxRunBytes, "max-run-bytes", c.MaxRunBytes, "most output (text and artifact bytes) the steps of one run may produce together")
	fs.IntVar(&c.MaxRuns, "max-runs", c.MaxRuns, "most runs (RunPipeline and jobs) executing at once")
	fs.IntVar(&c.RunQueue, "run-queue", c.RunQueue, "most runs waiting for a place; more are refused RESOURCE_EXHAUSTED")
	c.Serve.RegisterFlags(fs)
	c.UpstreamKey.RegisterFlag(fs)
	c.UpstreamTLS.RegisterFlags(fs)
}

// Validate reports a configuration the orchestrator cannot start with.
func (c Config) Validate() error {
	var errs []error
	if c.RunTimeout <= 0 {
		errs = append(errs, errors.New("-run-timeout must be positive"))
	}
	if c.MaxParallelSteps < 1 {
		errs = append(errs, errors.New("-max-parallel-steps must be at least 1"))
	}
	if c.MaxRuns < 1 || c.RunQueue < 0 {
		errs = append(errs, errors.New("-max-runs must be at least 1 and -run-queue at least 0"))
	}
	if c.ArtifactTTL <= 0 || c.InlineLimit < 1 || c.Lease <= 0 || c.MaxStepBytes < 1 || c.MaxRunBytes < 1 {
		errs = append(errs, errors.New("-artifact-ttl, -inline-limit, -lease, -max-step-bytes and -max-run-bytes must be positive"))
	}
	if c.DataDir == "" && (c.JobsDB == "" || c.ArtifactsDir == "" || c.CollectionsDB == "") {
		errs = append(errs, fmt.Errorf("-data-dir is empty: set it, or -jobs-db, -artifacts-dir and -collections-db"))
	}
	errs = append(errs, c.Serve.TLS.Validate(), c.UpstreamTLS.Validate())
	return errors.Join(errs...)
}

// paths returns the job database, the artifact directory and the
// collections' store, defaulted from DataDir.
func (c Config) paths() (jobsDB, artifactsDir, collectionsDB string) {
	jobsDB, artifactsDir, collectionsDB = c.JobsDB, c.ArtifactsDir, c.CollectionsDB
	if jobsDB == "" {
		jobsDB = filepath.Join(c.DataDir, "jobs.db")
	}
	if artifactsDir == "" {
		artifactsDir = filepath.Join(c.DataDir, "artifacts")
	}
	if collectionsDB == "" {
		collectionsDB = filepath.Join(c.DataDir, "collections")
	}
	return jobsDB, artifactsDir, collectionsDB
}
