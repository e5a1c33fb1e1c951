package server

import (
	"errors"
	"flag"
	"fmt"

	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/embed/internal/backend/embedded"
	"github.com/chorus-ai/chorus/services/embed/internal/backend/openai"
)

// Config is the embedding service's configuration.
type Config struct {
	// Server is where the service listens and what each backend admits.
	Server serve.ModalityConfig
	// OpenAI configures the OpenAI-compatible backend; disabled when its
	// BaseURL is empty.
	OpenAI openai.Config
	// ModelsDir holds GGUF files; the embedding models among them (those
	// with a pooling type) are served in process, one model per file named
	// after it. Empty or missing serves none.
	ModelsDir string
	// Embedded tunes the embedded engine.
	Embedded embedded.Config
}

// DefaultConfig is the configuration with no flags: the embedding models of
// ./models, on ports.EmbedAddr.
func DefaultConfig() Config {
	return Config{
		Server:    serve.ModalityConfig{Config: serve.Config{Addr: ports.EmbedAddr, MetricsAddr: serve.MetricsAuto}, Concurrency: 4, Queue: 16},
		ModelsDir: "models",
		Embedded:  embedded.Config{Sessions: 1},
	}
}

// RegisterFlags registers the flags that set c, with c's values as their
// defaults. They only parse: Validate checks (see serve.ModalityConfig).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Server.RegisterFlags(fs)
	c.OpenAI.RegisterFlags(fs)
	fs.StringVar(&c.ModelsDir, "models-dir", c.ModelsDir, "directory of GGUF `files`; its embedding models are served in process by the embedded engine, one model per file; empty disables it")
	fs.IntVar(&c.Embedded.Threads, "threads", c.Embedded.Threads, "threads each embedded request uses (0: every core)")
	fs.IntVar(&c.Embedded.Sessions, "sessions", c.Embedded.Sessions, "texts each embedded model embeds at once")
}

// Validate reports a configuration the service cannot start with.
func (c Config) Validate() error {
	errs := []error{c.Server.Validate()}
	if c.OpenAI.Enabled() {
		errs = append(errs, c.OpenAI.Validate())
	}
	if c.Embedded.Sessions < 1 {
		errs = append(errs, fmt.Errorf("-sessions must be at least 1, got %d", c.Embedded.Sessions))
	}
	return errors.Join(errs...)
}
