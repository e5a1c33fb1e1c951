package gateway

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/chorus-ai/chorus/platform/apikey"
	"github.com/chorus-ai/chorus/platform/dial"
)

// Config configures a Gateway. The zero value of every field but the
// upstream addresses selects a default.
type Config struct {
	// TextAddr, ImageAddr, AudioAddr, EmbedAddr and OrchestratorAddr are
	// the gRPC targets of the upstream services (host:port or any gRPC
	// target).
	TextAddr         string
	ImageAddr        string
	AudioAddr        string
	EmbedAddr        string
	OrchestratorAddr string

	// RequestTimeout is the deadline given to unary calls whose client sent
	// none (a Grpc-Timeout header). Streams get none from the gateway: a
	// pipeline run is bounded by the orchestrator, and a client that goes
	// away cancels its stream. Default 2m.
	RequestTimeout time.Duration
	// ReadyTimeout bounds each upstream health check of /readyz. Default 1s.
	ReadyTimeout time.Duration
	// MaxBodyBytes is the largest request body accepted (413 beyond).
	// Default 1 MiB.
	MaxBodyBytes int64
	// CORSOrigins lists the origins allowed to call the API from a browser;
	// "*" allows any. Empty (the default) sends no CORS headers at all.
	CORSOrigins []string
	// Auth names the API keys every request but the probes, /metrics and
	// the playground's page must carry ("Authorization: Bearer <key>").
	Auth apikey.Config
	// UpstreamKey is the API key sent to the gRPC upstreams.
	UpstreamKey apikey.ClientKey
	// UpstreamTLS is the TLS (and client certificate) the connections to
	// the gRPC upstreams use; plaintext when it names no authority.
	UpstreamTLS dial.TLS
	// AllowedHosts lists the names a request's Host header may carry;
	// empty or "*" allows any. NewServer defaults it to LoopbackHosts
	// when the gateway listens on loopback.
	AllowedHosts []string
	// BodyReadTimeout bounds how long a client may take to send its
	// request body. Default 30s.
	BodyReadTimeout time.Duration
	// StreamWriteTimeout bounds each write to a client: one that stops
	// reading a stream for this long is cut off, freeing its backend
	// slot. Default 30s.
	StreamWriteTimeout time.Duration
}

// Defaults for Config.
const (
	DefaultRequestTimeout     = 2 * time.Minute
	DefaultReadyTimeout       = time.Second
	DefaultMaxBodyBytes       = 1 << 20
	DefaultBodyReadTimeout    = 30 * time.Second
	DefaultStreamWriteTimeout = 30 * time.Second
)

// Validate reports a configuration the gateway cannot start with.
func (c Config) Validate() error {
	var errs []error
	for _, u := range []struct{ flag, addr string }{
		{"text-addr", c.TextAddr},
		{"image-addr", c.ImageAddr},
		{"audio-addr", c.AudioAddr},
		{"embed-addr", c.EmbedAddr},
		{"orchestrator-addr", c.OrchestratorAddr},
	} {
		if strings.TrimSpace(u.addr) == "" {
			errs = append(errs, fmt.Errorf("-%s is empty: give the upstream's host:port", u.flag))
		}
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("-request-timeout %s is negative", c.RequestTimeout))
	}
	if c.ReadyTimeout < 0 {
		errs = append(errs, fmt.Errorf("-ready-timeout %s is negative", c.ReadyTimeout))
	}
	if c.BodyReadTimeout < 0 || c.StreamWriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("-body-read-timeout and -stream-write-timeout must not be negative"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("-max-body-bytes %d is negative", c.MaxBodyBytes))
	}
	errs = append(errs, c.UpstreamTLS.Validate())
	for _, o := range c.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			errs = append(errs, fmt.Errorf("-cors-origins: %q is not an origin such as https://example.com or *", o))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.BodyReadTimeout == 0 {
		c.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if c.StreamWriteTimeout == 0 {
		c.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	return c
}

// ParseOrigins splits a comma-separated -cors-origins value, dropping
// blanks and trailing slashes (browsers send origins without one).
func ParseOrigins(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// HTTPConfig configures the HTTP server that Serve runs.
type HTTPConfig struct {
	// Addr is the address to listen on, for example "127.0.0.1:8080".
	Addr string
	// ShutdownTimeout bounds the graceful drain on shutdown; after it
	// in-flight requests (long streams, typically) are cut off. Default 10s.
	ShutdownTimeout time.Duration
}

// Validate reports an HTTP configuration the gateway cannot start with.
func (c HTTPConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("-http-addr %q: %w", c.Addr, err)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("-shutdown-timeout %s is negative", c.ShutdownTimeout)
	}
	return nil
}
