package serve_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve"
	"github.com/chorus-ai/chorus/platform/telemetry"
)

func TestMetricsEndpointCountsRPCs(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	shutdown, err := telemetry.Setup(context.Background(), "serve-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })

	srv, err := serve.New(serve.Config{Addr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", OnPanic: serve.FailOnPanic(t)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	srv.GRPC().RegisterService(&echoDesc, &echoService{behave: func(context.Context) error {
		if fail.Load() {
			return rpcerr.New(codes.NotFound, rpcerr.ReasonModelNotFound, "no such thing")
		}
		return nil
	}})
	srv.SetServing("test.Echo")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	call := func() error {
		return conn.Invoke(context.Background(), "/test.Echo/Call", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	}
	for range 2 {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	fail.Store(true)
	if err := call(); status.Code(err) != codes.NotFound {
		t.Fatalf("failing call: %v", err)
	}

	// The server records a call after its client has the answer: scrape
	// until every call is in.
	tests := []struct {
		name, code, want string
	}{
		{name: "OK", code: "OK", want: " 2"},
		{name: "NOT_FOUND", code: "NOT_FOUND", want: " 1"},
	}
	counted := func(body string) bool {
		for _, tt := range tests {
			line := findLine(body, "rpc_server_call_duration_seconds_count{", `rpc_method="test.Echo/Call"`, `rpc_response_status_code="`+tt.code+`"`)
			if !strings.HasSuffix(line, tt.want) {
				return false
			}
		}
		return true
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := hc.Get("http://" + srv.MetricsAddr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %v %v", resp.Status, err)
		}
		body = string(b)
		if counted(body) || time.Now().After(deadline) {
			break
		}
	}
	for _, tt := range tests {
		line := findLine(body, "rpc_server_call_duration_seconds_count{", `rpc_method="test.Echo/Call"`, `rpc_response_status_code="`+tt.code+`"`)
		if !strings.HasSuffix(line, tt.want) {
			t.Errorf("%s: count line %q, want it to end %q; scrape:\n%s", tt.name, line, tt.want, body)
		}
	}
}

func TestMetricsAddrs(t *testing.T) {
	if err := (serve.Config{Addr: "127.0.0.1:0", MetricsAddr: "nonsense"}).Validate(); err == nil {
		t.Error("Validate accepted metrics address \"nonsense\"")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	if port <= ports.MetricsOffset {
		t.Skipf("port %d has no room below it", port)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name        string
		cfg         serve.Config
		wantErr     bool
		wantMetrics bool
	}{
		{name: "none", cfg: serve.Config{Addr: "127.0.0.1:0"}},
		{name: "auto on any port", cfg: serve.Config{Addr: "127.0.0.1:0", MetricsAddr: serve.MetricsAuto}, wantMetrics: true},
		{name: "auto with the port above busy serves none", cfg: serve.Config{Addr: "127.0.0.1:" + strconv.Itoa(port-ports.MetricsOffset), MetricsAddr: serve.MetricsAuto}},
		{name: "explicit and busy fails", cfg: serve.Config{Addr: "127.0.0.1:0", MetricsAddr: busy.Addr().String()}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := serve.New(tt.cfg, log)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := srv.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
			if got := srv.MetricsAddr() != nil; got != tt.wantMetrics {
				t.Errorf("serving metrics: %v (%v), want %v", got, srv.MetricsAddr(), tt.wantMetrics)
			}
		})
	}
}

// findLine returns the first line of body with prefix that contains every
// one of parts.
func findLine(body, prefix string, parts ...string) string {
next:
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return line
	}
	return ""
}
