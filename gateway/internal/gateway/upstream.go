package gateway

import (
	"context"
	"errors"
	"io"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// The clients handed to the generated Register*HandlerClient functions wrap
// the generated gRPC clients with the gateway's policy:
//   - errors from an upstream are mapped with rpcerr.Upstream: the caller's
//     own mistakes (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, ...) keep
//     their code and details, while faults between the servers become
//     UNAVAILABLE or INTERNAL with a message that leaks no address;
//   - unary calls without a client deadline get the configured one;
//   - a stream's first message is read before the handler writes anything,
//     so a stream that fails at once (an invalid request, an unknown model)
//     gets a real HTTP status and a plain error body, not a 200 with an
//     error line.

var (
	_ genaiv1.TextServiceClient                = (*genaiClient)(nil)
	_ genaiv1.ImageServiceClient               = (*genaiClient)(nil)
	_ genaiv1.AudioServiceClient               = (*genaiClient)(nil)
	_ orchestratorv1.OrchestratorServiceClient = (*orchestratorClient)(nil)
)

// genaiClient is one modality service's client.
type genaiClient struct {
	service string
	client  genai.Client
	timeout time.Duration
}

func (c *genaiClient) Generate(ctx context.Context, in *genaiv1.GenerateRequest, opts ...grpc.CallOption) (*genaiv1.GenerateResponse, error) {
	return unary(ctx, c.service, c.timeout, c.client.Generate, in, opts)
}

// StreamGenerate streams with every artifact whole: the parts a service
// sends a large one in are joined (genai.Reassemble), so REST clients read
// one artifact chunk per artifact, as they would from a small one.
func (c *genaiClient) StreamGenerate(ctx context.Context, in *genaiv1.GenerateRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[genaiv1.GenerateChunk], error) {
	return streaming(ctx, c.service, func(ctx context.Context, in *genaiv1.GenerateRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[genaiv1.GenerateChunk], error) {
		s, err := c.client.StreamGenerate(ctx, in, opts...)
		if err != nil {
			return nil, err
		}
		return genai.Reassemble(s, 0), nil
	}, in, opts)
}

func (c *genaiClient) ListModels(ctx context.Context, in *genaiv1.ListModelsRequest, opts ...grpc.CallOption) (*genaiv1.ListModelsResponse, error) {
	return unary(ctx, c.service, c.timeout, c.client.ListModels, in, opts)
}

// orchestratorClient is the orchestrator's client.
type orchestratorClient struct {
	client  orchestratorv1.OrchestratorServiceClient
	timeout time.Duration
}

const orchestratorName = "orchestrator"

func (c *orchestratorClient) ListPipelines(ctx context.Context, in *orchestratorv1.ListPipelinesRequest, opts ...grpc.CallOption) (*orchestratorv1.ListPipelinesResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.ListPipelines, in, opts)
}

func (c *orchestratorClient) GetPipeline(ctx context.Context, in *orchestratorv1.GetPipelineRequest, opts ...grpc.CallOption) (*orchestratorv1.GetPipelineResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.GetPipeline, in, opts)
}

func (c *orchestratorClient) RunPipeline(ctx context.Context, in *orchestratorv1.RunPipelineRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[orchestratorv1.RunPipelineResponse], error) {
	return streaming(ctx, orchestratorName, c.client.RunPipeline, in, opts)
}

// unary calls an upstream's unary method with the gateway's policy: the
// default deadline unless the client set one, errors mapped.
func unary[Req, Resp any](ctx context.Context, service string, timeout time.Duration,
	call func(context.Context, Req, ...grpc.CallOption) (Resp, error), in Req, opts []grpc.CallOption) (Resp, error) {
	ctx, cancel := withDefaultDeadline(ctx, timeout)
	defer cancel()
	resp, err := call(ctx, in, opts...)
	return resp, upstreamErr(service, err)
}

// streaming opens an upstream's server stream with the gateway's policy:
// errors mapped, the first message read before the handler writes.
func streaming[Req, T any](ctx context.Context, service string,
	call func(context.Context, Req, ...grpc.CallOption) (grpc.ServerStreamingClient[T], error), in Req, opts []grpc.CallOption) (grpc.ServerStreamingClient[T], error) {
	s, err := call(ctx, in, opts...)
	if err != nil {
		return nil, upstreamErr(service, err)
	}
	return openStream(service, s)
}

// withDefaultDeadline gives ctx the default timeout unless the client set
// one (grpc-gateway turns a Grpc-Timeout header into a deadline).
func withDefaultDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// upstreamErr maps an error from the named upstream; nil stays nil (an
// untyped nil, so callers can return it as an error). Where the code passes
// through, so does the upstream's message, without rpcerr.Upstream's
// "service: " prefix: a REST client called that very service, and the
// ErrorInfo metadata still names it. A transport's UNAVAILABLE keeps
// rpcerr's own message, which, unlike the transport's, names no address; a
// Chorus server's UNAVAILABLE (the orchestrator saying which step's service
// is down) keeps its own.
func upstreamErr(service string, err error) error {
	if err == nil {
		return nil
	}
	mapped := *rpcerr.Upstream(service, err)
	if st, ok := status.FromError(err); ok && st.Code() == mapped.Code && (st.Code() != codes.Unavailable || rpcerr.FromChorus(st)) && st.Message() != "" {
		mapped.Message = st.Message()
	}
	return &mapped
}

// stream replays a stream's first message, read by openStream, then reads
// on, mapping errors.
type stream[T any] struct {
	grpc.ServerStreamingClient[T]
	service  string
	first    *T
	firstErr error // nil or io.EOF
	replayed bool
}

// openStream reads s's first message. An error there is returned as the
// call's error, so the handler reports it with its HTTP status.
func openStream[T any](service string, s grpc.ServerStreamingClient[T]) (grpc.ServerStreamingClient[T], error) {
	first, err := s.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, upstreamErr(service, err)
	}
	return &stream[T]{ServerStreamingClient: s, service: service, first: first, firstErr: err}, nil
}

func (s *stream[T]) Recv() (*T, error) {
	if !s.replayed {
		s.replayed = true
		return s.first, s.firstErr
	}
	m, err := s.ServerStreamingClient.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, upstreamErr(s.service, err)
	}
	return m, err
}
