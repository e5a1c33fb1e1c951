// Command text serves chorus.genai.v1.TextService over gRPC.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/chorus-ai/chorus/platform/app"
	"github.com/chorus-ai/chorus/platform/config"

	"github.com/chorus-ai/chorus/services/text/internal/backend/embedded"
	"github.com/chorus-ai/chorus/services/text/internal/backend/openai"
	"github.com/chorus-ai/chorus/services/text/internal/server"
)

func main() {
	fs := flag.NewFlagSet("text", flag.ContinueOnError)
	cfg := server.Config{Concurrency: 4, Queue: 16, Embedded: embedded.Config{Sessions: 1}}
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", server.DefaultAddr, "gRPC listen address")
	fs.Var((*config.PositiveInt)(&cfg.Concurrency), "concurrency", "each backend runs `n` requests at once")
	fs.Var((*config.PositiveInt)(&cfg.Queue), "queue", "`n` more requests may wait per backend; beyond that RESOURCE_EXHAUSTED")
	fs.Var((*config.HTTPURL)(&cfg.OpenAI.BaseURL), "openai-base-url", "OpenAI-compatible API root `url` including /v1, e.g. http://127.0.0.1:8000/v1 (vLLM); empty disables the openai backend")
	fs.StringVar(&cfg.OpenAI.APIKey, "openai-api-key", "", "API key for the OpenAI-compatible server (default $OPENAI_API_KEY)")
	fs.Var((*config.List)(&cfg.OpenAI.Models), "openai-models", "comma-separated model `names` to expose; empty lists them from the server's /v1/models at startup")
	fs.DurationVar(&cfg.OpenAI.Timeout, "timeout", openai.DefaultTimeout, "longest one generation may take upstream")
	fs.StringVar(&cfg.ModelsDir, "models-dir", "models", "directory of GGUF `files` served in process by the embedded engine, one model per file; empty disables it")
	fs.IntVar(&cfg.Embedded.Threads, "threads", 0, "threads each embedded generation uses (0: every core)")
	fs.Var((*config.PositiveInt)(&cfg.Embedded.Sessions), "sessions", "embedded generations each model runs at once (`n` KV caches)")
	fs.IntVar(&cfg.Embedded.ContextSize, "context-size", 0, "tokens each embedded session holds, prompt and output (0: the engine default, at most the model's)")
	app.Main("text", fs, func(ctx context.Context, log *slog.Logger) error {
		if cfg.OpenAI.APIKey == "" {
			cfg.OpenAI.APIKey = os.Getenv("OPENAI_API_KEY")
		}
		return server.Run(ctx, cfg, log)
	})
}
