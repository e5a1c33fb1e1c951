package serve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/serve"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoService is a minimal hand-registered service whose one method does
// whatever the test tells it to, so the interceptors can be observed.
type echoService struct {
	behave func(ctx context.Context) error
}

func (e *echoService) call(ctx context.Context) (*healthpb.HealthCheckResponse, error) {
	if err := e.behave(ctx); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			req := new(healthpb.HealthCheckRequest)
			if err := dec(req); err != nil {
				return nil, err
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/test.Echo/Call"}
			return in(ctx, req, info, func(ctx context.Context, _ any) (any, error) { return srv.(*echoService).call(ctx) })
		},
	}},
}

type testServer struct {
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	done   chan error
}

// newTestServer starts a server whose one method behaves as told. A panic
// in it fails the test unless onPanic is given to observe it instead.
func newTestServer(tb testing.TB, behave func(ctx context.Context) error, onPanic ...func(string, any)) *testServer {
	tb.Helper()
	hook := serve.FailOnPanic(tb)
	if len(onPanic) > 0 {
		hook = onPanic[0]
	}
	return newTestServerWith(tb, serve.Config{OnPanic: hook}, behave)
}

// newTestServerWith is newTestServer with cfg's settings (its address and
// shutdown timeout are the test's), and extra dial options for the client.
func newTestServerWith(tb testing.TB, cfg serve.Config, behave func(ctx context.Context) error, dialOpts ...grpc.DialOption) *testServer {
	tb.Helper()
	cfg.Addr, cfg.ShutdownTimeout = "127.0.0.1:0", 5*time.Second
	if cfg.OnPanic == nil {
		cfg.OnPanic = serve.FailOnPanic(tb)
	}
	srv, err := serve.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	srv.GRPC().RegisterService(&echoDesc, &echoService{behave: behave})
	srv.SetServing("test.Echo")
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Run(ctx) }()
	ts.conn, err = grpc.NewClient(srv.Addr().String(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ts.conn.Close()
		ts.stop()
	})
	return ts
}

// stop shuts the server down (once) and returns Run's result.
func (ts *testServer) stop() error {
	ts.cancel()
	err, ok := <-ts.done
	if ok {
		close(ts.done)
	}
	return err
}

func (ts *testServer) call(ctx context.Context) error {
	return ts.conn.Invoke(ctx, "/test.Echo/Call", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
}

func TestInterceptorsMapErrors(t *testing.T) {
	tests := []struct {
		name      string
		behave    func(ctx context.Context) error
		wantCode  codes.Code
		wantMsg   string
		wantPanic bool
	}{
		{name: "ok", behave: func(context.Context) error { return nil }, wantCode: codes.OK},
		{name: "panic becomes internal", behave: func(context.Context) error { panic("boom") }, wantCode: codes.Internal, wantMsg: "internal error", wantPanic: true},
		{name: "plain error is hidden", behave: func(context.Context) error { return errors.New("db password wrong") }, wantCode: codes.Internal, wantMsg: "internal error"},
		{name: "deadline", behave: func(context.Context) error { return context.DeadlineExceeded }, wantCode: codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reports := make(chan string, 4)
			srv := newTestServer(t, tt.behave, func(method string, p any) { reports <- fmt.Sprintf("%s: %v", method, p) })
			err := srv.call(context.Background())
			var panicked []string
			for len(reports) > 0 {
				panicked = append(panicked, <-reports)
			}
			if want := []string{"/test.Echo/Call: boom"}; tt.wantPanic != (len(panicked) > 0) || tt.wantPanic && !slices.Equal(panicked, want) {
				t.Errorf("OnPanic saw %q, want a report only of the panic (%v)", panicked, tt.wantPanic)
			}
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %s (%v), want %s", st.Code(), err, tt.wantCode)
			}
			if tt.wantMsg != "" && st.Message() != tt.wantMsg {
				t.Errorf("message = %q, want %q", st.Message(), tt.wantMsg)
			}
		})
	}
}

func TestReflectionOffByDefault(t *testing.T) {
	ts := newTestServer(t, func(context.Context) error { return nil })
	stream, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(context.Background())
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("reflection without -reflection: %v, want Unimplemented", err)
	}
}

func TestHealthAndReflection(t *testing.T) {
	ts := newTestServerWith(t, serve.Config{Reflection: true}, func(context.Context) error { return nil })
	health := healthpb.NewHealthClient(ts.conn)
	for _, svc := range []string{"", "test.Echo"} {
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q = %v %v, want SERVING", svc, resp, err)
		}
	}
	if _, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("health of an unknown service = %v, want NotFound", err)
	}

	stream, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		names[s.GetName()] = true
	}
	if !names["test.Echo"] || !names["grpc.health.v1.Health"] {
		t.Fatalf("reflection lists %v", names)
	}
	_ = stream.CloseSend()
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	ts := newTestServer(t, func(context.Context) error {
		close(entered)
		<-release
		return nil
	})
	result := make(chan error, 1)
	go func() { result <- ts.call(context.Background()) }()
	<-entered

	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	// The in-flight call is still being served while the server drains.
	select {
	case err := <-stopped:
		t.Fatalf("Run returned %v before the in-flight RPC finished", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-result; err != nil {
		t.Fatalf("in-flight RPC failed during graceful shutdown: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run = %v, want nil after a clean shutdown", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []serve.Config{{}, {Addr: "nonsense"}, {Addr: ":1", ShutdownTimeout: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
	if _, err := serve.New(serve.Config{Addr: "256.0.0.1:0"}, slog.Default()); err == nil {
		t.Error("New on an unusable address succeeded")
	}
}

// A connection older than MaxConnectionAge is closed once idle, and the
// client's next call comes over a new one: how clients come to resolve a
// service's name again and find new replicas.
func TestMaxConnectionAge(t *testing.T) {
	peers := make(chan string, 4)
	srv, err := serve.New(serve.Config{Addr: "127.0.0.1:0", MaxConnectionAge: 300 * time.Millisecond, OnPanic: serve.FailOnPanic(t)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.GRPC().RegisterService(&echoDesc, &echoService{behave: func(ctx context.Context) error {
		if p, ok := peer.FromContext(ctx); ok {
			peers <- p.Addr.String()
		}
		return nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	call := func() string {
		t.Helper()
		if err := conn.Invoke(context.Background(), "/test.Echo/Call", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}); err != nil {
			t.Fatalf("call: %v", err)
		}
		return <-peers
	}
	first := call()
	if again := call(); again != first {
		t.Fatalf("a second call at once came from %s, not over the first connection (%s)", again, first)
	}
	time.Sleep(time.Second)
	if later := call(); later == first {
		t.Errorf("a call after the connection's maximum age still came over it (%s)", first)
	}
}
