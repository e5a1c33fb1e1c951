package gateway

import (
	"errors"
	"math"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/apikey"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// The gateway's guards against clients it should not serve: callers
// without a key, web pages that reach a gateway on the user's own machine
// (cross-site simple POSTs, DNS rebinding), and clients that read or write
// too slowly.

// Reasons of the guards' refusals.
const (
	ReasonUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	ReasonHostNotAllowed       = "HOST_NOT_ALLOWED"
	ReasonHeadersTooLarge      = "HEADERS_TOO_LARGE"
)

// MaxHeaderBytes is the most header bytes (names and values) a request may
// carry. net/http refuses more than 1 MiB itself, with a plain-text 431;
// below that the gateway answers 431 in its own JSON.
const MaxHeaderBytes = 64 << 10

// LoopbackHosts are the Host names a gateway bound to loopback accepts by
// default: a DNS name that resolves to 127.0.0.1 (rebinding) is refused.
var LoopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// openPath reports a path served without a key: the probes and the
// scrape, which machines poll without credentials, and the playground's
// static page (it holds no data; every call it makes needs the key).
func openPath(r *http.Request) bool {
	if isProbe(r.URL.Path) {
		return true
	}
	return r.Method == http.MethodGet && (r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/playground/"))
}

// guardError writes err in the route's error shape: OpenAI's on the
// OpenAI-compatible routes, a google.rpc.Status elsewhere.
func (g *Gateway) guardError(w http.ResponseWriter, r *http.Request, httpStatus int, err *rpcerr.Error, openAIType, openAICode string) {
	if isOpenAIPath(r.URL.Path) {
		writeOpenAIError(w, httpStatus, openAIErrorBody{Message: err.Message, Type: openAIType, Code: openAICode})
		return
	}
	g.writeStatus(w, httpStatus, err.GRPCStatus())
}

// authenticate answers 401 to a request without a valid key, when keys are
// configured, and 429 (with Retry-After) to a key over its -rate-limit. The
// key is never logged or echoed.
func (g *Gateway) authenticate(next http.Handler) http.Handler {
	if g.keys == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openPath(r) {
			next.ServeHTTP(w, r)
			return
		}
		retry, err := g.keys.Admit(r.Header.Get("Authorization"))
		if errors.Is(err, apikey.ErrRateLimited) {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
			g.guardError(w, r, http.StatusTooManyRequests, apikey.RateLimitError(retry), "rate_limit_error", "rate_limit_exceeded")
			return
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="chorus"`)
			code := "invalid_api_key"
			if errors.Is(err, apikey.ErrMissing) {
				code = "missing_api_key"
			}
			g.guardError(w, r, http.StatusUnauthorized,
				rpcerr.New(codes.Unauthenticated, apikey.ReasonUnauthenticated, apikey.Message(err)), "invalid_request_error", code)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireJSON answers 415 to a POST whose body is not declared JSON. A web
// page can send text/plain, form and multipart bodies (or a body with no
// type) to any origin without a CORS preflight; JSON needs one, which the
// gateway grants only to -cors-origins. So a page the user visits cannot
// start runs on their gateway.
func (g *Gateway) requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" && r.ContentLength == 0 {
			// No body at all (POST /v1/jobs/{id}:cancel).
			next.ServeHTTP(w, r)
			return
		}
		mt, _, err := mime.ParseMediaType(ct)
		if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			next.ServeHTTP(w, r)
			return
		}
		g.guardError(w, r, http.StatusUnsupportedMediaType,
			rpcerr.New(codes.InvalidArgument, ReasonUnsupportedMediaType,
				"a POST body must be JSON: send \"Content-Type: application/json\"").WithMetadata("content_type", rpcerr.Clip(ct, 100)),
			"invalid_request_error", strings.ToLower(ReasonUnsupportedMediaType))
	})
}

// limitHeaders answers 431 to a request whose headers are over
// MaxHeaderBytes: none of the API's needs more, and every header is copied
// into traces and logs' context.
func (g *Gateway) limitHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 0
		for k, vs := range r.Header {
			for _, v := range vs {
				n += len(k) + len(v)
			}
		}
		if n > MaxHeaderBytes {
			g.guardError(w, r, http.StatusRequestHeaderFieldsTooLarge,
				rpcerr.New(codes.InvalidArgument, ReasonHeadersTooLarge, "the request headers are too large").
					WithMetadata("limit_bytes", strconv.Itoa(MaxHeaderBytes)),
				"invalid_request_error", strings.ToLower(ReasonHeadersTooLarge))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkHost answers 421 to a request whose Host is not allowed. A page on
// an attacker's domain whose DNS answer turns to 127.0.0.1 (rebinding) is
// same-origin with the gateway as far as the browser knows; its requests
// still carry the attacker's name in Host.
func (g *Gateway) checkHost(next http.Handler) http.Handler {
	if len(g.cfg.AllowedHosts) == 0 || slices.Contains(g.cfg.AllowedHosts, "*") {
		return next
	}
	allowed := map[string]bool{}
	for _, h := range g.cfg.AllowedHosts {
		allowed[strings.ToLower(h)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
		if !allowed[host] {
			g.guardError(w, r, http.StatusMisdirectedRequest,
				rpcerr.New(codes.PermissionDenied, ReasonHostNotAllowed,
					"the Host header names no host this gateway serves; see -allowed-hosts"),
				"invalid_request_error", strings.ToLower(ReasonHostNotAllowed))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// deadlines bounds how long each write to a client may block (and, in
// limitBody, how long it may take to send its body). A client that stops
// reading a stream fails the next write within StreamWriteTimeout; the
// handler then returns, which cancels the upstream call and frees its
// backend slot. The writer is left in the request's requestInfo, where an
// upstream stream finds it to defer its flushes (see stream).
func (g *Gateway) deadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: g.cfg.StreamWriteTimeout}
		if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			info.writer = d
		}
		next.ServeHTTP(d, r)
	})
}

// deadlineWriter gives every write and flush its own deadline.
//
// While lazy (set by a stream that reads its upstream ahead), a flush only
// marks the data written so far as pending: the stream flushes it once it
// has no further message at hand, so that a burst of messages goes out in
// one write rather than one write (a system call and a TCP segment) each,
// and nothing waits in the buffer while the upstream is silent. Only the
// handler's goroutine uses it.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	lazy    bool
	pending bool
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.ResponseWriter.Write(p)
}

func (d *deadlineWriter) WriteHeader(code int) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	d.ResponseWriter.WriteHeader(code)
}

func (d *deadlineWriter) FlushError() error {
	if d.lazy {
		d.pending = true
		return nil
	}
	return d.flush()
}

// flushPending flushes what a lazy flush left pending.
func (d *deadlineWriter) flushPending() error {
	if !d.pending {
		return nil
	}
	d.pending = false
	return d.flush()
}

func (d *deadlineWriter) flush() error {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.rc.Flush()
}

func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
