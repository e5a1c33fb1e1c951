package serve

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// DefaultMaxCallDuration bounds every call whose client set no deadline, or
// a later one: long enough for the longest stream a client may reasonably
// hold (a pipeline run), short enough that a forgotten call ends.
const DefaultMaxCallDuration = 10 * time.Minute

// capDeadline returns ctx bounded by max from now (the client's own
// deadline when it is sooner), for every method but health's watch, which
// lives as long as its balancer does.
func capDeadline(ctx context.Context, method string, max time.Duration) (context.Context, context.CancelFunc) {
	if max <= 0 || method == healthpb.Health_Watch_FullMethodName {
		return ctx, func() {}
	}
	d, ok := ctx.Deadline()
	if ok && time.Until(d) <= max {
		return ctx, func() {}
	}
	if !ok {
		ctx = context.WithValue(ctx, noClientDeadline{}, true)
	}
	return context.WithTimeout(ctx, max)
}

type noClientDeadline struct{}

// ClientSetDeadline reports whether the client of the call ctx belongs to
// sent a deadline of its own. A call without one still has a deadline (the
// server's -max-call-duration), so a handler that applies its own default to
// such calls (the orchestrator's run timeout) asks this, not ctx.Deadline.
func ClientSetDeadline(ctx context.Context) bool {
	if ctx.Value(noClientDeadline{}) != nil {
		return false
	}
	_, ok := ctx.Deadline()
	return ok
}

// requestCodec is gRPC's proto codec, except that a request it cannot
// unmarshal (invalid UTF-8 in a string, a truncated field) is answered
// INVALID_ARGUMENT rather than gRPC's INTERNAL: the fault is the client's.
//
// gRPC turns any error Unmarshal returns into INTERNAL, so Unmarshal does not
// return it: it resets the message, records the error against it, and the
// interceptors, which see every request message before its handler does
// (unary ones as their argument, streamed ones through RecvMsg), fail the
// call with it.
type requestCodec struct {
	encoding.CodecV2
	failed sync.Map // request message (pointer) -> unmarshal error
}

func newRequestCodec() *requestCodec {
	return &requestCodec{CodecV2: encoding.GetCodecV2(protocodec.Name)}
}

func (c *requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err
	}
	proto.Reset(m)
	c.failed.Store(v, err)
	return nil
}

// take returns the unmarshal failure recorded for the request message v,
// as the status to answer with, and forgets it; nil if v was read whole.
func (c *requestCodec) take(v any) error {
	err, ok := c.failed.LoadAndDelete(v)
	if !ok {
		return nil
	}
	return rpcerr.New(codes.InvalidArgument, rpcerr.ReasonInvalidArgument,
		"the request is not a valid protobuf message (a string that is not UTF-8, or a malformed field)").WithCause(err.(error))
}

// limitedStream is a server stream with a capped context whose received
// messages are checked for unmarshal failures.
type limitedStream struct {
	grpc.ServerStream
	ctx   context.Context
	codec *requestCodec
}

func (s *limitedStream) Context() context.Context { return s.ctx }

func (s *limitedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.codec.take(m)
}
