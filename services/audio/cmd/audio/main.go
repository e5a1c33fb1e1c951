// Command audio serves chorus.genai.v1.AudioService: speech synthesis with
// Flite (linked in) and espeak-ng (run as a process, when installed).
package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/chorus-ai/chorus/platform/app"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"
	"github.com/chorus-ai/chorus/services/audio/internal/service"
)

func main() {
	fs := flag.NewFlagSet("audio", flag.ContinueOnError)
	addr := fs.String("grpc-addr", "127.0.0.1:50053", "gRPC listen address")
	var cfg service.Config
	fs.StringVar(&cfg.Espeak, "espeak", service.EspeakAuto, "espeak backend: auto (on when espeak-ng is on PATH), on (required) or off")
	fs.StringVar(&cfg.EspeakBinary, "espeak-binary", "espeak-ng", "the espeak-ng program: a path, or a name looked up on PATH")
	fs.IntVar(&cfg.Concurrency, "concurrency", 4, "requests each backend serves at once")
	fs.IntVar(&cfg.Queue, "queue", 16, "requests that may wait per backend before more are refused with RESOURCE_EXHAUSTED")

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
