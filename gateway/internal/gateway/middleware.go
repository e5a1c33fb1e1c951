package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// middleware wraps the mux, outermost first: tracing (so the trace starts
// here and continues into the gRPC calls through the request context),
// logging with panic recovery, the header size limit, the Host check, CORS, the API key, the JSON
// content type of POSTs, the body limit and read deadline, the write
// deadline.
func (g *Gateway) middleware(next http.Handler) http.Handler {
	h := g.deadlines(next)
	h = g.limitBody(h)
	h = g.requireJSON(h)
	h = g.authenticate(h)
	h = g.cors(h)
	h = g.checkHost(h)
	h = g.limitHeaders(h)
	h = g.observe(h)
	return otelhttp.NewHandler(h, "gateway",
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
		// Probes and scrapes arrive every few seconds; they would drown
		// the traces (and the request metrics).
		otelhttp.WithFilter(func(r *http.Request) bool { return !isProbe(r.URL.Path) }),
	)
}

// isProbe reports a path that machines poll: health probes and Prometheus
// scrapes.
func isProbe(path string) bool { return path == "/healthz" || path == "/readyz" || path == "/metrics" }

// requestInfo carries what the mux learns about a request (its route) out
// to the logging middleware, and the request's deadlineWriter in to the
// upstream streams (see stream).
type requestInfo struct {
	route  string
	writer *deadlineWriter
}

type requestInfoKey struct{}

// routeMiddleware runs inside the mux, once a route matched: it names the
// span and the log line after the route ("POST /v1/pipelines/{name}:run"),
// never after the raw path.
func (g *Gateway) routeMiddleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if pat, ok := runtime.HTTPPattern(r.Context()); ok {
			route := strings.ReplaceAll(pat.String(), "=*}", "}")
			if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
				info.route = route
			}
			span := trace.SpanFromContext(r.Context())
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
			labelRoute(r, route)
		}
		next(w, r, params)
	}
}

// labelRoute adds the route (a path template, never the raw path) to the
// request's HTTP metrics.
func labelRoute(r *http.Request, route string) {
	if l, ok := otelhttp.LabelerFromContext(r.Context()); ok {
		l.Add(attribute.String("http.route", route))
	}
}

// observe logs one line per request (method, route, status, duration; the
// trace id comes with the context; never bodies) and turns a panic into a
// 500 with the usual error body.
func (g *Gateway) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		ctx := context.WithValue(r.Context(), requestInfoKey{}, info)
		rec := &recorder{ResponseWriter: w}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			// Lets a client quote the trace of a failed request.
			w.Header().Set("X-Trace-Id", sc.TraceID().String())
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { //nolint:errorlint // a sentinel panic value, compared as net/http does
					panic(p)
				}
				g.log.ErrorContext(ctx, "handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					g.writeStatus(rec, http.StatusInternalServerError,
						rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "internal error").GRPCStatus())
				}
			}
			g.logRequest(ctx, r, info, rec, time.Since(start))
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

func (g *Gateway) logRequest(ctx context.Context, r *http.Request, info *requestInfo, rec *recorder, d time.Duration) {
	route := info.route
	if route == "" {
		route = "unmatched"
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelInfo
	switch {
	case isProbe(r.URL.Path):
		level = slog.LevelDebug
	case status >= 500:
		level = slog.LevelWarn
	}
	g.log.Log(ctx, level, "http", "method", r.Method, "route", route, "status", status,
		"duration_ms", d.Milliseconds(), "bytes", rec.bytes)
}

// recorder remembers the status and size of a response. It hides no
// optional interface: http.ResponseController finds Flush through Unwrap.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// body is a request body under the size limit. It also carries the decode
// error of the request, for the mux's error handler (see codec.NewDecoder).
type body struct {
	io.ReadCloser
	decodeErr error
	// rc lifts the body's read deadline once the body is read: net/http
	// then reads on in the background to notice a client that leaves, and
	// a timeout there would cancel the request. Nil without a deadline.
	rc *http.ResponseController
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	// Only at the end: after a timeout the deadline stays, so that net/http
	// does not wait for the rest of the body before it answers.
	if errors.Is(err, io.EOF) && b.rc != nil {
		_ = b.rc.SetReadDeadline(time.Time{})
		b.rc = nil
	}
	return n, err
}

// limitBody answers 413 to a request whose declared length is over the
// limit, and bounds the read of the others (the decoder reports 413 when
// the limit is hit).
func (g *Gateway) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > g.cfg.MaxBodyBytes {
			err := errBodyTooLarge(g.cfg.MaxBodyBytes)
			if isOpenAIPath(r.URL.Path) {
				writeOpenAIError(w, err.HTTPStatus, openAIErrorBody{
					Message: rpcerr.Status(err.Err).Message(), Type: "invalid_request_error", Code: strings.ToLower(ReasonBodyTooLarge),
				})
				return
			}
			g.writeStatus(w, err.HTTPStatus, rpcerr.Status(err.Err))
			return
		}
		b := &body{ReadCloser: http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)}
		if r.ContentLength != 0 {
			// A client that trickles its body is cut off (the decoder
			// reports a malformed body), not waited for.
			b.rc = http.NewResponseController(w)
			_ = b.rc.SetReadDeadline(time.Now().Add(g.cfg.BodyReadTimeout))
		}
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// cors lets browsers on the configured origins call the API. With no origins
// configured it adds nothing, so browsers keep the same-origin policy.
func (g *Gateway) cors(next http.Handler) http.Handler {
	if len(g.cfg.CORSOrigins) == 0 {
		return next
	}
	anyOrigin := slices.Contains(g.cfg.CORSOrigins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || (!anyOrigin && !slices.Contains(g.cfg.CORSOrigins, origin)) {
			next.ServeHTTP(w, r)
			return
		}
		if anyOrigin {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Grpc-Timeout, Traceparent, Tracestate")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
