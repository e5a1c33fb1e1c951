// Command audio serves chorus.genai.v1.AudioService: speech synthesis with
// Flite (linked in) and espeak-ng (run as a process, when installed).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/chorus-ai/chorus/platform/app"
	"github.com/chorus-ai/chorus/platform/config"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"
	"github.com/chorus-ai/chorus/services/audio/internal/service"
)

func main() {
	fs := flag.NewFlagSet("audio", flag.ContinueOnError)
	addr := fs.String("grpc-addr", "127.0.0.1:50053", "gRPC listen address")
	cfg := service.Config{Espeak: service.EspeakAuto, Concurrency: 4, Queue: 16}
	// Bad values fail while flags are parsed, so app.Main reports them as
	// configuration errors (exit status 2).
	fs.Var((*espeakMode)(&cfg.Espeak), "espeak", "espeak backend `mode`: auto (on when espeak-ng is on PATH), on (required) or off")
	fs.StringVar(&cfg.EspeakBinary, "espeak-binary", "espeak-ng", "the espeak-ng program: a path, or a name looked up on PATH")
	fs.Var((*config.PositiveInt)(&cfg.Concurrency), "concurrency", "each backend serves `n` requests at once")
	fs.Var((*config.PositiveInt)(&cfg.Queue), "queue", "`n` more requests may wait per backend; beyond that RESOURCE_EXHAUSTED")

	app.Main("audio", fs, func(ctx context.Context, log *slog.Logger) error {
		routes, err := service.Routes(ctx, cfg, log)
		if err != nil {
			return err
		}
		h, err := genai.NewHandler(genai.Audio, log, routes...)
		if err != nil {
			return err
		}
		s, err := serve.New(serve.Config{Addr: *addr}, log)
		if err != nil {
			return err
		}
		s.SetServing(genai.Register(s.GRPC(), h))
		return s.Run(ctx)
	})
}

type espeakMode string

func (m *espeakMode) String() string { return string(*m) }

func (m *espeakMode) Set(s string) error {
	switch s {
	case service.EspeakAuto, service.EspeakOn, service.EspeakOff:
		*m = espeakMode(s)
		return nil
	}
	return fmt.Errorf("must be auto, on or off")
}
