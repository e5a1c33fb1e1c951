package gateway

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

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
	_ genaiv1.EmbeddingServiceClient           = (*embedClient)(nil)
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

// embedClient is the embedding service's client.
type embedClient struct {
	client  genaiv1.EmbeddingServiceClient
	timeout time.Duration
}

const embedName = "embedding"

func (c *embedClient) Embed(ctx context.Context, in *genaiv1.EmbedRequest, opts ...grpc.CallOption) (*genaiv1.EmbedResponse, error) {
	return unary(ctx, embedName, c.timeout, c.client.Embed, in, opts)
}

func (c *embedClient) ListModels(ctx context.Context, in *genaiv1.ListModelsRequest, opts ...grpc.CallOption) (*genaiv1.ListModelsResponse, error) {
	return unary(ctx, embedName, c.timeout, c.client.ListModels, in, opts)
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
	return openStream(ctx, service, s)
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
//
// When the request's deadlineWriter is known (the gateway's middleware
// leaves it in the requestInfo), a goroutine reads the upstream ahead
// (within readAheadMessages and readAheadBytes) and the writer's flushes
// are deferred: Recv flushes what the
// handler wrote only when no message is waiting, just before it would wait
// for one. A stream of many small messages (text deltas) then costs one
// write to the client per burst rather than one per message, and the
// client still gets every message as soon as the gateway has nothing more
// to add to it. pprof of the gateway streaming 200 chunks put a quarter of
// its CPU in those per-message writes (bench/README.md).
type stream[T any] struct {
	grpc.ServerStreamingClient[T]
	service  string
	first    *T
	firstErr error // nil or io.EOF
	replayed bool
	// With read-ahead: the upstream's messages, and the writer whose
	// flushes wait for Recv.
	ahead *readAhead[T]
	out   *deadlineWriter
	ctx   context.Context // the call's
	final error           // what ended the read-ahead, once it has
}

// received is a message, or the error that ended the stream.
type received[T any] struct {
	msg  *T
	err  error
	size int // bytes, of msg encoded
}

// readAheadOn says whether streams read ahead and defer flushes. Only
// BenchmarkStreamBefore turns it off, to measure what it saves.
var readAheadOn = true

// Bounds of a stream's read-ahead: at most readAheadMessages messages, and
// no further message once those held come to readAheadBytes (a single
// larger message is still read). Deltas are tens of bytes: a burst of them
// fits; artifacts (WAVs, images) are read one at a time.
const (
	readAheadMessages = 16
	readAheadBytes    = 256 << 10
)

// readAhead is a stream's messages read ahead by a goroutine.
type readAhead[T any] struct {
	msgs  chan received[T]
	held  atomic.Int64  // bytes of the messages in msgs
	taken chan struct{} // signalled (without waiting) when one is taken
}

// readAheadOf reads s ahead, within the bounds above, until it ends or ctx
// does; msgs is closed after the stream's last message (its error) or once
// ctx ends.
func readAheadOf[T any](ctx context.Context, s grpc.ServerStreamingClient[T]) *readAhead[T] {
	ra := &readAhead[T]{msgs: make(chan received[T], readAheadMessages), taken: make(chan struct{}, 1)}
	go func() {
		defer close(ra.msgs)
		for {
			m, err := s.Recv()
			size := 0
			if pm, ok := any(m).(proto.Message); ok && err == nil {
				size = proto.Size(pm)
			}
			for n := ra.held.Load(); n > 0 && n+int64(size) > readAheadBytes; n = ra.held.Load() {
				select {
				case <-ra.taken:
				case <-ctx.Done():
					return
				}
			}
			ra.held.Add(int64(size))
			select {
			case ra.msgs <- received[T]{m, err, size}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ra
}

// take is the next message, ok false once msgs is closed; wait says
// whether to wait for one.
func (ra *readAhead[T]) take(wait bool) (r received[T], ok, got bool) {
	if wait {
		r, ok = <-ra.msgs
	} else {
		select {
		case r, ok = <-ra.msgs:
		default:
			return r, false, false
		}
	}
	if ok {
		ra.held.Add(-int64(r.size))
		select {
		case ra.taken <- struct{}{}:
		default:
		}
	}
	return r, ok, true
}

// openStream reads s's first message. An error there is returned as the
// call's error, so the handler reports it with its HTTP status.
func openStream[T any](ctx context.Context, service string, s grpc.ServerStreamingClient[T]) (grpc.ServerStreamingClient[T], error) {
	first, err := s.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, upstreamErr(service, err)
	}
	st := &stream[T]{ServerStreamingClient: s, service: service, first: first, firstErr: err}
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok && info.writer != nil && err == nil && readAheadOn {
		st.ahead, st.out, st.ctx = readAheadOf(ctx, s), info.writer, ctx
		st.out.lazy = true
	}
	return st, nil
}

func (s *stream[T]) Recv() (*T, error) {
	if !s.replayed {
		s.replayed = true
		return s.first, s.firstErr
	}
	var (
		m   *T
		err error
	)
	if s.ahead == nil {
		m, err = s.ServerStreamingClient.Recv()
	} else {
		m, err = s.next()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, upstreamErr(s.service, err)
	}
	return m, err
}

// next is the read-ahead's next message; with none at hand, it first
// flushes what was written.
func (s *stream[T]) next() (*T, error) {
	if s.final != nil {
		return nil, s.final
	}
	r, ok, got := s.ahead.take(false)
	if !got {
		if err := s.out.flushPending(); err != nil {
			// The client stopped reading (or left): end the stream, as a
			// failed flush of the handler's own would have.
			return nil, status.Error(codes.Canceled, "the client is not reading the response")
		}
		r, ok, _ = s.ahead.take(true)
	}
	if !ok {
		// The request ended while the upstream was read.
		r.err = status.Error(codes.Canceled, "the request ended")
		if err := s.ctx.Err(); err != nil {
			r.err = status.FromContextError(err).Err()
		}
	}
	if r.err != nil {
		// The end: flushes are the handler's again.
		s.final = r.err
		s.out.lazy = false
		if err := s.out.flushPending(); err != nil {
			return nil, status.Error(codes.Canceled, "the client is not reading the response")
		}
	}
	return r.msg, r.err
}
