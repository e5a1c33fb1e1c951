package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// The OpenAI-compatible API: the routes and JSON shapes of OpenAI's
// chat completions, completions, images, speech, embeddings and models endpoints,
// served by the same modality services (and so the same validation) as the
// native routes. Requests are translated to GenerateRequests, responses and
// errors back; OpenAI's parameter names appear in every error's `param`.

// ReasonUnsupportedParameter is the ErrorInfo reason of an OpenAI request
// that uses a parameter (or value) this gateway does not serve.
const ReasonUnsupportedParameter = "UNSUPPORTED_PARAMETER"

// openAI serves the OpenAI-compatible routes.
type openAI struct {
	g       *Gateway
	clients map[genai.Modality]*genaiClient
	embed   *embedClient
}

// openAIRoute is one route: its pattern (for spans and logs), the methods
// it answers and its handler.
type openAIRoute struct {
	path    string
	method  string
	handler http.HandlerFunc
}

func (o *openAI) routes() []openAIRoute {
	return []openAIRoute{
		{"/v1/chat/completions", http.MethodPost, o.chat},
		{"/v1/completions", http.MethodPost, o.completions},
		{"/v1/images/generations", http.MethodPost, o.images},
		{"/v1/audio/speech", http.MethodPost, o.speech},
		{"/v1/embeddings", http.MethodPost, o.embeddings},
		{"/v1/models", http.MethodGet, o.listModels},
		{"/v1/models/{id...}", http.MethodGet, o.getModel},
	}
}

// mount registers the OpenAI routes on mux. Each path answers every
// method, so that a wrong one gets a 405 in OpenAI's error shape rather
// than falling through to the REST mux.
func (o *openAI) mount(mux *http.ServeMux) {
	for _, rt := range o.routes() {
		route := rt.method + " " + strings.ReplaceAll(rt.path, "...}", "}")
		mux.Handle(rt.path, namedRoute(route, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != rt.method {
				w.Header().Set("Allow", rt.method)
				writeOpenAIError(w, http.StatusMethodNotAllowed, openAIErrorBody{
					Message: fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, rpcerr.Clip(r.URL.Path, 200), rt.method),
					Type:    "invalid_request_error",
					Code:    strings.ToLower(ReasonMethodNotAllowed),
				})
				return
			}
			rt.handler(w, r)
		})))
	}
}

// isOpenAIPath reports whether path is one of the OpenAI-compatible
// routes, whose errors take OpenAI's shape.
func isOpenAIPath(path string) bool {
	switch path {
	case "/v1/chat/completions", "/v1/completions", "/v1/images/generations", "/v1/audio/speech", "/v1/embeddings", "/v1/models":
		return true
	}
	return strings.HasPrefix(path, "/v1/models/")
}

// namedRoute names the span and the log line of a request after its route,
// as routeMiddleware does for the REST mux.
func namedRoute(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			info.route = route
		}
		span := trace.SpanFromContext(r.Context())
		span.SetName(route)
		span.SetAttributes(attribute.String("http.route", route))
		_, path, _ := strings.Cut(route, " ")
		labelRoute(r, path)
		next.ServeHTTP(w, r)
	})
}

// openAIErrorBody is OpenAI's error object.
type openAIErrorBody struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   any    `json:"param"` // a string, or null
	Code    any    `json:"code"`  // a string, or null
}

func writeOpenAIError(w http.ResponseWriter, httpStatus int, e openAIErrorBody) {
	if p, ok := e.Param.(string); ok && p == "" {
		e.Param = nil
	}
	if c, ok := e.Code.(string); ok && c == "" {
		e.Code = nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(map[string]openAIErrorBody{"error": e})
}

// paramNames maps the fields our field violations name (text.max_tokens)
// to the OpenAI parameters a request sent (max_completion_tokens). A field
// is matched by its longest prefix in the map; the rest of its path (an
// index, a subfield) is kept.
type paramNames map[string]string

func (p paramNames) translate(field string) string {
	best := ""
	for k := range p {
		if (field == k || strings.HasPrefix(field, k+"[") || strings.HasPrefix(field, k+".")) && len(k) > len(best) {
			best = k
		}
	}
	if best == "" {
		return field
	}
	return p[best] + field[len(best):]
}

// openAIErrorFor turns err (a gRPC status from an upstream, or the
// gateway's own error) into OpenAI's error shape and HTTP status.
func (o *openAI) openAIErrorFor(ctx context.Context, err error, names paramNames) (int, openAIErrorBody) {
	httpStatus := 0
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		httpStatus, err = hse.HTTPStatus, hse.Err
	}
	st := o.g.status(ctx, err)
	if httpStatus == 0 {
		httpStatus = runtime.HTTPStatusFromCode(st.Code())
	}
	body := openAIErrorBody{Message: st.Message(), Type: openAIErrorType(httpStatus)}
	var violations []*errdetails.BadRequest_FieldViolation
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			body.Code = strings.ToLower(d.GetReason())
		case *errdetails.BadRequest:
			violations = append(violations, d.GetFieldViolations()...)
		}
	}
	if len(violations) > 0 {
		// Our message names our field; say it again with OpenAI's.
		param := names.translate(violations[0].GetField())
		body.Param = param
		body.Message = fmt.Sprintf("invalid %s: %s", param, violations[0].GetDescription())
		if n := len(violations) - 1; n > 0 {
			others := make([]string, 0, n)
			for _, v := range violations[1:] {
				others = append(others, names.translate(v.GetField())+": "+v.GetDescription())
			}
			body.Message += fmt.Sprintf(" (and %d more: %s)", n, strings.Join(others, "; "))
		}
	}
	return httpStatus, body
}

// openAIErrorType is the error type OpenAI reports with an HTTP status.
func openAIErrorType(httpStatus int) string {
	switch {
	case httpStatus == http.StatusUnauthorized:
		return "authentication_error"
	case httpStatus == http.StatusForbidden:
		return "permission_error"
	case httpStatus == http.StatusTooManyRequests:
		return "rate_limit_error"
	case httpStatus >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// fail writes err as an OpenAI error response.
func (o *openAI) fail(w http.ResponseWriter, r *http.Request, err error, names paramNames) {
	httpStatus, body := o.openAIErrorFor(r.Context(), err, names)
	switch httpStatus {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	if httpStatus >= 500 && !rpcerr.IsDeliberate(err) {
		o.g.log.WarnContext(r.Context(), "openai route failed", "error", err.Error())
	}
	writeOpenAIError(w, httpStatus, body)
}

// invalidParam is a 400 naming one OpenAI parameter.
func invalidParam(param, format string, args ...any) error {
	return rpcerr.Invalid(rpcerr.FieldViolation{Field: param, Description: fmt.Sprintf(format, args...)})
}

// unsupported is a 400 for a parameter or value the gateway does not serve.
func unsupported(param, format string, args ...any) error {
	e := rpcerr.Invalid(rpcerr.FieldViolation{Field: param, Description: fmt.Sprintf(format, args...)})
	e.Reason = ReasonUnsupportedParameter
	return e
}

// decodeOpenAI reads a JSON object into v, accepting only the parameters
// in allowed: an unknown one is a 400 naming it, as OpenAI answers, so a
// parameter this gateway would ignore never passes silently.
func decodeOpenAI(r *http.Request, v any, allowed []string) error {
	data, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errBodyTooLarge(tooLarge.Limit)
	case err != nil:
		return rpcerr.New(codes.InvalidArgument, ReasonMalformedBody, "the request body could not be read").WithCause(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return rpcerr.New(codes.InvalidArgument, ReasonMalformedBody, "the request body is empty; send a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return rpcerr.New(codes.InvalidArgument, ReasonMalformedBody, "the request body is not a JSON object: "+rpcerr.Clip(err.Error(), 200)).WithCause(err)
	}
	var unknown []string
	for k := range fields {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return unsupported(rpcerr.Clip(unknown[0], 64), "unrecognized request argument; this server accepts %s", strings.Join(allowed, ", "))
	}
	if err := json.Unmarshal(data, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			// Shared parameters live in an embedded struct, which the
			// path names.
			return invalidParam(strings.TrimPrefix(typeErr.Field, "sampling."), "must be %s, got a JSON %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		}
		var pe *paramError
		if errors.As(err, &pe) {
			return invalidParam(pe.param, "%s", pe.msg)
		}
		return rpcerr.New(codes.InvalidArgument, ReasonMalformedBody, "the request body is not valid: "+rpcerr.Clip(err.Error(), 200)).WithCause(err)
	}
	return nil
}

// paramError is a decode error of one parameter with a custom type.
type paramError struct{ param, msg string }

func (e *paramError) Error() string { return e.param + ": " + e.msg }

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"):
		return "an integer"
	case strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "a boolean"
	case goKind == "slice":
		return "an array"
	default:
		return "an object"
	}
}

// clampInt32 keeps an integer parameter in int32's range, so that an
// absurd value is reported by validation with its limit rather than
// wrapping around.
func clampInt32(n int64) int32 {
	return int32(max(math.MinInt32, min(n, math.MaxInt32)))
}

func newID(prefix string) string { return prefix + strings.ToLower(rand.Text()) }

// openAIModel is one entry of GET /v1/models. modality, backend and
// capabilities are Chorus's own additions; clients ignore fields they do
// not know.
type openAIModel struct {
	ID           string   `json:"id"`
	Object       string   `json:"object"`
	Created      int64    `json:"created"`
	OwnedBy      string   `json:"owned_by"`
	Modality     string   `json:"modality"`
	Backend      string   `json:"backend,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
}

// models lists every modality's models, text first, then the embedding
// models. A service that fails fails the list: a partial list would hide a
// model a client expects.
func (o *openAI) models(ctx context.Context) ([]openAIModel, error) {
	modalities := []genai.Modality{genai.Text, genai.Image, genai.Audio, genai.Embedding}
	lists := make([][]*genaiv1.Model, len(modalities))
	errs := make([]error, len(modalities))
	var wg sync.WaitGroup
	for i, m := range modalities {
		wg.Go(func() {
			var resp *genaiv1.ListModelsResponse
			if m == genai.Embedding {
				resp, errs[i] = o.embed.ListModels(ctx, &genaiv1.ListModelsRequest{})
			} else {
				resp, errs[i] = o.clients[m].ListModels(ctx, &genaiv1.ListModelsRequest{})
			}
			lists[i] = resp.GetModels()
		})
	}
	wg.Wait()
	var out []openAIModel
	for i, m := range modalities {
		if errs[i] != nil {
			return nil, errs[i]
		}
		for _, model := range lists[i] {
			caps := make([]string, 0, len(model.GetCapabilities()))
			for _, c := range model.GetCapabilities() {
				caps = append(caps, strings.ToLower(strings.TrimPrefix(c.String(), "CAPABILITY_")))
			}
			out = append(out, openAIModel{
				ID: model.GetName(), Object: "model", OwnedBy: "chorus",
				Modality: string(m), Backend: model.GetBackend(), Capabilities: caps,
			})
		}
	}
	return out, nil
}

func (o *openAI) listModels(w http.ResponseWriter, r *http.Request) {
	models, err := o.models(r.Context())
	if err != nil {
		o.fail(w, r, err, nil)
		return
	}
	if models == nil {
		models = []openAIModel{}
	}
	writeJSON(w, map[string]any{"object": "list", "data": models})
}

func (o *openAI) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	models, err := o.models(r.Context())
	if err != nil {
		o.fail(w, r, err, nil)
		return
	}
	for _, m := range models {
		if m.ID == id {
			writeJSON(w, m)
			return
		}
	}
	o.fail(w, r, rpcerr.New(codes.NotFound, rpcerr.ReasonModelNotFound,
		fmt.Sprintf("the model %q does not exist; GET /v1/models lists them", rpcerr.Clip(id, 128))), nil)
}

// defaultModel names the model a service serves to requests that name
// none, for the chunks of a stream written before the service says.
func (o *openAI) defaultModel(ctx context.Context, m genai.Modality) string {
	resp, err := o.clients[m].ListModels(ctx, &genaiv1.ListModelsRequest{})
	if err != nil {
		return ""
	}
	for _, model := range resp.GetModels() {
		if model.GetDefault() {
			return model.GetName()
		}
	}
	if len(resp.GetModels()) > 0 {
		return resp.GetModels()[0].GetName()
	}
	return ""
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
