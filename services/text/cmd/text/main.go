// Command text serves chorus.genai.v1.TextService over gRPC.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"strings"

	"github.com/chorus-ai/chorus/platform/app"

	"github.com/chorus-ai/chorus/services/text/internal/backend/openai"
	"github.com/chorus-ai/chorus/services/text/internal/server"
)

func main() {
	fs := flag.NewFlagSet("text", flag.ContinueOnError)
	cfg := server.Config{}
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", server.DefaultAddr, "gRPC listen address")
	fs.IntVar(&cfg.Concurrency, "concurrency", 4, "requests each backend runs at once")
	fs.IntVar(&cfg.Queue, "queue", 16, "requests that may wait per backend before RESOURCE_EXHAUSTED")
	fs.StringVar(&cfg.OpenAI.BaseURL, "openai-base-url", "", "OpenAI-compatible API root including /v1, e.g. http://127.0.0.1:8000/v1 (vLLM); empty disables the openai backend")
	fs.StringVar(&cfg.OpenAI.APIKey, "openai-api-key", "", "API key for the OpenAI-compatible server (default $OPENAI_API_KEY)")
	models := fs.String("openai-models", "", "comma-separated model names to expose; empty lists them from the server's /v1/models at startup")
	fs.DurationVar(&cfg.OpenAI.Timeout, "timeout", openai.DefaultTimeout, "longest one generation may take upstream")
	// A second backend (the embedded GGUF engine) will add -models-dir here
	// and one more route in server.Routes.
	app.Main("text", fs, func(ctx context.Context, log *slog.Logger) error {
		if cfg.OpenAI.APIKey == "" {
			cfg.OpenAI.APIKey = os.Getenv("OPENAI_API_KEY")
		}
		cfg.OpenAI.Models = splitList(*models)
		return server.Run(ctx, cfg, log)
	})
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
