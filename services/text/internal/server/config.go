package server

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/chorus-ai/chorus/platform/modeldir"
	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/text/internal/backend/embedded"
	"github.com/chorus-ai/chorus/services/text/internal/backend/openai"
)

// Config is the text service's configuration.
type Config struct {
	// Server is where the service listens and what each backend admits.
	Server serve.ModalityConfig
	// OpenAI configures the OpenAI-compatible backend; disabled when its
	// BaseURL is empty.
	OpenAI openai.Config
	// ModelsDir holds GGUF files served in process by the embedded engine,
	// one model per file named after it; empty or missing serves none.
	ModelsDir string
	// Rescan is how often ModelsDir is looked at for added, changed and
	// removed files, served or dropped without a restart; 0 never.
	Rescan time.Duration
	// Embedded tunes the embedded engine.
	Embedded embedded.Config
}

// DefaultConfig is the configuration with no flags: the embedded models of
// ./models, on ports.TextAddr.
func DefaultConfig() Config {
	return Config{
		Server:    serve.ModalityConfig{Config: serve.Config{Addr: ports.TextAddr, MetricsAddr: serve.MetricsAuto}, Concurrency: 4, Queue: 16},
		ModelsDir: "models",
		Rescan:    modeldir.DefaultRescan,
		Embedded:  embedded.Config{Sessions: 4, KVBudgetMiB: 1024},
	}
}

// RegisterFlags registers the flags that set c, with c's values as their
// defaults. They only parse: Validate checks (see serve.ModalityConfig).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Server.RegisterFlags(fs)
	c.OpenAI.RegisterFlags(fs)
	fs.StringVar(&c.ModelsDir, "models-dir", c.ModelsDir, "directory of GGUF `files` served in process by the embedded engine, one model per file; empty disables it")
	fs.DurationVar(&c.Rescan, "rescan", c.Rescan, "how often to look in -models-dir for added, changed and removed files (0: only at start)")
	fs.IntVar(&c.Embedded.Threads, "threads", c.Embedded.Threads, "threads each embedded model's forward passes use, shared by its batched generations (0: every core)")
	fs.IntVar(&c.Embedded.Sessions, "sessions", c.Embedded.Sessions, "embedded generations each model runs at once, batched together (`n` slots, each a KV cache)")
	fs.IntVar(&c.Embedded.KVBudgetMiB, "kv-budget", c.Embedded.KVBudgetMiB, "`MiB` the KV caches of one embedded model may take together; fewer slots than -sessions when they would not fit (0: no cap)")
	fs.BoolVar(&c.Embedded.NoPack, "no-pack", c.Embedded.NoPack, "keep embedded models' weights in the file's layout only, with no packed copy in memory (on AVX512-VNNI CPUs): slower prompts and concurrent generations, one sequence of a Q8_0 model too large for the caches somewhat faster")
	fs.IntVar(&c.Embedded.ContextSize, "context-size", c.Embedded.ContextSize, "tokens each embedded session holds, prompt and output (0: the engine default, at most the model's)")
}

// Validate reports a configuration the service cannot start with.
func (c Config) Validate() error {
	errs := []error{c.Server.Validate()}
	if c.OpenAI.Enabled() {
		errs = append(errs, c.OpenAI.Validate())
	}
	if c.Rescan < 0 {
		errs = append(errs, fmt.Errorf("-rescan must not be negative, got %s", c.Rescan))
	}
	if c.Embedded.Sessions < 1 {
		errs = append(errs, fmt.Errorf("-sessions must be at least 1, got %d", c.Embedded.Sessions))
	}
	if c.Embedded.KVBudgetMiB < 0 {
		errs = append(errs, fmt.Errorf("-kv-budget must not be negative, got %d", c.Embedded.KVBudgetMiB))
	}
	return errors.Join(errs...)
}
