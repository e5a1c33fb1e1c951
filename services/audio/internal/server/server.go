// Package server is the audio service: its configuration, its backends and
// its gRPC server.
package server

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/audio/internal/backend/espeak"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/flite"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/music"
)

// Routes builds the backends: flite first, so its model is the default,
// then espeak and music when enabled and present. Another backend is one
// more entry here.
//
// Flite runs one sentence at a time in its worker process (see package
// flite), so Concurrency there lets concurrent requests interleave
// sentence by sentence rather than run in parallel: each stream keeps
// moving. espeak-ng and fluidsynth run as separate processes and do run
// in parallel.
func Routes(ctx context.Context, cfg Config, log *slog.Logger) ([]genai.Route, []io.Closer, error) {
	fl := flite.New()
	routes := []genai.Route{cfg.Server.Route(fl)}
	closers := []io.Closer{fl}
	if cfg.Espeak != EspeakOff {
		bin := cmp.Or(cfg.EspeakBinary, espeak.Binary)
		b, err := espeak.New(ctx, bin)
		switch {
		case err == nil:
			log.Info("espeak backend on", "binary", bin, "voices", len(b.Voices()))
			routes = append(routes, cfg.Server.Route(b))
		case cfg.Espeak == EspeakOn:
			_ = fl.Close()
			return nil, nil, fmt.Errorf("-espeak=on but %w (install espeak-ng, or use -espeak=auto)", err)
		default:
			log.Info("espeak backend off: espeak-ng is not usable", "error", err.Error())
		}
	}
	if cfg.Music != MusicOff {
		sf := cmp.Or(cfg.Soundfont, music.DefaultSoundfont)
		b, err := music.New(ctx, music.Binary, sf)
		switch {
		case err == nil:
			log.Info("music backend on", "binary", music.Binary, "soundfont", sf)
			routes = append(routes, cfg.Server.Route(b))
		case cfg.Music == MusicOn:
			_ = fl.Close()
			return nil, nil, fmt.Errorf("-music=on but %w (install fluidsynth and fluid-soundfont-gm, point -soundfont at a General MIDI .sf2, or use -music=auto)", err)
		default:
			log.Info("music backend off: fluidsynth or the soundfont is not usable", "error", err.Error())
		}
	}
	return routes, closers, nil
}

// Server is the audio service's gRPC server: the modality server every
// service shares, over the routes of Routes.
type Server = serve.Modality

// New validates cfg, builds the backends and returns a server ready to Run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return serve.NewModality(cfg.Server, genai.Audio, log, func() ([]genai.Route, []io.Closer, error) {
		return Routes(ctx, cfg, log)
	})
}
