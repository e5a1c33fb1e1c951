package serve_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve"
)

// deadlineStreamDesc is a server-streaming method that reports the
// deadline its handler sees, then waits for its context to end.
var deadlineStreamDesc = grpc.ServiceDesc{
	ServiceName: "test.Deadline",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Watch",
		ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			req := new(healthpb.HealthCheckRequest)
			if err := ss.RecvMsg(req); err != nil {
				return err
			}
			left := time.Duration(-1)
			if d, ok := ss.Context().Deadline(); ok {
				left = time.Until(d)
			}
			if err := ss.SendMsg(&healthpb.HealthCheckRequest{Service: left.String()}); err != nil {
				return err
			}
			select {
			case <-ss.Context().Done():
				return ss.Context().Err()
			case <-time.After(10 * time.Second): // the test fails, but ends
				return nil
			}
		},
	}},
}

// TestMaxCallDuration: a call without a deadline gets -max-call-duration,
// a longer client deadline is cut to it, a shorter one is kept, and the
// handler's context ends when it is reached (DEADLINE_EXCEEDED), unary and
// streamed alike.
func TestMaxCallDuration(t *testing.T) {
	const max = 300 * time.Millisecond
	seen := make(chan time.Duration, 1)
	clientSet := make(chan bool, 1)
	ts := newTestServerWith(t, serve.Config{MaxCallDuration: max}, func(ctx context.Context) error {
		clientSet <- serve.ClientSetDeadline(ctx)
		d, ok := ctx.Deadline()
		if !ok {
			seen <- -1
			return nil // the test fails, but ends
		}
		seen <- time.Until(d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second): // the test fails, but ends
			return nil
		}
	})
	for _, tt := range []struct {
		name           string
		client         time.Duration // 0: no deadline
		wantAtMost     time.Duration
		wantAtLeast    time.Duration
		wantServerEnds bool
	}{
		{name: "no client deadline", wantAtMost: max, wantAtLeast: max / 2},
		{name: "a longer client deadline is cut", client: time.Hour, wantAtMost: max, wantAtLeast: max / 2},
		{name: "a shorter client deadline stays", client: 100 * time.Millisecond, wantAtMost: 100 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.client > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.client)
				defer cancel()
			}
			err := ts.call(ctx)
			left := <-seen
			// The handler can still tell whether the deadline is the
			// client's (the orchestrator's run timeout depends on it).
			if got := <-clientSet; got != (tt.client > 0) {
				t.Errorf("ClientSetDeadline = %v, want %v", got, tt.client > 0)
			}
			if left < 0 || left > tt.wantAtMost || left < tt.wantAtLeast {
				t.Errorf("the handler's deadline was %s away, want within [%s, %s]", left, tt.wantAtLeast, tt.wantAtMost)
			}
			if status.Code(err) != codes.DeadlineExceeded {
				t.Errorf("call = %v, want DEADLINE_EXCEEDED", err)
			}
		})
	}

	t.Run("stream", func(t *testing.T) {
		conn := newRawServer(t, serve.Config{MaxCallDuration: max}, &deadlineStreamDesc)
		stream, err := conn.NewStream(context.Background(), &deadlineStreamDesc.Streams[0], "/test.Deadline/Watch")
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.SendMsg(&healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		_ = stream.CloseSend()
		var resp healthpb.HealthCheckRequest
		if err := stream.RecvMsg(&resp); err != nil {
			t.Fatal(err)
		}
		if left, err := time.ParseDuration(resp.GetService()); err != nil || left <= 0 || left > max {
			t.Errorf("the stream's deadline was %q away, want within (0, %s]", resp.GetService(), max)
		}
		start := time.Now()
		if err := stream.RecvMsg(&resp); status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("the stream ended with %v, want DEADLINE_EXCEEDED", err)
		}
		if waited := time.Since(start); waited > 10*max {
			t.Errorf("the stream ended %s after its first message, want within about %s", waited, max)
		}
	})

	t.Run("health watch is not cut", func(t *testing.T) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*max)
		defer cancel()
		w, err := healthpb.NewHealthClient(ts.conn).Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Recv(); err != nil {
			t.Fatal(err)
		}
		// Nothing changes, so the next Recv ends only with the client's
		// deadline, three times the server's maximum.
		if _, err := w.Recv(); status.Code(err) != codes.DeadlineExceeded || time.Since(start) < 2*max {
			t.Errorf("watch ended with %v after %s, want DEADLINE_EXCEEDED at the client's deadline (%s)", err, time.Since(start), 3*max)
		}
	})
}

// newRawServer serves the hand-written services descs with cfg on a free
// port and returns a client connection to it.
func newRawServer(tb testing.TB, cfg serve.Config, descs ...*grpc.ServiceDesc) *grpc.ClientConn {
	tb.Helper()
	cfg.Addr, cfg.ShutdownTimeout, cfg.OnPanic = "127.0.0.1:0", 5*time.Second, serve.FailOnPanic(tb)
	srv, err := serve.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range descs {
		srv.GRPC().RegisterService(d, struct{}{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return conn
}

// rawCodec sends and receives messages as the bytes given, so a test can
// put on the wire what no protobuf library would write.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestUnreadableRequestIsInvalidArgument: a request that does not
// unmarshal (here invalid UTF-8 in a proto3 string, which Go's protobuf
// refuses) is the client's fault: INVALID_ARGUMENT with the ErrorInfo
// reason, not gRPC's own INTERNAL, for unary and streamed requests; the
// server answers the next well-formed call.
func TestUnreadableRequestIsInvalidArgument(t *testing.T) {
	called := 0
	ts := newTestServer(t, func(context.Context) error { called++; return nil })
	// Field 1 (HealthCheckRequest.service), wire type 2, two bytes that are
	// not UTF-8.
	bad := []byte{0x0a, 0x02, 0xff, 0xfe}
	truncated := []byte{0x0a, 0x09, 'a'}
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		method string
		req    []byte
	}{
		{name: "unary, invalid UTF-8", method: "/test.Echo/Call", req: bad},
		{name: "unary, truncated", method: "/test.Echo/Call", req: truncated},
		{name: "health check", method: healthpb.Health_Check_FullMethodName, req: bad},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var resp []byte
			err := ts.conn.Invoke(ctx, tt.method, &tt.req, &resp, grpc.ForceCodec(rawCodec{}))
			checkInvalid(t, err)
		})
	}
	if called != 0 {
		t.Errorf("the handler ran %d times on requests that did not unmarshal", called)
	}

	t.Run("stream", func(t *testing.T) {
		desc := &grpc.StreamDesc{ServerStreams: true}
		stream, err := ts.conn.NewStream(ctx, desc, healthpb.Health_Watch_FullMethodName, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.SendMsg(&bad); err != nil {
			t.Fatal(err)
		}
		_ = stream.CloseSend()
		var resp []byte
		checkInvalid(t, stream.RecvMsg(&resp))
	})

	if err := ts.call(ctx); err != nil || called != 1 {
		t.Fatalf("a good call afterwards = %v (handler ran %d times)", err, called)
	}
}

func checkInvalid(t *testing.T, err error) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %s (%v), want INVALID_ARGUMENT", st.Code(), err)
	}
	if reason, _ := rpcerr.Details(st); reason != rpcerr.ReasonInvalidArgument {
		t.Errorf("ErrorInfo reason = %q, want INVALID_ARGUMENT", reason)
	}
}
