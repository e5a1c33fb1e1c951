// Command image serves chorus.genai.v1.ImageService over gRPC.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"

	"github.com/chorus-ai/chorus/platform/app"
	"github.com/chorus-ai/chorus/platform/config"

	"github.com/chorus-ai/chorus/services/image/internal/backend/openai"
	"github.com/chorus-ai/chorus/services/image/internal/server"
)

func main() {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	cfg := server.Config{Concurrency: 2, Queue: 16}
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", server.DefaultAddr, "gRPC listen address")
	fs.Var((*config.PositiveInt)(&cfg.Concurrency), "concurrency", "each backend runs `n` requests at once")
	fs.Var((*config.PositiveInt)(&cfg.Queue), "queue", "`n` more requests may wait per backend; beyond that RESOURCE_EXHAUSTED")
	fs.Var((*config.HTTPURL)(&cfg.OpenAI.BaseURL), "openai-base-url", "OpenAI-compatible API root `url` including /v1, e.g. https://api.openai.com/v1; empty disables the openai backend")
	fs.StringVar(&cfg.OpenAI.APIKey, "openai-api-key", "", "API key for the OpenAI-compatible server (default $OPENAI_API_KEY)")
	fs.Var((*config.List)(&cfg.OpenAI.Models), "openai-models", "comma-separated image model `names` to expose, e.g. dall-e-3 (required with -openai-base-url)")
	cfg.OpenAI.ResponseFormat = openai.FormatB64
	fs.Func("openai-response-format", "`format` to ask for as response_format: b64_json (default), url, or none to send none (gpt-image-1)", func(s string) error {
		switch s {
		case openai.FormatB64, openai.FormatURL, openai.FormatNone:
			cfg.OpenAI.ResponseFormat = s
			return nil
		}
		return errors.New("must be b64_json, url or none")
	})
	fs.DurationVar(&cfg.OpenAI.Timeout, "timeout", openai.DefaultTimeout, "longest one generation may take upstream, downloads included")
	app.Main("image", fs, func(ctx context.Context, log *slog.Logger) error {
		if cfg.OpenAI.APIKey == "" {
			cfg.OpenAI.APIKey = os.Getenv("OPENAI_API_KEY")
		}
		return server.Run(ctx, cfg, log)
	})
}
