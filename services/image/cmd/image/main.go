// Command image serves chorus.genai.v1.ImageService over gRPC.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"strings"

	"github.com/chorus-ai/chorus/platform/app"

	"github.com/chorus-ai/chorus/services/image/internal/backend/openai"
	"github.com/chorus-ai/chorus/services/image/internal/server"
)

func main() {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	cfg := server.Config{}
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", server.DefaultAddr, "gRPC listen address")
	fs.IntVar(&cfg.Concurrency, "concurrency", 2, "requests each backend runs at once")
	fs.IntVar(&cfg.Queue, "queue", 16, "requests that may wait per backend before RESOURCE_EXHAUSTED")
	fs.StringVar(&cfg.OpenAI.BaseURL, "openai-base-url", "", "OpenAI-compatible API root including /v1, e.g. https://api.openai.com/v1; empty disables the openai backend")
	fs.StringVar(&cfg.OpenAI.APIKey, "openai-api-key", "", "API key for the OpenAI-compatible server (default $OPENAI_API_KEY)")
	models := fs.String("openai-models", "", "comma-separated image model names to expose, e.g. dall-e-3 (required with -openai-base-url)")
	fs.StringVar(&cfg.OpenAI.ResponseFormat, "openai-response-format", openai.FormatB64, "response_format to ask for: b64_json, url, or none to send none (gpt-image-1)")
	fs.DurationVar(&cfg.OpenAI.Timeout, "timeout", openai.DefaultTimeout, "longest one generation may take upstream, downloads included")
	app.Main("image", fs, func(ctx context.Context, log *slog.Logger) error {
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
