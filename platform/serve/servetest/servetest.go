// Package servetest runs Chorus gRPC servers in tests, in the manner of
// net/http/httptest: on a free 127.0.0.1 port, failing the test on a
// recovered panic, stopped when the test ends.
package servetest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve"
)

// Concurrency and Queue fill a test configuration's zero admission limits.
const (
	Concurrency = 4
	Queue       = 16
)

// Config returns cfg made for tb: listening on a free 127.0.0.1 port,
// serving no metrics (tests run side by side, and the default metrics
// port is fixed), failing tb when a handler panics, and with the zero
// admission limits filled in.
func Config(tb testing.TB, cfg serve.ModalityConfig) serve.ModalityConfig {
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = ""
	cfg.OnPanic = serve.FailOnPanic(tb)
	if cfg.Concurrency == 0 {
		cfg.Concurrency = Concurrency
	}
	if cfg.Queue == 0 {
		cfg.Queue = Queue
	}
	return cfg
}

// Runner is a server as Start runs it.
type Runner interface {
	Run(ctx context.Context) error
	Addr() net.Addr
}

// Start runs s until the test ends, then checks that it stopped cleanly;
// it returns a client connection to s.
func Start(tb testing.TB, s Runner) *grpc.ClientConn {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	conn, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		<-done
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

// StartNew builds a server from cfg with newServer, a server package's
// New, and starts it (see Start).
func StartNew[C any, S Runner](tb testing.TB, newServer func(context.Context, C, *slog.Logger) (S, error), cfg C) *grpc.ClientConn {
	tb.Helper()
	s, err := newServer(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	return Start(tb, s)
}

// StartRoutes serves the modality m over routes, as a service's server
// would, and returns a client connection: for tests with fake backends.
func StartRoutes(tb testing.TB, m genai.Modality, routes ...genai.Route) *grpc.ClientConn {
	tb.Helper()
	s, err := serve.NewModality(Config(tb, serve.ModalityConfig{}), m, slog.New(slog.DiscardHandler),
		func() ([]genai.Route, []io.Closer, error) { return routes, nil, nil })
	if err != nil {
		tb.Fatal(err)
	}
	return Start(tb, s)
}

// CheckStatus fails tb unless err is a status with code want, ErrorInfo
// reason and, in order, field violations on the named fields.
func CheckStatus(tb testing.TB, err error, want codes.Code, reason string, fields ...string) {
	tb.Helper()
	st := status.Convert(err)
	if st.Code() != want {
		tb.Fatalf("code %v (%v), want %v", st.Code(), err, want)
	}
	gotReason, violations := rpcerr.Details(st)
	if gotReason != reason {
		tb.Errorf("reason %q, want %q", gotReason, reason)
	}
	var got []string
	for _, v := range violations {
		got = append(got, v.Field)
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		tb.Errorf("violations %v, want %v", got, fields)
	}
}

// Generator is the Generate method every modality service's client has.
type Generator interface {
	Generate(ctx context.Context, in *genaiv1.GenerateRequest, opts ...grpc.CallOption) (*genaiv1.GenerateResponse, error)
}

// ErrorCase is a request a modality service must refuse, and how.
type ErrorCase struct {
	Name       string
	Req        *genaiv1.GenerateRequest
	Code       codes.Code
	Reason     string
	Violations []string // the fields BadRequest names, in order
}

// CheckErrors sends each case's request to withBackend, a service with a
// backend serving its default model, and checks the refusal (see
// CheckStatus). It adds the cases every modality shares: an unknown model,
// and, when noBackend (the service with no backend) is not nil, a request
// it cannot serve.
func CheckErrors(t *testing.T, withBackend, noBackend Generator, cases ...ErrorCase) {
	t.Helper()
	run := func(c Generator, tc ErrorCase) {
		t.Run(tc.Name, func(t *testing.T) {
			_, err := c.Generate(context.Background(), tc.Req)
			CheckStatus(t, err, tc.Code, tc.Reason, tc.Violations...)
		})
	}
	run(withBackend, ErrorCase{Name: "unknown model", Req: &genaiv1.GenerateRequest{Model: "nope", Prompt: "x"}, Code: codes.NotFound, Reason: rpcerr.ReasonModelNotFound})
	if noBackend != nil {
		run(noBackend, ErrorCase{Name: "no backend", Req: &genaiv1.GenerateRequest{Prompt: "x"}, Code: codes.FailedPrecondition, Reason: genai.ReasonNoBackend})
	}
	for _, tc := range cases {
		run(withBackend, tc)
	}
}
