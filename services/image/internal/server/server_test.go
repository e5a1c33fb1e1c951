package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/openaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/services/image/internal/backend/openai"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestServer runs the image service over routes on a 127.0.0.1 port and
// returns a client.
func newTestServer(tb testing.TB, routes ...genai.Route) genaiv1.ImageServiceClient {
	tb.Helper()
	s, err := newServer("127.0.0.1:0", slog.New(slog.DiscardHandler), routes...)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	conn, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return genaiv1.NewImageServiceClient(conn)
}

// fakeRoute starts a fake OpenAI server and returns a route to the openai
// backend pointed at it.
func fakeRoute(tb testing.TB, opts openaitest.Options, concurrency, queue int) (genai.Route, *openaitest.Server) {
	tb.Helper()
	fake := openaitest.New(opts)
	tb.Cleanup(fake.Close)
	b, err := openai.New(openai.Config{BaseURL: fake.BaseURL, Models: []string{openaitest.DefaultModel}})
	if err != nil {
		tb.Fatal(err)
	}
	return genai.Route{Backend: b, Concurrency: concurrency, Queue: queue}, fake
}

func request(count, side int32) *genaiv1.GenerateRequest {
	return &genaiv1.GenerateRequest{Prompt: "a lighthouse", Options: &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{
		Count: count, Width: side, Height: side,
	}}}
}

func TestGenerateAndStream(t *testing.T) {
	route, _ := fakeRoute(t, openaitest.Options{}, 2, 4)
	client := newTestServer(t, route)
	ctx := context.Background()

	models, err := client.ListModels(ctx, &genaiv1.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m := models.GetModels(); len(m) != 1 || m[0].GetName() != openaitest.DefaultModel || !m[0].GetDefault() {
		t.Errorf("models %v", m)
	}

	resp, err := client.Generate(ctx, request(2, 64))
	if err != nil {
		t.Fatal(err)
	}
	if a := resp.GetArtifacts(); len(a) != 2 || a[1].GetMetadata().GetWidth() != 64 || a[1].GetSha256() == "" || a[1].GetSizeBytes() == 0 {
		t.Errorf("artifacts %v", a)
	}
	if resp.GetUsage().GetImages() != 2 {
		t.Errorf("usage %v", resp.GetUsage())
	}

	stream, err := client.StreamGenerate(ctx, request(3, 64))
	if err != nil {
		t.Fatal(err)
	}
	var images []*genaiv1.Artifact
	var done *genaiv1.GenerateResponse
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if a := c.GetArtifact(); a != nil {
			images = append(images, a)
		}
		if c.GetDone() != nil {
			done = c.GetDone()
		}
	}
	if len(images) != 3 || images[2].GetMetadata().GetIndex() != 2 || images[0].GetMimeType() != "image/png" {
		t.Errorf("streamed %d images", len(images))
	}
	if done == nil || len(done.GetArtifacts()) != 0 || done.GetUsage().GetImages() != 3 {
		t.Errorf("done %v", done)
	}
}

// bigBackend returns count images of size bytes each, emitting each.
type bigBackend struct{ count, size int }

func (bigBackend) Models() []*genaiv1.Model { return []*genaiv1.Model{{Name: "big", Backend: "test"}} }

func (b bigBackend) Generate(_ context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	resp := &genaiv1.GenerateResponse{Model: req.GetModel(), Usage: &genaiv1.Usage{Images: int32(b.count)}}
	for range b.count {
		a := &genaiv1.Artifact{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: make([]byte, b.size)}}
		resp.Artifacts = append(resp.Artifacts, a)
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: a}}); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func TestLargeResponsesNeedStreaming(t *testing.T) {
	client := newTestServer(t, genai.Route{Backend: bigBackend{count: 2, size: 2 << 20}})
	ctx := context.Background()
	_, err := client.Generate(ctx, request(2, 0))
	st := status.Convert(err)
	if reason, _ := rpcerr.Details(st); st.Code() != codes.ResourceExhausted || reason != genai.ReasonResponseTooLarge || !strings.Contains(st.Message(), "StreamGenerate") {
		t.Fatalf("status %v (reason %q)", st, reason)
	}
	stream, err := client.StreamGenerate(ctx, request(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.GetArtifact() != nil {
			n++
		}
	}
	if n != 2 {
		t.Errorf("streamed %d images, want 2", n)
	}
}

func TestErrors(t *testing.T) {
	route, _ := fakeRoute(t, openaitest.Options{}, 1, 1)
	withBackend := newTestServer(t, route)
	noBackend := newTestServer(t)
	for _, tc := range []struct {
		name       string
		client     genaiv1.ImageServiceClient
		req        *genaiv1.GenerateRequest
		want       codes.Code
		reason     string
		violations []string
	}{
		{
			name: "field violations", client: withBackend,
			req: &genaiv1.GenerateRequest{Prompt: "x", Options: &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{
				Width: 10, Height: 4096, Count: 9,
			}}},
			want: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument,
			violations: []string{"image.count", "image.height", "image.width"},
		},
		{
			name: "messages", client: withBackend,
			req:  &genaiv1.GenerateRequest{Messages: []*genaiv1.Message{{Role: "user", Content: "x"}}},
			want: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument, violations: []string{"messages", "prompt"},
		},
		{
			name: "unknown model", client: withBackend, req: &genaiv1.GenerateRequest{Model: "nope", Prompt: "x"},
			want: codes.NotFound, reason: rpcerr.ReasonModelNotFound,
		},
		{
			name: "no backend", client: noBackend, req: &genaiv1.GenerateRequest{Prompt: "x"},
			want: codes.FailedPrecondition, reason: genai.ReasonNoBackend,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Generate(context.Background(), tc.req)
			st := status.Convert(err)
			if st.Code() != tc.want {
				t.Fatalf("code %v (%v), want %v", st.Code(), err, tc.want)
			}
			reason, violations := rpcerr.Details(st)
			if reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
			var fields []string
			for _, v := range violations {
				fields = append(fields, v.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tc.violations, ",") {
				t.Errorf("violations %v, want %v", fields, tc.violations)
			}
		})
	}
}

func TestQueueFull(t *testing.T) {
	gate := make(chan struct{})
	route, fake := fakeRoute(t, openaitest.Options{Gate: gate}, 1, 1)
	client := newTestServer(t, route)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := make(chan error, 4)
	generate := func() {
		_, err := client.Generate(ctx, request(1, 64))
		results <- err
	}
	go generate()
	if err := fake.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Of three more, one takes the queue place and two are refused at once.
	for range 3 {
		go generate()
	}
	for range 2 {
		if err := <-results; status.Code(err) != codes.ResourceExhausted {
			t.Errorf("got %v, want ResourceExhausted", err)
		}
	}
	gate <- struct{}{}
	gate <- struct{}{}
	for range 2 {
		if err := <-results; err != nil {
			t.Errorf("admitted request failed: %v", err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "defaults", cfg: Config{GRPCAddr: DefaultAddr, Concurrency: 1, Queue: 1}, ok: true},
		{name: "zero concurrency", cfg: Config{Queue: 1}},
		{name: "zero queue", cfg: Config{Concurrency: 1}},
		{name: "base url without models", cfg: Config{Concurrency: 1, Queue: 1, OpenAI: openai.Config{BaseURL: "http://127.0.0.1:1/v1"}}},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}
