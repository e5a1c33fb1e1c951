// Package genai implements the shared chorus.genai.v1 Generate contract once
// for every modality service: validation, model routing, admission control,
// streaming and error mapping, in front of the service's own backends.
package genai

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/platform/limit"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// QueueFullRetryDelay is the wait a request refused because a model's slots
// and queue are full is told to observe (google.rpc.RetryInfo): about one
// generation's time on the small models, short enough not to idle a slot.
const QueueFullRetryDelay = time.Second

// Modality names a modality service. Pipelines name it in YAML
// (`modality: text`), so its values are lower-case words.
type Modality string

// The modalities Chorus serves.
const (
	Text  Modality = "text"
	Image Modality = "image"
	Audio Modality = "audio"
)

// Modalities lists every modality Chorus serves, in the order its
// documentation gives them.
func Modalities() []Modality { return []Modality{Text, Image, Audio} }

// Valid reports whether m is one of Modalities.
func (m Modality) Valid() bool { return slices.Contains(Modalities(), m) }

// Backend generates for the models it lists. Implementations live in each
// modality service.
type Backend interface {
	// Models lists the models this backend serves; names are unique across
	// a service's backends.
	Models() []*genaiv1.Model
	// Generate runs one validated request whose Model names one of this
	// backend's models. While it works it may emit streaming chunks (text
	// deltas, finished artifacts such as one sentence of speech, progress);
	// it must not emit a done chunk. It returns the complete response,
	// artifacts included (the whole text, the whole audio file, every
	// image). It must return promptly once ctx is done, and return errors
	// that carry a deliberate code (an *rpcerr.Error).
	Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error)
}

// ReasonNoBackend is the ErrorInfo reason when a service has no models.
const ReasonNoBackend = "NO_BACKEND"

// MaxUnaryResponseBytes is the largest response Generate sends. gRPC
// clients refuse messages over 4 MiB by default and Chorus does not raise
// that limit; StreamGenerate sends large media in parts of PartBytes (see
// Reassemble and Collect).
const MaxUnaryResponseBytes = 7 << 19 // 3.5 MiB

// ReasonResponseTooLarge is the ErrorInfo reason when a unary response would
// exceed MaxUnaryResponseBytes.
const ReasonResponseTooLarge = "RESPONSE_TOO_LARGE"

// ResponseTooLarge is the error for a unary result of n bytes (or more) that
// exceeds MaxUnaryResponseBytes. Backends that can tell early, before doing
// all the work, return it themselves.
func ResponseTooLarge(n int) *rpcerr.Error {
	return rpcerr.New(codes.ResourceExhausted, ReasonResponseTooLarge,
		fmt.Sprintf("the result comes to %.1f MiB, more than the %.1f MiB a unary response carries; use StreamGenerate, which sends it in pieces, or ask for less",
			float64(n)/(1<<20), float64(MaxUnaryResponseBytes)/(1<<20))).
		WithMetadata("subject", "response_bytes")
}

type streamingKey struct{}

// WithStreaming marks ctx as a StreamGenerate call's, as StreamGenerate does
// before calling the backend (and as a backend's tests may).
func WithStreaming(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamingKey{}, true)
}

// Streaming reports whether ctx belongs to a StreamGenerate call, so that a
// backend can skip assembling a whole result that the stream will not send
// (see StreamGenerate).
func Streaming(ctx context.Context) bool {
	v, _ := ctx.Value(streamingKey{}).(bool)
	return v
}

// Route is one backend with its admission limits.
type Route struct {
	Backend Backend
	// Concurrency is how many requests the backend runs at once (default 1).
	Concurrency int
	// Queue is how many more may wait for a turn (0 means the default, 16;
	// negative means none); beyond that requests fail at once with
	// RESOURCE_EXHAUSTED.
	Queue int
	// Dynamic marks a backend whose models come and go while the service
	// runs (a models directory it rescans): the handler asks it for its
	// models on every call instead of once, and Concurrency and Queue
	// apply to each of its models on its own (a backend with a method
	// Concurrency(model string) int sets each model's, when above 0).
	// Its models keep the route's place in ListModels; they are not in
	// the queue gauges.
	Dynamic bool
}

// Handler serves Generate, StreamGenerate and ListModels for one modality.
type Handler struct {
	modality Modality
	log      *slog.Logger
	models   []*genaiv1.Model
	routes   map[string]*route
	backends []backendLimit // one per route, for the queue gauges
	dynamic  []*dynamicRoute
	metrics  *metrics
}

// backendLimit is one backend's limiter, named by its first model.
type backendLimit struct {
	name    string
	limiter *limit.Limiter
}

type route struct {
	name    string
	backend Backend
	limiter *limit.Limiter
}

// NewHandler builds a handler over routes. The first model of the first
// route is the default, served to requests that name no model. A handler
// with no routes answers every Generate with FAILED_PRECONDITION, so a
// service without a configured backend still starts and says what to
// configure. Its metrics go to the global meter provider (see
// platform/telemetry); Close stops them being observed.
func NewHandler(m Modality, log *slog.Logger, routes ...Route) (*Handler, error) {
	return newHandler(m, log, otel.GetMeterProvider(), routes...)
}

func newHandler(m Modality, log *slog.Logger, mp metric.MeterProvider, routes ...Route) (*Handler, error) {
	h := &Handler{modality: m, log: log, routes: map[string]*route{}}
	for _, r := range routes {
		if r.Concurrency == 0 {
			r.Concurrency = 1
		}
		if r.Queue == 0 {
			r.Queue = 16
		}
		if r.Dynamic {
			h.dynamic = append(h.dynamic, &dynamicRoute{backend: r.Backend, concurrency: r.Concurrency, queue: r.Queue,
				at: len(h.models), limiters: map[string]*limit.Limiter{}})
			continue
		}
		lim := limit.New(r.Concurrency, r.Queue)
		for _, model := range r.Backend.Models() {
			name := model.GetName()
			if name == "" {
				return nil, fmt.Errorf("genai: %s backend lists a model with no name", m)
			}
			if _, dup := h.routes[name]; dup {
				return nil, fmt.Errorf("genai: %s model %q is served by two backends", m, name)
			}
			model = proto.Clone(model).(*genaiv1.Model)
			model.Default = len(h.models) == 0
			h.models = append(h.models, model)
			h.routes[name] = &route{name: name, backend: r.Backend, limiter: lim}
			if len(h.backends) == 0 || h.backends[len(h.backends)-1].limiter != lim {
				h.backends = append(h.backends, backendLimit{name: name, limiter: lim})
			}
		}
	}
	var err error
	if h.metrics, err = newMetrics(mp, h); err != nil {
		return nil, fmt.Errorf("genai: %s metrics: %w", m, err)
	}
	return h, nil
}

// Close stops observing the handler's queues for metrics. The handler
// still serves.
func (h *Handler) Close() error { return h.metrics.queue.Unregister() }

// Modality returns the modality this handler serves.
func (h *Handler) Modality() Modality { return h.modality }

// ListModels lists every model, the default first.
func (h *Handler) ListModels(context.Context, *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return &genaiv1.ListModelsResponse{Models: h.allModels()}, nil
}

// Generate runs one request and returns the whole result, which must fit
// in MaxUnaryResponseBytes.
func (h *Handler) Generate(ctx context.Context, req *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	resp, err := h.run(ctx, req, func(*genaiv1.GenerateChunk) error { return nil })
	if err != nil {
		return nil, err
	}
	if n := proto.Size(resp); n > MaxUnaryResponseBytes {
		return nil, ResponseTooLarge(n)
	}
	return resp, nil
}

// StreamGenerate runs one request and streams its chunks, ending with one
// done chunk. Artifacts already streamed are not repeated in done. An
// artifact over PartBytes, emitted or in done, is sent in ArtifactPart
// chunks; when one in done is, all of done's artifacts are sent ahead of it
// and done carries none.
func (h *Handler) StreamGenerate(req *genaiv1.GenerateRequest, stream grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	streamed := false
	ctx := WithStreaming(stream.Context())
	resp, err := h.run(ctx, req, func(c *genaiv1.GenerateChunk) error {
		switch {
		case c.GetDone() != nil || c.GetArtifactPart() != nil:
			return errors.New("genai: backend emitted a done chunk or an artifact part")
		case c.GetArtifact() != nil:
			streamed = true
			return sendArtifact(stream.Send, withDigest(c.GetArtifact()))
		}
		return stream.Send(c)
	})
	if err != nil {
		return err
	}
	if streamed {
		resp = proto.Clone(resp).(*genaiv1.GenerateResponse)
		resp.Artifacts = nil
	}
	return SendResponse(stream.Send, resp)
}

// run serves one call and records its metrics.
func (h *Handler) run(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	c := call{start: time.Now()}
	var once sync.Once
	resp, err := h.generate(ctx, req, &c.model, func(chunk *genaiv1.GenerateChunk) error {
		once.Do(func() { c.first = time.Now() })
		return emit(chunk)
	})
	h.metrics.record(ctx, string(h.modality)+".generate", c, resp, err)
	return resp, err
}

// generate serves one call, setting *model once the request's model is
// resolved.
func (h *Handler) generate(ctx context.Context, req *genaiv1.GenerateRequest, model *string, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	if err := Validate(h.modality, req); err != nil {
		return nil, err
	}
	r, err := h.resolve(req.GetModel())
	if err != nil {
		return nil, err
	}
	*model = r.name
	if req.GetModel() != r.name {
		req = proto.Clone(req).(*genaiv1.GenerateRequest)
		req.Model = r.name
	}
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(
		attribute.String("gen_ai.operation.name", string(h.modality)+".generate"),
		attribute.String("gen_ai.request.model", r.name),
	)
	if mt := req.GetText().GetMaxTokens(); mt > 0 {
		span.SetAttributes(attribute.Int("gen_ai.request.max_tokens", int(mt)))
	}

	queued := time.Now()
	release, err := r.admit(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if wait := time.Since(queued); wait > 10*time.Millisecond {
		span.AddEvent("admitted", trace.WithAttributes(attribute.Int64("queue_ms", wait.Milliseconds())))
	}

	resp, err := r.backend.Generate(ctx, req, emit)
	if err != nil {
		// A backend that noticed cancellation late may report something
		// else; the caller's context is the truth.
		if ctxErr := ctx.Err(); ctxErr != nil && !rpcerr.IsDeliberate(err) {
			return nil, ctxErr
		}
		return nil, err
	}
	if resp == nil {
		return nil, rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "backend returned no response")
	}
	if resp.Model == "" {
		resp.Model = r.name
	}
	for _, a := range resp.GetArtifacts() {
		FillDigest(a)
	}
	u := resp.GetUsage()
	span.SetAttributes(
		attribute.String("gen_ai.response.model", resp.GetModel()),
		attribute.Int("gen_ai.usage.input_tokens", int(u.GetInputTokens())),
		attribute.Int("gen_ai.usage.output_tokens", int(u.GetOutputTokens())),
	)
	return resp, nil
}

func (h *Handler) resolve(model string) (*route, error) {
	models := h.allModels()
	if len(models) == 0 {
		return nil, rpcerr.New(codes.FailedPrecondition, ReasonNoBackend,
			fmt.Sprintf("the %s service has no models to serve: no backend is configured, or the configured one listed none (see the service log and its -help)", h.modality))
	}
	if model == "" {
		model = models[0].GetName()
	}
	if r, ok := h.routes[model]; ok {
		return r, nil
	}
	if r, ok := h.resolveDynamic(model); ok {
		return r, nil
	}
	names := make([]string, 0, len(models))
	for _, m := range models {
		names = append(names, m.GetName())
	}
	return nil, rpcerr.New(codes.NotFound, rpcerr.ReasonModelNotFound,
		fmt.Sprintf("the %s service has no model %q; ListModels lists %d", h.modality, rpcerr.Clip(model, 32), len(names))).
		WithMetadata("model", rpcerr.Clip(model, 32))
}

// FillDigest sets an artifact's size and sha256 from its inline content when
// they are missing.
func FillDigest(a *genaiv1.Artifact) {
	var b []byte
	switch c := a.GetContent().(type) {
	case *genaiv1.Artifact_Data:
		b = c.Data
	case *genaiv1.Artifact_Text:
		b = []byte(c.Text)
	default:
		return
	}
	if a.SizeBytes == 0 {
		a.SizeBytes = int64(len(b))
	}
	if a.Sha256 == "" {
		sum := sha256.Sum256(b)
		a.Sha256 = hex.EncodeToString(sum[:])
	}
}

// admit takes a slot of r's backend, waiting in its queue, or refuses with
// RESOURCE_EXHAUSTED (QUEUE_FULL, with a retry delay) when the queue is
// full. The release must be called once.
func (r *route) admit(ctx context.Context) (func(), error) {
	release, err := r.limiter.Acquire(ctx)
	switch {
	case errors.Is(err, limit.ErrQueueFull):
		return nil, rpcerr.New(codes.ResourceExhausted, rpcerr.ReasonQueueFull,
			fmt.Sprintf("model %q is busy: every slot and queue place is taken; retry later", r.name)).
			WithMetadata("subject", "model:"+r.name).WithRetryDelay(QueueFullRetryDelay)
	case err != nil:
		return nil, err
	}
	return release, nil
}
