package genai

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"
	"unicode/utf8"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// Embedding names the embedding service in errors and metrics. It is not one of Modalities:
// pipelines' generate steps cannot name it, since EmbeddingService has no Generate.
const Embedding Modality = "embedding"

// Limits documented on EmbedRequest in embedding.proto.
const (
	MaxEmbedInputs     = 256
	MaxEmbedInputLen   = 32768
	MaxEmbedTotalBytes = 1 << 20
)

// EmbedBackend embeds for the models it lists. Implementations live in the embedding service.
type EmbedBackend interface {
	// Models lists the models this backend serves, with their embedding_dimensions and
	// max_input_tokens; names are unique across the service's backends.
	Models() []*genaiv1.Model
	// Embed runs one validated request whose Model names one of this backend's models and
	// whose Dimensions is 0 or at most the model's. It returns one L2-normalised embedding
	// per input, in input order, and the tokens read; an input over max_input_tokens is cut
	// when Truncate is set and refused with INVALID_ARGUMENT otherwise. It must return
	// promptly once ctx is done, with errors that carry a deliberate code.
	Embed(ctx context.Context, req *genaiv1.EmbedRequest) (*genaiv1.EmbedResponse, error)
}

// EmbedRoute is one embedding backend with its admission limits, as Route is for Generate.
type EmbedRoute struct {
	Backend     EmbedBackend
	Concurrency int
	Queue       int
}

// EmbedHandler serves chorus.genai.v1.EmbeddingService: validation, model routing,
// admission, the dimensions cut, span attributes and metrics, in front of EmbedBackends. Its
// routing and admission are a Handler's, over the embedding backends seen as Backends.
type EmbedHandler struct {
	genaiv1.UnimplementedEmbeddingServiceServer
	h *Handler
}

var _ genaiv1.EmbeddingServiceServer = (*EmbedHandler)(nil)

// asBackend lets a Handler route to an EmbedBackend; the handler never calls Generate on it.
type asBackend struct{ EmbedBackend }

func (asBackend) Generate(context.Context, *genaiv1.GenerateRequest, func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	return nil, rpcerr.New(codes.Unimplemented, rpcerr.ReasonInternal, "embedding models do not generate")
}

// NewEmbedHandler builds an embedding handler over routes; the first model of the first route
// is the default. Like NewHandler it starts with no routes and then refuses every call with
// FAILED_PRECONDITION. Its metrics go to the global meter provider.
func NewEmbedHandler(log *slog.Logger, routes ...EmbedRoute) (*EmbedHandler, error) {
	return newEmbedHandler(log, otel.GetMeterProvider(), routes...)
}

func newEmbedHandler(log *slog.Logger, mp metric.MeterProvider, routes ...EmbedRoute) (*EmbedHandler, error) {
	rs := make([]Route, len(routes))
	for i, r := range routes {
		rs[i] = Route{Backend: asBackend{r.Backend}, Concurrency: r.Concurrency, Queue: r.Queue}
	}
	h, err := newHandler(Embedding, log, mp, rs...)
	if err != nil {
		return nil, err
	}
	return &EmbedHandler{h: h}, nil
}

// Close stops observing the handler's queues for metrics.
func (h *EmbedHandler) Close() error { return h.h.Close() }

// ListModels lists every embedding model, the default first.
func (h *EmbedHandler) ListModels(ctx context.Context, req *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return h.h.ListModels(ctx, req)
}

// Embed validates req, routes it to its model's backend within the backend's admission
// limits, and returns the vectors, cut to req.Dimensions and re-normalised when it is set.
func (h *EmbedHandler) Embed(ctx context.Context, req *genaiv1.EmbedRequest) (*genaiv1.EmbedResponse, error) {
	c := call{start: time.Now()}
	resp, err := h.embed(ctx, req, &c.model)
	var usage *genaiv1.GenerateResponse
	if resp != nil {
		usage = &genaiv1.GenerateResponse{Usage: resp.GetUsage()}
	}
	h.h.metrics.record(ctx, "embeddings", c, usage, err)
	return resp, err
}

func (h *EmbedHandler) embed(ctx context.Context, req *genaiv1.EmbedRequest, model *string) (*genaiv1.EmbedResponse, error) {
	if err := ValidateEmbed(req); err != nil {
		return nil, err
	}
	r, err := h.h.resolve(req.GetModel())
	if err != nil {
		return nil, err
	}
	*model = r.name
	var dims int32
	for _, m := range h.h.allModels() {
		if m.GetName() == r.name {
			dims = m.GetEmbeddingDimensions()
		}
	}
	if d := req.GetDimensions(); dims > 0 && d > dims {
		return nil, rpcerr.Invalid(rpcerr.FieldViolation{Field: "dimensions",
			Description: fmt.Sprintf("must be at most model %q's %d dimensions, got %d", r.name, dims, d)})
	}
	if req.GetModel() != r.name {
		req = cloneEmbed(req)
		req.Model = r.name
	}
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(
		attribute.String("gen_ai.operation.name", "embeddings"),
		attribute.String("gen_ai.request.model", r.name),
		attribute.Int("chorus.embeddings.inputs", len(req.GetInputs())),
	)
	release, err := r.admit(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	eb, ok := r.backend.(asBackend)
	if !ok {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "the model's backend does not embed")
	}
	resp, err := eb.Embed(ctx, req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !rpcerr.IsDeliberate(err) {
			return nil, ctxErr
		}
		return nil, err
	}
	if resp == nil || len(resp.GetEmbeddings()) != len(req.GetInputs()) {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal,
			fmt.Sprintf("backend returned %d embeddings for %d inputs", len(resp.GetEmbeddings()), len(req.GetInputs())))
	}
	if resp.Model == "" {
		resp.Model = r.name
	}
	for i, e := range resp.GetEmbeddings() {
		e.Index = int32(i)
		if d := int(req.GetDimensions()); d > 0 && len(e.Values) > d {
			e.Values = e.Values[:d]
			Normalize(e.Values)
		}
	}
	span.SetAttributes(
		attribute.String("gen_ai.response.model", resp.GetModel()),
		attribute.Int("gen_ai.usage.input_tokens", int(resp.GetUsage().GetInputTokens())),
	)
	return resp, nil
}

func cloneEmbed(req *genaiv1.EmbedRequest) *genaiv1.EmbedRequest {
	return &genaiv1.EmbedRequest{Model: req.GetModel(), Inputs: req.GetInputs(), InputType: req.GetInputType(),
		Dimensions: req.GetDimensions(), Truncate: req.GetTruncate()}
}

// Normalize scales v to unit length (a zero vector stays zero).
func Normalize(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(ss))
	for i := range v {
		v[i] *= inv
	}
}

// ValidateEmbed checks req against the limits documented on EmbedRequest and returns an
// INVALID_ARGUMENT *rpcerr.Error naming every bad field, or nil. The dimensions' upper bound
// (the model's) is the handler's to check, once the model is resolved.
func ValidateEmbed(req *genaiv1.EmbedRequest) error {
	var v violations
	if len(req.GetModel()) > MaxModelLen {
		v.add("model", "must be at most %d bytes", MaxModelLen)
	}
	inputs := req.GetInputs()
	switch {
	case len(inputs) == 0:
		v.add("inputs", "must hold at least one text")
	case len(inputs) > MaxEmbedInputs:
		v.add("inputs", "must hold at most %d texts, got %d", MaxEmbedInputs, len(inputs))
	}
	total := 0
	for i, in := range inputs {
		if i >= MaxEmbedInputs {
			break
		}
		total += len(in)
		field := fmt.Sprintf("inputs[%d]", i)
		switch {
		case in == "":
			v.add(field, "must not be empty")
		case !utf8.ValidString(in):
			v.add(field, "must be valid UTF-8")
		case hasControl(in):
			v.add(field, controlMsg)
		case len(in) > MaxEmbedInputLen:
			v.add(field, "must be at most %d bytes, got %d", MaxEmbedInputLen, len(in))
		}
	}
	if total > MaxEmbedTotalBytes {
		v.add("inputs", "must come to at most %d bytes in all, got %d", MaxEmbedTotalBytes, total)
	}
	if _, ok := genaiv1.EmbedInputType_name[int32(req.GetInputType())]; !ok {
		v.add("input_type", "must be EMBED_INPUT_TYPE_DOCUMENT, EMBED_INPUT_TYPE_QUERY or unspecified, got %d", req.GetInputType())
	}
	if d := req.GetDimensions(); d < 0 {
		v.add("dimensions", "must be 0 (all) or positive, got %d", d)
	}
	return v.err()
}
