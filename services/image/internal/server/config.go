package server

import (
	"errors"
	"flag"

	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/image/internal/backend/openai"
)

// Config is the image service's configuration.
type Config struct {
	// Server is where the service listens and what each backend admits.
	Server serve.ModalityConfig
	// OpenAI configures the OpenAI-compatible backend; disabled when its
	// BaseURL is empty.
	OpenAI openai.Config
}

// DefaultConfig is the configuration with no flags: no backend until one
// is configured, on ports.ImageAddr.
func DefaultConfig() Config {
	return Config{
		Server: serve.ModalityConfig{Config: serve.Config{Addr: ports.ImageAddr, MetricsAddr: serve.MetricsAuto}, Concurrency: 2, Queue: 16},
		OpenAI: openai.Config{ResponseFormat: openai.FormatB64},
	}
}

// RegisterFlags registers the flags that set c, with c's values as their
// defaults. They only parse: Validate checks (see serve.ModalityConfig).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Server.RegisterFlags(fs)
	c.OpenAI.RegisterFlags(fs)
}

// Validate reports a configuration the service cannot start with.
func (c Config) Validate() error {
	errs := []error{c.Server.Validate()}
	if c.OpenAI.Enabled() {
		errs = append(errs, c.OpenAI.Validate())
	}
	return errors.Join(errs...)
}
