package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Every error response is a google.rpc.Status in proto3 JSON:
//
//	{"code": 3, "message": "...", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", ...}, ...]}
//
// with the HTTP status from runtime.HTTPStatusFromCode, except where the
// gateway knows better (413 for an oversized body, 405 for a wrong method).

// handleError is the mux's error handler.
func (g *Gateway) handleError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if b, ok := r.Body.(*body); ok && b.decodeErr != nil {
		err = b.decodeErr
	}
	httpStatus := 0
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		httpStatus, err = hse.HTTPStatus, hse.Err
	}
	st := g.status(ctx, err)
	switch st.Code() {
	case codes.ResourceExhausted, codes.Unavailable:
		// Both are worth retrying; say when: the server's RetryInfo, or a
		// second.
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(rpcerr.RetryDelay(st).Seconds())))))
	}
	err = st.Err()
	if httpStatus != 0 {
		err = &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: err}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// status returns the status a REST client sees for err. Upstream errors were
// already mapped by the upstream clients; what remains are the gateway's own
// errors and grpc-gateway's (a bad Grpc-Timeout header, say), which get an
// ErrorInfo so that every body has a reason. An error with no code at all
// is a bug: it is logged and reported as INTERNAL, its text withheld.
func (g *Gateway) status(ctx context.Context, err error) *status.Status {
	var own *rpcerr.Error
	if errors.As(err, &own) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return rpcerr.Status(err)
	}
	st, ok := status.FromError(err)
	if !ok {
		g.log.ErrorContext(ctx, "request failed", "error", err.Error())
		return rpcerr.Status(err)
	}
	if len(st.Details()) > 0 {
		return st
	}
	withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: reasonFor(st.Code()), Domain: rpcerr.Domain})
	if derr != nil {
		return st
	}
	return withInfo
}

// streamError is the mux's stream error handler: the status of an error line
// in an NDJSON stream.
func (g *Gateway) streamError(ctx context.Context, err error) *status.Status {
	return g.status(ctx, err)
}

// reasonFor spells a code as an ErrorInfo reason, its google.rpc.Code
// name: InvalidArgument is INVALID_ARGUMENT.
func reasonFor(c codes.Code) string { return code.Code(c).String() }

// routingError is the mux's routing error handler: no route (404), a route
// for another method (405, with Allow), or an unparsable path (400).
func (g *Gateway) routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	path := rpcerr.Clip(r.URL.Path, 200)
	var err *rpcerr.Error
	switch httpStatus {
	case http.StatusNotFound:
		err = rpcerr.New(codes.NotFound, ReasonRouteNotFound,
			fmt.Sprintf("no route for %s %s; GET /openapi.json describes the API", r.Method, path))
	case http.StatusMethodNotAllowed:
		allow := g.allowedMethods(r)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		err = rpcerr.New(codes.Unimplemented, ReasonMethodNotAllowed,
			fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, path, strings.Join(allow, " or "))).
			WithMetadata("allow", strings.Join(allow, ","))
	default:
		httpStatus = http.StatusBadRequest
		err = rpcerr.New(codes.InvalidArgument, rpcerr.ReasonInvalidArgument, "the request path is malformed")
	}
	g.handleError(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: err})
}

// allowedMethods lists the methods that have a route for r's path, found by
// replaying r on the probe mux (whose handlers only answer "matched").
func (g *Gateway) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		probe.Body = http.NoBody
		probe.Header = http.Header{}
		rec := &statusOnly{header: http.Header{}}
		g.probe.ServeHTTP(rec, probe)
		if rec.code == probeMatched {
			allow = append(allow, m)
		}
	}
	return allow
}

const probeMatched = http.StatusNoContent

// statusOnly is a ResponseWriter that keeps only the status code.
type statusOnly struct {
	header http.Header
	code   int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}

// writeStatus writes st as an error body with the given HTTP status, for
// the gateway's own middleware (outside the mux).
func (g *Gateway) writeStatus(w http.ResponseWriter, httpStatus int, st *status.Status) {
	buf, err := g.codec.Marshal(st.Proto())
	if err != nil {
		buf = []byte(`{"code":13,"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(buf)
}
