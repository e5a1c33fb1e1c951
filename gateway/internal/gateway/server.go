package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/platform/apikey"
	"github.com/chorus-ai/chorus/platform/ports"
)

// ServerConfig is the gateway process's configuration: the HTTP server and
// the Gateway behind it.
type ServerConfig struct {
	HTTP    HTTPConfig
	Gateway Config
}

// DefaultServerConfig is the configuration with no flags: the default
// addresses of platform/ports.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		HTTP: HTTPConfig{Addr: ports.GatewayAddr, ShutdownTimeout: 10 * time.Second},
		Gateway: Config{
			TextAddr:           ports.TextAddr,
			ImageAddr:          ports.ImageAddr,
			AudioAddr:          ports.AudioAddr,
			EmbedAddr:          ports.EmbedAddr,
			OrchestratorAddr:   ports.OrchestratorAddr,
			RequestTimeout:     DefaultRequestTimeout,
			ReadyTimeout:       DefaultReadyTimeout,
			MaxBodyBytes:       DefaultMaxBodyBytes,
			BodyReadTimeout:    DefaultBodyReadTimeout,
			StreamWriteTimeout: DefaultStreamWriteTimeout,
		},
	}
}

// RegisterFlags registers the flags that set c, with c's values as their
// defaults. They only parse: Validate checks.
func (c *ServerConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTP.Addr, "http-addr", c.HTTP.Addr, "HTTP listen address")
	fs.StringVar(&c.Gateway.TextAddr, "text-addr", c.Gateway.TextAddr, "text service gRPC address")
	fs.StringVar(&c.Gateway.ImageAddr, "image-addr", c.Gateway.ImageAddr, "image service gRPC address")
	fs.StringVar(&c.Gateway.AudioAddr, "audio-addr", c.Gateway.AudioAddr, "audio service gRPC address")
	fs.StringVar(&c.Gateway.EmbedAddr, "embed-addr", c.Gateway.EmbedAddr, "embedding service gRPC address")
	fs.StringVar(&c.Gateway.OrchestratorAddr, "orchestrator-addr", c.Gateway.OrchestratorAddr, "orchestrator gRPC address")
	fs.DurationVar(&c.HTTP.ShutdownTimeout, "shutdown-timeout", c.HTTP.ShutdownTimeout, "how long in-flight requests may finish on shutdown")
	fs.DurationVar(&c.Gateway.RequestTimeout, "request-timeout", c.Gateway.RequestTimeout, "deadline of unary calls whose client sends no Grpc-Timeout header")
	fs.DurationVar(&c.Gateway.ReadyTimeout, "ready-timeout", c.Gateway.ReadyTimeout, "how long /readyz waits for each upstream's health check")
	fs.Int64Var(&c.Gateway.MaxBodyBytes, "max-body-bytes", c.Gateway.MaxBodyBytes, "largest request body accepted")
	fs.DurationVar(&c.Gateway.BodyReadTimeout, "body-read-timeout", c.Gateway.BodyReadTimeout, "how long a client may take to send its request body")
	fs.DurationVar(&c.Gateway.StreamWriteTimeout, "stream-write-timeout", c.Gateway.StreamWriteTimeout, "how long one write to a client may block; a client that stops reading a stream is cut off after it")
	c.Gateway.Auth.RegisterFlags(fs)
	c.Gateway.UpstreamKey.RegisterFlag(fs)
	c.Gateway.UpstreamTLS.RegisterFlags(fs)
	fs.Func("allowed-hosts", "comma-separated names the Host header may carry (* for any); default: loopback names when listening on loopback, any otherwise", func(s string) error {
		c.Gateway.AllowedHosts = ParseHosts(s)
		return nil
	})
	fs.Func("cors-origins", "comma-separated origins allowed to call the API from a browser (* for any); empty disables CORS", func(s string) error {
		c.Gateway.CORSOrigins = ParseOrigins(s)
		return nil
	})
}

// Validate reports a configuration the gateway cannot start with.
func (c ServerConfig) Validate() error { return errors.Join(c.HTTP.Validate(), c.Gateway.Validate()) }

// Server is a Gateway with the listener it serves HTTP on.
type Server struct {
	gateway  *Gateway
	lis      net.Listener
	shutdown time.Duration
}

// NewServer validates cfg, builds the Gateway and listens.
func NewServer(_ context.Context, cfg ServerConfig, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Gateway.AllowedHosts) == 0 && apikey.IsLoopback(cfg.HTTP.Addr) {
		cfg.Gateway.AllowedHosts = LoopbackHosts
	}
	g, err := New(cfg.Gateway, log)
	if err != nil {
		return nil, err
	}
	if err := cfg.Gateway.Auth.CheckBind(cfg.HTTP.Addr, g.keys); err != nil {
		g.Close()
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("listening on -http-addr: %w", err)
	}
	return &Server{gateway: g, lis: lis, shutdown: cfg.HTTP.ShutdownTimeout}, nil
}

// Addr is the address the gateway listens on.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Run serves until ctx ends, drains in-flight requests, then closes the
// upstream connections.
func (s *Server) Run(ctx context.Context) error {
	defer s.gateway.Close()
	return s.gateway.Serve(ctx, s.lis, s.shutdown)
}

// ParseHosts splits a comma-separated -allowed-hosts value, dropping blanks.
func ParseHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			out = append(out, h)
		}
	}
	return out
}
