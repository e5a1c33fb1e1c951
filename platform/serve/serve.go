// Package serve is the one way every Chorus gRPC server starts, runs and
// stops: health, reflection, tracing, error mapping, logging, panic
// recovery and graceful shutdown.
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/apikey"
	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/telemetry"
)

// Config configures a Server.
type Config struct {
	// Addr is the TCP address to listen on, for example "127.0.0.1:50051".
	Addr string
	// MetricsAddr, when set, is the TCP address of a plain HTTP listener
	// that serves GET /metrics for Prometheus (telemetry.MetricsHandler).
	// MetricsAuto derives it from Addr (see ports.MetricsAddr); empty
	// serves none.
	MetricsAddr string
	// ShutdownTimeout bounds the graceful drain on shutdown; after it
	// in-flight RPCs are cut off. Default 10s.
	ShutdownTimeout time.Duration
	// MaxConnectionAge is how long a client connection lives before the
	// server asks the client to reconnect (GOAWAY); RPCs in flight finish
	// (within MaxConnectionAgeGrace). Reconnecting makes clients resolve
	// the service's name again, so replicas added behind a headless
	// Service get traffic. Default DefaultMaxConnectionAge.
	MaxConnectionAge time.Duration
	// OnPanic, when set, is told of every panic the recovery interceptor
	// catches, after it is logged. A recovered panic is a bug: test servers
	// set this to fail the test (see FailOnPanic).
	OnPanic func(method string, recovered any)
	// Auth names the API keys every RPC but health checks must carry; with
	// none the server is open, and then may listen only on loopback unless
	// Auth.AllowInsecureBind.
	Auth apikey.Config
	// Reflection registers the gRPC reflection service (for grpcurl and
	// similar tools). Off by default: it lists every method to anyone.
	Reflection bool
	// TLS, when it names a certificate, makes the server speak only TLS,
	// and with a client authority only mutual TLS. Off by default.
	TLS TLS
	// MaxCallDuration bounds every call (but health's watch): a client's
	// grpc-timeout above it is cut to it, and a call without one gets it.
	// Zero means DefaultMaxCallDuration.
	MaxCallDuration time.Duration
}

// RegisterFlags registers -api-keys-file, -api-keys, -allow-insecure-bind,
// -reflection, -max-call-duration, -tls-cert, -tls-key and -tls-client-ca,
// with c's values as their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Auth.RegisterFlags(fs)
	fs.BoolVar(&c.Reflection, "reflection", c.Reflection, "serve the gRPC reflection service (grpcurl without -proto)")
	fs.DurationVar(&c.MaxCallDuration, "max-call-duration", c.MaxCallDuration, "longest a call may run: a client's longer deadline is cut to it, a call without one gets it (0: "+DefaultMaxCallDuration.String()+")")
	c.TLS.RegisterFlags(fs)
}

// MetricsAuto as Config.MetricsAddr serves /metrics on Addr's port plus
// ports.MetricsOffset, on a best-effort basis: when that port is taken the
// server logs a warning and serves without metrics, since a process started
// on some free gRPC port (a test's) cannot know the port above it is free
// too. An address given explicitly must be free.
const MetricsAuto = "auto"

// Connection lifetimes: long enough that reconnecting costs nothing, short
// enough that a scaled-out service is used within minutes. The grace
// outlasts the longest pipeline run a client may ask for.
const (
	DefaultMaxConnectionAge = 5 * time.Minute
	MaxConnectionAgeGrace   = time.Hour
)

// FailOnPanic returns an OnPanic hook that fails tb: the client sees an
// ordinary INTERNAL error, so without it a panicking handler can pass a test
// that only checks for "an error".
func FailOnPanic(tb interface{ Errorf(string, ...any) }) func(string, any) {
	return func(method string, p any) {
		tb.Errorf("%s: handler panicked (recovered by the interceptor): %v", method, p)
	}
}

// Validate reports a configuration a server cannot start with.
func (c Config) Validate() error {
	if c.Addr == "" {
		return errors.New("serve: listen address is empty")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("serve: listen address %q: %w", c.Addr, err)
	}
	if c.MetricsAddr != "" && c.MetricsAddr != MetricsAuto {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("serve: metrics address %q: %w", c.MetricsAddr, err)
		}
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("serve: negative shutdown timeout %s", c.ShutdownTimeout)
	}
	if c.MaxConnectionAge < 0 {
		return fmt.Errorf("serve: negative maximum connection age %s", c.MaxConnectionAge)
	}
	if c.MaxCallDuration < 0 {
		return fmt.Errorf("serve: negative -max-call-duration %s", c.MaxCallDuration)
	}
	return c.TLS.Validate()
}

// Server is a gRPC server with Chorus's standard equipment.
type Server struct {
	cfg    Config
	log    *slog.Logger
	grpc   *grpc.Server
	health *health.Server
	lis    net.Listener
	// metrics serves /metrics on metricsLis; both nil without MetricsAddr.
	metrics    *http.Server
	metricsLis net.Listener
}

// New listens on cfg.Addr and builds the server. Register services on
// GRPC() and mark them serving with SetServing before calling Run.
func New(cfg Config, log *slog.Logger, opts ...grpc.ServerOption) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.MaxConnectionAge == 0 {
		cfg.MaxConnectionAge = DefaultMaxConnectionAge
	}
	if cfg.MaxCallDuration == 0 {
		cfg.MaxCallDuration = DefaultMaxCallDuration
	}
	keys, err := cfg.Auth.Load()
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err := cfg.Auth.CheckBind(cfg.Addr, keys); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	creds, err := cfg.TLS.credentials()
	if err != nil {
		return nil, err
	}
	if creds != nil {
		opts = append([]grpc.ServerOption{creds}, opts...)
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	metricsLis, err := listenMetrics(cfg.MetricsAddr, lis.Addr().String(), log)
	if err != nil {
		_ = lis.Close()
		return nil, err
	}
	i := &interceptors{log: log, onPanic: cfg.OnPanic, maxCall: cfg.MaxCallDuration, codec: newRequestCodec()}
	unary := []grpc.UnaryServerInterceptor{i.unary}
	stream := []grpc.StreamServerInterceptor{i.stream}
	if keys != nil {
		// Inside the logging interceptor, so refused calls are logged
		// (without their metadata).
		unary = append(unary, keys.UnaryInterceptor)
		stream = append(stream, keys.StreamInterceptor)
	}
	opts = append([]grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ForceServerCodecV2(i.codec),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: cfg.MaxConnectionAge, MaxConnectionAgeGrace: MaxConnectionAgeGrace}),
		// Clients ping idle connections (platform/dial); allow it.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}, opts...)
	s := &Server{cfg: cfg, log: log, grpc: grpc.NewServer(opts...), health: health.NewServer(), lis: lis, metricsLis: metricsLis}
	if metricsLis != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", telemetry.MetricsHandler())
		s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
	healthpb.RegisterHealthServer(s.grpc, s.health)
	if cfg.Reflection {
		reflection.Register(s.grpc)
	}
	// The overall health ("") is NOT_SERVING until the services say so.
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return s, nil
}

// listenMetrics opens the metrics listener that addr asks for, next to the
// gRPC server listening on grpcAddr; nil for none.
func listenMetrics(addr, grpcAddr string, log *slog.Logger) (net.Listener, error) {
	switch addr {
	case "":
		return nil, nil
	case MetricsAuto:
		derived, err := ports.MetricsAddr(grpcAddr)
		if err == nil {
			var lis net.Listener
			if lis, err = net.Listen("tcp", derived); err == nil {
				return lis, nil
			}
		}
		log.Warn("serving no metrics: the port above the gRPC port is not usable; set -metrics-addr", "error", err.Error())
		return nil, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve: metrics: %w", err)
	}
	return lis, nil
}

// GRPC returns the underlying server, to register services on.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// MetricsAddr returns the address /metrics is served on, or nil if none.
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLis == nil {
		return nil
	}
	return s.metricsLis.Addr()
}

// SetServing marks the named services SERVING, and the server as a whole.
func (s *Server) SetServing(services ...string) {
	for _, name := range services {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
}

// SetStatus marks the named service SERVING or NOT_SERVING.
func (s *Server) SetStatus(service string, serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus(service, st)
}

// Run serves until ctx is done, then drains in-flight RPCs for at most the
// shutdown timeout and stops. It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(s.lis) }()
	s.log.Info("serving gRPC", "addr", s.lis.Addr().String())
	metricsErr := make(chan error, 1)
	if s.metrics != nil {
		go func() { metricsErr <- s.metrics.Serve(s.metricsLis) }()
		s.log.Info("serving metrics", "addr", "http://"+s.metricsLis.Addr().String()+"/metrics")
		// Scrapes are short: they end with the process, after the drain.
		defer func() {
			_ = s.metrics.Close()
			<-metricsErr
		}()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case err := <-metricsErr:
		s.grpc.Stop()
		<-errc
		metricsErr <- err // for the deferred Close
		return fmt.Errorf("serve: metrics: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", s.cfg.ShutdownTimeout.String())
	// Tell health watchers first, so balancers stop sending new work.
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("graceful shutdown timed out; cutting off in-flight RPCs")
		s.grpc.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// interceptors map every handler error through rpcerr, recover panics, log
// one line per RPC, bound each call's duration, and refuse requests that
// did not unmarshal (see requestCodec).
type interceptors struct {
	log     *slog.Logger
	onPanic func(method string, recovered any)
	maxCall time.Duration
	codec   *requestCodec
}

func (i *interceptors) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	ctx, cancel := capDeadline(ctx, info.FullMethod, i.maxCall)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = i.panicked(ctx, info.FullMethod, p)
		}
		err = i.finish(ctx, info.FullMethod, start, err)
	}()
	if err := i.codec.take(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (i *interceptors) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	ctx, cancel := capDeadline(ss.Context(), info.FullMethod, i.maxCall)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = i.panicked(ctx, info.FullMethod, p)
		}
		err = i.finish(ctx, info.FullMethod, start, err)
	}()
	return handler(srv, &limitedStream{ServerStream: ss, ctx: ctx, codec: i.codec})
}

func (i *interceptors) panicked(ctx context.Context, method string, p any) error {
	i.log.ErrorContext(ctx, "handler panicked", "method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	if i.onPanic != nil {
		i.onPanic(method, p)
	}
	return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "internal error")
}

func (i *interceptors) finish(ctx context.Context, method string, start time.Time, err error) error {
	if method == healthpb.Health_Check_FullMethodName || method == healthpb.Health_Watch_FullMethodName {
		return err
	}
	st := rpcerr.Status(err)
	attrs := []any{"method", method, "code", st.Code().String(), "duration_ms", time.Since(start).Milliseconds()}
	switch {
	case err == nil:
		i.log.InfoContext(ctx, "rpc", attrs...)
	case rpcerr.IsDeliberate(err):
		i.log.InfoContext(ctx, "rpc", append(attrs, "error", st.Message())...)
	default:
		i.log.ErrorContext(ctx, "rpc failed", append(attrs, "error", err.Error())...)
	}
	if err == nil {
		return nil
	}
	return st.Err()
}

// Code is status.Code, re-exported for callers that only import serve.
func Code(err error) codes.Code { return status.Code(err) }
