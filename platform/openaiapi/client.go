package openaiapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/config"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// DefaultTimeout bounds one generation when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// APIKeyEnv is the variable the API key falls back to, as in OpenAI's own
// clients.
const APIKeyEnv = "OPENAI_API_KEY"

// Config is how a backend reaches an OpenAI-compatible server. Backends
// embed it and add what is theirs.
type Config struct {
	// BaseURL is the server's OpenAI API root, including /v1, for example
	// "http://127.0.0.1:8000/v1". Empty disables the backend.
	BaseURL string
	// APIKey is sent as a bearer token when set. It is never logged.
	APIKey string
	// Models are the model names to expose, as the server knows them.
	Models []string
	// Timeout bounds one generation, upstream calls included (default
	// DefaultTimeout).
	Timeout time.Duration
	// Transport replaces the HTTP transport (tests); nil uses the default.
	Transport http.RoundTripper
}

// Enabled reports whether the backend is configured at all.
func (c Config) Enabled() bool { return c.BaseURL != "" }

// Validate reports a configuration no backend can run with; exampleURL
// completes the message about a bad base URL with one the backend's users
// would recognise.
func (c Config) Validate(exampleURL string) error {
	var errs []error
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("openai: -openai-base-url %q must be an http or https URL such as %s", c.BaseURL, exampleURL))
	}
	for _, m := range c.Models {
		if m == "" || len(m) > genai.MaxModelLen {
			errs = append(errs, fmt.Errorf("openai: model name %q must be 1 to %d bytes", m, genai.MaxModelLen))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("openai: negative timeout %s", c.Timeout))
	}
	return errors.Join(errs...)
}

// LogValue keeps the API key out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(c.LogAttrs()...)
}

// LogAttrs are LogValue's attributes, for backends that log more.
func (c Config) LogAttrs() []slog.Attr {
	return []slog.Attr{
		slog.String("base_url", RedactURL(c.BaseURL)),
		slog.Bool("api_key_set", c.APIKey != ""),
		slog.Any("models", c.Models),
		slog.String("timeout", c.Timeout.String()),
	}
}

// FlagUsage is the help of the flags whose meaning differs by backend.
type FlagUsage struct {
	BaseURL, Models, Timeout string
}

// RegisterFlags registers the flags every OpenAI-compatible backend has:
// -openai-base-url, -openai-api-key, -openai-models and -timeout. The flags
// only parse; Validate checks the values.
func (c *Config) RegisterFlags(fs *flag.FlagSet, usage FlagUsage) {
	fs.StringVar(&c.BaseURL, "openai-base-url", c.BaseURL, usage.BaseURL)
	if c.APIKey == "" {
		c.APIKey = os.Getenv(APIKeyEnv)
	}
	fs.Var(apiKey{&c.APIKey}, "openai-api-key", "API `key` for the OpenAI-compatible server (default $"+APIKeyEnv+")")
	fs.Var((*config.List)(&c.Models), "openai-models", usage.Models)
	fs.DurationVar(&c.Timeout, "timeout", cmp.Or(c.Timeout, DefaultTimeout), usage.Timeout)
}

// apiKey is the -openai-api-key flag. Its value never shows in -help, and
// an empty one falls back to $OPENAI_API_KEY.
type apiKey struct{ p *string }

func (apiKey) String() string { return "" }

func (k apiKey) Set(s string) error {
	if s == "" {
		s = os.Getenv(APIKeyEnv)
	}
	*k.p = s
	return nil
}

// Client calls one OpenAI-compatible server: its base URL, its API key and
// a traced transport, the same for every backend.
type Client struct {
	base    string
	host    string
	key     string
	timeout time.Duration
	http    *http.Client
}

// NewClient builds the client for a validated cfg. It warns when the base
// URL does not end in /v1: every common server (vLLM, llama.cpp, Ollama,
// LM Studio, OpenAI) serves the API there, and without it every call is a
// 404.
func NewClient(cfg Config, log *slog.Logger) *Client {
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	c := &Client{
		base:    strings.TrimSuffix(cfg.BaseURL, "/"),
		key:     cfg.APIKey,
		timeout: cmp.Or(cfg.Timeout, DefaultTimeout),
		// No client timeout: each call gets a context deadline instead,
		// which also bounds reading a stream.
		http: &http.Client{Transport: otelhttp.NewTransport(transport)},
	}
	if u, err := url.Parse(c.base); err == nil {
		c.host = u.Host
	}
	if !strings.HasSuffix(c.base, "/v1") {
		log.Warn("the OpenAI base URL usually ends in /v1", "base_url", RedactURL(c.base))
	}
	return c
}

// BaseURL is the server's API root, redacted for logs.
func (c *Client) BaseURL() string { return RedactURL(c.base) }

// WithTimeout bounds one upstream call by the configured timeout, with
// ErrTimeout as its cause so TransportError can tell it from the caller's
// deadline. Ending the context closes the upstream connection, which is how
// servers learn to stop.
func (c *Client) WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, c.timeout, ErrTimeout)
}

// Get builds a GET of the API path (such as "/models").
func (c *Client) Get(ctx context.Context, path string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
}

// Post builds a POST of v as JSON to the API path. Its errors are already
// INTERNAL: nothing the caller sent can make them happen.
func (c *Client) Post(ctx context.Context, path string, v any) (*http.Request, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "internal error").WithCause(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "internal error").WithCause(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// Do sends req. The API key goes only to the configured server's host,
// never to another (OpenAI's image URLs are pre-signed blob URLs on a
// storage host).
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if c.key != "" && req.URL.Host == c.host {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	return c.http.Do(req)
}
