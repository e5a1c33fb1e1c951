// Command gateway serves the Chorus APIs as REST and NDJSON over HTTP, in
// front of the text, image, audio and orchestrator gRPC services.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/chorus-ai/chorus/platform/app"
	"github.com/chorus-ai/chorus/platform/ports"

	"github.com/chorus-ai/chorus/gateway/internal/gateway"
)

func main() {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	httpAddr := fs.String("http-addr", ports.GatewayAddr, "HTTP listen address")
	textAddr := fs.String("text-addr", ports.TextAddr, "text service gRPC address")
	imageAddr := fs.String("image-addr", ports.ImageAddr, "image service gRPC address")
	audioAddr := fs.String("audio-addr", ports.AudioAddr, "audio service gRPC address")
	orchAddr := fs.String("orchestrator-addr", ports.OrchestratorAddr, "orchestrator gRPC address")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long in-flight requests may finish on shutdown")
	requestTimeout := fs.Duration("request-timeout", gateway.DefaultRequestTimeout, "deadline of unary calls whose client sends no Grpc-Timeout header")
	readyTimeout := fs.Duration("ready-timeout", gateway.DefaultReadyTimeout, "how long /readyz waits for each upstream's health check")
	maxBody := fs.Int64("max-body-bytes", gateway.DefaultMaxBodyBytes, "largest request body accepted")
	corsOrigins := fs.String("cors-origins", "", "comma-separated origins allowed to call the API from a browser (* for any); empty disables CORS")

	app.Main("gateway", fs, func(ctx context.Context, log *slog.Logger) error {
		httpCfg := gateway.HTTPConfig{Addr: *httpAddr, ShutdownTimeout: *shutdownTimeout}
		if err := httpCfg.Validate(); err != nil {
			return err
		}
		g, err := gateway.New(gateway.Config{
			TextAddr:         *textAddr,
			ImageAddr:        *imageAddr,
			AudioAddr:        *audioAddr,
			OrchestratorAddr: *orchAddr,
			RequestTimeout:   *requestTimeout,
			ReadyTimeout:     *readyTimeout,
			MaxBodyBytes:     *maxBody,
			CORSOrigins:      gateway.ParseOrigins(*corsOrigins),
		}, log)
		if err != nil {
			return err
		}
		defer g.Close()
		lis, err := net.Listen("tcp", httpCfg.Addr)
		if err != nil {
			return fmt.Errorf("listening on -http-addr: %w", err)
		}
		return g.Serve(ctx, lis, httpCfg.ShutdownTimeout)
	})
}
