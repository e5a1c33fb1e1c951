// Package service assembles the audio service's backends from its
// configuration.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/espeak"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/flite"
)

// How the espeak backend is enabled.
const (
	EspeakAuto = "auto" // on when espeak-ng is on PATH
	EspeakOn   = "on"   // required: startup fails without espeak-ng
	EspeakOff  = "off"
)

// Config configures the audio service's backends.
type Config struct {
	// Espeak is EspeakAuto, EspeakOn or EspeakOff.
	Espeak string
	// EspeakBinary is the espeak-ng program, a path or a name on PATH.
	EspeakBinary string
	// Concurrency is how many requests each backend runs at once.
	Concurrency int
	// Queue is how many more requests may wait per backend.
	Queue int
}

// Validate reports a configuration the service cannot start with.
func (c Config) Validate() error {
	var errs []error
	switch c.Espeak {
	case EspeakAuto, EspeakOn, EspeakOff:
	default:
		errs = append(errs, fmt.Errorf("-espeak must be auto, on or off, got %q", c.Espeak))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("-concurrency must be at least 1, got %d", c.Concurrency))
	}
	if c.Queue < 1 {
		errs = append(errs, fmt.Errorf("-queue must be at least 1, got %d", c.Queue))
	}
	return errors.Join(errs...)
}

// Routes builds the backends: flite first, so its model is the default,
// then espeak when enabled and present.
//
// Flite runs one sentence at a time across the whole process (see package
// flite), so Concurrency there lets concurrent requests interleave
// sentence by sentence rather than run in parallel: each stream keeps
// moving. espeak-ng runs as separate processes and does run in parallel.
func Routes(ctx context.Context, cfg Config, log *slog.Logger) ([]genai.Route, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	routes := []genai.Route{{Backend: flite.New(), Concurrency: cfg.Concurrency, Queue: cfg.Queue}}
	if cfg.Espeak == EspeakOff {
		return routes, nil
	}
	bin := cfg.EspeakBinary
	if bin == "" {
		bin = espeak.Binary
	}
	b, err := espeak.New(ctx, bin)
	switch {
	case err == nil:
		log.Info("espeak backend on", "binary", bin, "voices", len(b.Voices()))
		routes = append(routes, genai.Route{Backend: b, Concurrency: cfg.Concurrency, Queue: cfg.Queue})
	case cfg.Espeak == EspeakOn:
		return nil, fmt.Errorf("-espeak=on but %w (install espeak-ng, or use -espeak=auto)", err)
	default:
		log.Info("espeak backend off: espeak-ng is not usable", "error", err.Error())
	}
	return routes, nil
}
