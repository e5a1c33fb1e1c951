// Package gateway serves Chorus's gRPC APIs as REST and NDJSON over HTTP.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"
	"github.com/chorus-ai/chorus/proto/openapi"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/chorus-ai/chorus/platform/apikey"
	"github.com/chorus-ai/chorus/platform/dial"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/telemetry"
)

// Gateway is the REST front door: one HTTP handler in front of the text,
// image, audio, embedding and orchestrator services.
type Gateway struct {
	cfg       Config
	log       *slog.Logger
	codec     *codec
	mux       *runtime.ServeMux
	probe     *runtime.ServeMux
	handler   http.Handler
	upstreams []*upstream
	conns     []*grpc.ClientConn
	// keys are the accepted API keys; nil when none are configured.
	keys *apikey.Keys
}

// upstream is one service the gateway calls, as /readyz reports it.
type upstream struct {
	name     string // "text", "image", "audio", "embedding", "orchestrator"
	target   string
	service  string // the full gRPC service name its health server reports
	required bool   // the gateway is not ready without it (see readyz)
	health   healthpb.HealthClient

	mu         sync.Mutex
	lastStatus string // of the last check, to log only changes
}

// requiredUpstreams are the core path: without them the gateway serves
// nothing useful, while without image or audio it still serves the rest.
var requiredUpstreams = map[string]bool{string(genai.Text): true, orchestratorName: true}

// New dials the upstreams (lazily: nothing connects until the first call)
// and builds the handler.
func New(cfg Config, log *slog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	keys, err := cfg.Auth.Load()
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log, codec: newCodec(), keys: keys}
	ok := false
	defer func() {
		if !ok {
			g.Close()
		}
	}()

	genaiClients := map[genai.Modality]*genaiClient{}
	for _, u := range []struct {
		m       genai.Modality
		target  string
		service string
	}{
		{genai.Text, cfg.TextAddr, genaiv1.TextService_ServiceDesc.ServiceName},
		{genai.Image, cfg.ImageAddr, genaiv1.ImageService_ServiceDesc.ServiceName},
		{genai.Audio, cfg.AudioAddr, genaiv1.AudioService_ServiceDesc.ServiceName},
	} {
		conn, err := g.dial(string(u.m), u.target, u.service)
		if err != nil {
			return nil, err
		}
		genaiClients[u.m] = &genaiClient{service: string(u.m), client: genai.NewClient(u.m, conn), timeout: cfg.RequestTimeout}
	}
	conn, err := g.dial(embedName, cfg.EmbedAddr, genaiv1.EmbeddingService_ServiceDesc.ServiceName)
	if err != nil {
		return nil, err
	}
	embed := &embedClient{client: genaiv1.NewEmbeddingServiceClient(conn), timeout: cfg.RequestTimeout}
	conn, err = g.dial(orchestratorName, cfg.OrchestratorAddr, orchestratorv1.OrchestratorService_ServiceDesc.ServiceName)
	if err != nil {
		return nil, err
	}
	orch := &orchestratorClient{client: orchestratorv1.NewOrchestratorServiceClient(conn), timeout: cfg.RequestTimeout}

	register := func(mux *runtime.ServeMux) error {
		ctx := context.Background() // only the FromEndpoint variants use it
		return errors.Join(
			genaiv1.RegisterTextServiceHandlerClient(ctx, mux, genaiClients[genai.Text]),
			genaiv1.RegisterImageServiceHandlerClient(ctx, mux, genaiClients[genai.Image]),
			genaiv1.RegisterAudioServiceHandlerClient(ctx, mux, genaiClients[genai.Audio]),
			genaiv1.RegisterEmbeddingServiceHandlerClient(ctx, mux, embed),
			orchestratorv1.RegisterOrchestratorServiceHandlerClient(ctx, mux, orch),
			retrievalv1.RegisterCollectionServiceHandlerClient(ctx, mux, &collectionClient{client: retrievalv1.NewCollectionServiceClient(conn), timeout: cfg.RequestTimeout}),
			mux.HandlePath(http.MethodGet, "/healthz", g.healthz),
			mux.HandlePath(http.MethodGet, "/readyz", g.readyz),
			mux.HandlePath(http.MethodGet, "/openapi.json", serveOpenAPI),
			mux.HandlePath(http.MethodGet, "/v1/artifacts/{id}", g.serveArtifact(orch)),
		)
	}
	g.mux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, g.codec),
		runtime.WithErrorHandler(g.handleError),
		runtime.WithStreamErrorHandler(g.streamError),
		runtime.WithRoutingErrorHandler(g.routingError),
		runtime.WithMiddlewares(g.routeMiddleware),
		// No header crosses between HTTP and gRPC metadata: the upstreams
		// read none (cookies and credentials would only spread), and their
		// metadata (content-type: application/grpc) means nothing to a
		// REST client. Trace context travels through the request context.
		runtime.WithIncomingHeaderMatcher(noHeaders),
		runtime.WithOutgoingHeaderMatcher(noHeaders),
		runtime.WithOutgoingTrailerMatcher(noHeaders),
		// A form-encoded POST must not turn into a GET of another route.
		runtime.WithDisablePathLengthFallback(),
		runtime.WithDisableHTTPMethodOverride(),
	)
	// The probe mux has the same routes, but every handler only answers
	// "matched": it tells a 405 which methods to list in Allow.
	g.probe = runtime.NewServeMux(
		runtime.WithMiddlewares(func(runtime.HandlerFunc) runtime.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request, _ map[string]string) { w.WriteHeader(probeMatched) }
		}),
		runtime.WithRoutingErrorHandler(func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, code int) {
			w.WriteHeader(code)
		}),
		runtime.WithDisablePathLengthFallback(),
		runtime.WithDisableHTTPMethodOverride(),
	)
	if err := errors.Join(register(g.mux), register(g.probe)); err != nil {
		return nil, fmt.Errorf("gateway: registering routes: %w", err)
	}
	// The OpenAI-compatible routes and the playground take their exact
	// paths ahead of the REST mux, which owns the rest of /v1/.
	root := http.NewServeMux()
	(&openAI{g: g, clients: genaiClients, embed: embed}).mount(root)
	mountPlayground(root)
	root.Handle("GET /metrics", namedRoute("GET /metrics", telemetry.MetricsHandler()))
	root.Handle("/", g.mux)
	g.handler = g.middleware(root)
	ok = true
	return g, nil
}

func noHeaders(string) (string, bool) { return "", false }

// dial opens the connection to one upstream, and a second one for its
// health checks: the shared dialer retries UNAVAILABLE with backoff, which
// is right for requests but would make /readyz slow to report an upstream
// that is down.
func (g *Gateway) dial(name, target, service string) (*grpc.ClientConn, error) {
	tlsOpts, err := g.cfg.UpstreamTLS.DialOptions()
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	conn, err := dial.Dial(target, append(g.cfg.UpstreamKey.DialOptions(), tlsOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s upstream: %w", name, err)
	}
	g.conns = append(g.conns, conn)
	hconn, err := dial.Dial(target, append(tlsOpts, grpc.WithDisableRetry())...)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s upstream: %w", name, err)
	}
	g.conns = append(g.conns, hconn)
	g.upstreams = append(g.upstreams, &upstream{name: name, target: target, service: service, required: requiredUpstreams[name], health: healthpb.NewHealthClient(hconn)})
	return conn, nil
}

// Handler returns the gateway's HTTP handler, middleware included.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close closes the upstream connections. Call it after the HTTP server has
// stopped.
func (g *Gateway) Close() {
	for _, c := range g.conns {
		if err := c.Close(); err != nil {
			g.log.Warn("closing upstream connection", "target", c.Target(), "error", err.Error())
		}
	}
	g.conns = nil
}

// Serve serves HTTP on lis until ctx is done, then shuts down gracefully:
// it stops accepting, lets in-flight requests finish for at most
// shutdownTimeout (default 10s), then cuts off the rest (their upstream
// calls are canceled with them). It returns nil after a clean shutdown.
func (g *Gateway) Serve(ctx context.Context, lis net.Listener, shutdownTimeout time.Duration) error {
	if shutdownTimeout <= 0 {
		shutdownTimeout = 10 * time.Second
	}
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// The deadline of a response's first write; every write extends
		// it (deadlineWriter), so streams last as long as the client reads.
		WriteTimeout: g.cfg.StreamWriteTimeout,
		ErrorLog:     slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		// No ReadTimeout: net/http would cancel a request's context when it
		// expires, ending long streams; limitBody bounds the body's read.
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	g.log.Info("serving HTTP", "addr", lis.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("shutting down", "grace", shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		g.log.Warn("graceful shutdown timed out; cutting off in-flight requests")
		if err := srv.Close(); err != nil {
			g.log.Warn("closing HTTP server", "error", err.Error())
		}
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

func (g *Gateway) healthz(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapi.JSON)
}
