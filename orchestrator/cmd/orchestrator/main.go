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
	"time"

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
	app.Main("orchestrator", fs, func(ctx context.Context, log *slog.Logger) error {
		if *runTimeout <= 0 {
			return errors.New("-run-timeout must be positive")
		}
		if *maxSteps < 1 {
			return errors.New("-max-parallel-steps must be at least 1")
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
		rn := runner.New(runner.Config{Clients: clients, MaxParallelSteps: *maxSteps, Log: log})
		srv, err := serve.New(serve.Config{Addr: *grpcAddr, ShutdownTimeout: 10 * time.Second}, log)
		if err != nil {
			return err
		}
		s := server.New(pipelines, rn, *runTimeout, log)
		srv.SetServing(s.Register(srv.GRPC()))
		log.Info("pipelines loaded", "names", pipelines.Names())
		return srv.Run(ctx)
	})
}
