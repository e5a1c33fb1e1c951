// Package servetest runs Chorus gRPC servers in tests, in the manner of
// net/http/httptest: on a free 127.0.0.1 port, failing the test on a
// recovered panic, stopped when the test ends.
package servetest

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

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
// failing tb when a handler panics, and with the zero admission limits
// filled in.
func Config(tb testing.TB, cfg serve.ModalityConfig) serve.ModalityConfig {
	cfg.Addr = "127.0.0.1:0"
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

// StartRoutes serves the modality m over routes, as a service's server
// would, and returns a client connection: for tests with fake backends.
func StartRoutes(tb testing.TB, m genai.Modality, routes ...genai.Route) *grpc.ClientConn {
	tb.Helper()
	s, err := serve.NewModality(Config(tb, serve.ModalityConfig{}), m, slog.New(slog.DiscardHandler), routes, nil)
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
