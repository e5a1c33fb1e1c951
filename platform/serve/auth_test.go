package serve_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/apikey"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve"
)

const (
	keyA = "test-key-aaaaaaaaaaaaaaaa"
	keyB = "test-key-bbbbbbbbbbbbbbbb"
)

func TestAPIKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# one key a line\n"+keyA+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// One key from the file, one as CHORUS_API_KEYS would give it.
	ts := newTestServerWith(t, serve.Config{Auth: apikey.Config{KeysFile: file, Keys: " ," + keyB}}, func(context.Context) error { return nil })
	tests := []struct {
		name string
		auth string // the authorization metadata; "" sends none
		want codes.Code
	}{
		{name: "no key", want: codes.Unauthenticated},
		{name: "key from the file", auth: "Bearer " + keyA, want: codes.OK},
		{name: "key from the variable", auth: "bearer " + keyB, want: codes.OK},
		{name: "wrong key", auth: "Bearer " + keyA + "x", want: codes.Unauthenticated},
		{name: "prefix of a key", auth: "Bearer " + keyA[:10], want: codes.Unauthenticated},
		{name: "not bearer", auth: "Basic " + keyA, want: codes.Unauthenticated},
		{name: "bare key", auth: keyA, want: codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.auth != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tt.auth)
			}
			err := ts.call(ctx)
			if status.Code(err) != tt.want {
				t.Fatalf("call: %v, want %s", err, tt.want)
			}
			if err != nil && strings.Contains(status.Convert(err).Message(), keyA[:10]) {
				t.Errorf("the error echoes the key: %v", err)
			}
		})
	}
	t.Run("health stays open", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(ts.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health without a key = %v %v, want SERVING", resp, err)
		}
	})
}

func TestClientKeySendsTheKey(t *testing.T) {
	ts := newTestServerWith(t, serve.Config{Auth: apikey.Config{Keys: keyA}}, func(context.Context) error { return nil },
		apikey.ClientKey(keyA).DialOptions()...)
	if err := ts.call(context.Background()); err != nil {
		t.Fatalf("call with the client key: %v", err)
	}
	if s := apikey.ClientKey(keyA).String(); strings.Contains(s, keyA) {
		t.Errorf("ClientKey prints as %q", s)
	}
}

func TestBindNeedsKeysOffLoopback(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name    string
		cfg     serve.Config
		refused bool
	}{
		{name: "all interfaces without keys", cfg: serve.Config{Addr: "0.0.0.0:0"}, refused: true},
		{name: "empty host without keys", cfg: serve.Config{Addr: ":0"}, refused: true},
		{name: "loopback without keys", cfg: serve.Config{Addr: "127.0.0.1:0"}},
		{name: "localhost without keys", cfg: serve.Config{Addr: "localhost:0"}},
		{name: "all interfaces, allowed", cfg: serve.Config{Addr: "0.0.0.0:0", Auth: apikey.Config{AllowInsecureBind: true}}},
		{name: "all interfaces with keys", cfg: serve.Config{Addr: "0.0.0.0:0", Auth: apikey.Config{Keys: keyA}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := serve.New(tt.cfg, log)
			if err == nil {
				srv.GRPC().Stop()
				_ = closeListener(srv)
			}
			if refused := err != nil; refused != tt.refused {
				t.Fatalf("New(%s): %v, want refused %v", tt.cfg.Addr, err, tt.refused)
			}
			if err != nil && !strings.Contains(err.Error(), "allow-insecure-bind") {
				t.Errorf("the refusal does not say how to allow it: %v", err)
			}
		})
	}
}

// closeListener stops a server that never ran, freeing its port.
func closeListener(srv *serve.Server) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return srv.Run(ctx)
}

func TestRateLimitPerKey(t *testing.T) {
	ts := newTestServerWith(t, serve.Config{Auth: apikey.Config{Keys: keyA, RateLimit: 1}}, func(context.Context) error { return nil })
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+keyA)
	if err := ts.call(ctx); err != nil {
		t.Fatalf("first call: %v", err)
	}
	err := ts.call(ctx)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "retry in") {
		t.Fatalf("second call at once: %v, want RESOURCE_EXHAUSTED saying when to retry", err)
	}
	if reason, _ := rpcerr.Details(status.Convert(err)); reason != apikey.ReasonRateLimited {
		t.Errorf("reason %q", reason)
	}
}
