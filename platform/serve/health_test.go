package serve_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/serve"
)

// fakeBackend is a test backend whose models and health the test sets.
type fakeBackend struct {
	models atomic.Bool // lists a model
	broken atomic.Bool // Healthy fails
}

func (b *fakeBackend) Models() []*genaiv1.Model {
	if !b.models.Load() {
		return nil
	}
	return []*genaiv1.Model{{Name: "fake", Backend: "fake"}}
}

func (b *fakeBackend) Generate(context.Context, *genaiv1.GenerateRequest, func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	return nil, errors.New("fake backend: not for generating")
}

func (b *fakeBackend) Healthy(context.Context) error {
	if b.broken.Load() {
		return errors.New("fake backend: broken")
	}
	return nil
}

var _ serve.HealthChecker = (*fakeBackend)(nil)

// A modality service's grpc.health.v1 status for its own service follows
// its backends: NOT_SERVING with no backend at all (all failed to load),
// with a backend that lists no model, or whose only backend reports itself
// broken; SERVING again once one can serve. The server as a whole ("")
// stays SERVING: the process is up.
func TestModalityHealthFollowsTheBackends(t *testing.T) {
	const service = "chorus.genai.v1.AudioService"
	b := &fakeBackend{}
	b.models.Store(true)
	s, err := serve.NewModality(serve.ModalityConfig{Config: serve.Config{Addr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second},
		Concurrency: 1, Queue: 1, HealthInterval: 20 * time.Millisecond}, genai.Audio, slog.New(slog.DiscardHandler),
		func() ([]genai.Route, []io.Closer, error) { return []genai.Route{{Backend: b}}, nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	conn, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	health := healthpb.NewHealthClient(conn)
	waitStatus := func(step string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
			if err == nil && resp.GetStatus() == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: health = %v %v, want %s", step, resp, err, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s: the server's overall health = %v %v, want SERVING", step, resp, err)
		}
	}
	waitStatus("a healthy backend", healthpb.HealthCheckResponse_SERVING)
	b.broken.Store(true)
	waitStatus("its only backend broken", healthpb.HealthCheckResponse_NOT_SERVING)
	b.broken.Store(false)
	waitStatus("mended", healthpb.HealthCheckResponse_SERVING)
	b.models.Store(false)
	waitStatus("no model listed", healthpb.HealthCheckResponse_NOT_SERVING)
	b.models.Store(true)
	waitStatus("a model again", healthpb.HealthCheckResponse_SERVING)
}

// A service whose backends all failed to load (no routes) starts, answers
// Generate FAILED_PRECONDITION, and reports NOT_SERVING from the start.
func TestModalityWithoutBackendsIsNotServing(t *testing.T) {
	s, err := serve.NewModality(serve.ModalityConfig{Config: serve.Config{Addr: "127.0.0.1:0"}, Concurrency: 1, Queue: 1},
		genai.Image, slog.New(slog.DiscardHandler), func() ([]genai.Route, []io.Closer, error) { return nil, nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	conn, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "chorus.genai.v1.ImageService"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health = %v %v, want NOT_SERVING", resp, err)
	}
}
