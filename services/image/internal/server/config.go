package server

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/chorus-ai/chorus/platform/modeldir"
	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/image/internal/backend/a1111"
	"github.com/chorus-ai/chorus/services/image/internal/backend/embedded"
	"github.com/chorus-ai/chorus/services/image/internal/backend/openai"
)

// Config is the image service's configuration.
type Config struct {
	// Server is where the service listens and what each backend admits.
	Server serve.ModalityConfig
	// ModelsDir holds image model GGUF files served in process (the
	// embedded backend), one model per file named after it; text models in
	// the same directory are skipped. Empty or missing serves none.
	ModelsDir string
	// Rescan is how often ModelsDir is looked at for added, changed and
	// removed files, served or dropped without a restart; 0 never.
	Rescan time.Duration
	// Embedded tunes the embedded image models.
	Embedded embedded.Config
	// OpenAI configures the OpenAI-compatible backend; disabled when its
	// BaseURL is empty.
	OpenAI openai.Config
	// A1111 configures the AUTOMATIC1111 (Forge, SD.Next) backend; disabled
	// when its BaseURL is empty.
	A1111 a1111.Config
}

// DefaultConfig is the configuration with no flags: the embedded image
// models of ./models, on ports.ImageAddr.
func DefaultConfig() Config {
	return Config{
		Server:    serve.ModalityConfig{Config: serve.Config{Addr: ports.ImageAddr, MetricsAddr: serve.MetricsAuto}, Concurrency: 2, Queue: 16},
		ModelsDir: "models",
		Rescan:    modeldir.DefaultRescan,
		Embedded:  embedded.Config{Sessions: 2},
		OpenAI:    openai.Config{ResponseFormat: openai.FormatB64},
		A1111: a1111.Config{Sampler: a1111.DefaultSampler, Steps: a1111.DefaultSteps, CFGScale: a1111.DefaultCFGScale,
			Timeout: a1111.DefaultTimeout},
	}
}

// RegisterFlags registers the flags that set c, with c's values as their
// defaults. They only parse: Validate checks (see serve.ModalityConfig).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Server.RegisterFlags(fs)
	fs.StringVar(&c.ModelsDir, "models-dir", c.ModelsDir, "directory of image model GGUF `files` served in process, one model per file (text models there are skipped); empty disables it")
	fs.DurationVar(&c.Rescan, "rescan", c.Rescan, "how often to look in -models-dir for added, changed and removed files (0: only at start)")
	fs.IntVar(&c.Embedded.Sessions, "sessions", c.Embedded.Sessions, "pictures the embedded models sample at once (`n`)")
	fs.IntVar(&c.Embedded.Threads, "threads", c.Embedded.Threads, "threads each picture's sampling uses (0: every core)")
	c.OpenAI.RegisterFlags(fs)
	c.A1111.RegisterFlags(fs)
}

// Validate reports a configuration the service cannot start with.
func (c Config) Validate() error {
	errs := []error{c.Server.Validate()}
	if c.OpenAI.Enabled() {
		errs = append(errs, c.OpenAI.Validate())
	}
	if c.A1111.Enabled() {
		errs = append(errs, c.A1111.Validate())
	}
	if c.Rescan < 0 {
		errs = append(errs, fmt.Errorf("-rescan must not be negative, got %s", c.Rescan))
	}
	if c.Embedded.Sessions < 1 {
		errs = append(errs, fmt.Errorf("-sessions must be at least 1, got %d", c.Embedded.Sessions))
	}
	return errors.Join(errs...)
}
