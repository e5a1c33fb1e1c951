// Package genaitest provides stand-ins for modality backends and services,
// for tests, as net/http/httptest does for HTTP: a Backend whose behaviour
// each request chooses by the model it names (behind the real genai
// handler), Serve, which runs a scripted modality service over an
// in-memory gRPC transport, and Embedder, a fake embedding service.
package genaitest

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/wav"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// Behaviours of Backend, chosen by the model a request names. A model whose
// name is none of these echoes.
const (
	// Echo streams one text delta per word of the prompt, then returns the
	// words joined by spaces, with usage.
	Echo = "echo"
	// Step streams the delta "first", waits for Release (or cancellation),
	// then returns "first".
	Step = "step"
	// Hold notes "started", blocks until the request is canceled, notes
	// "canceled" and returns the context's error.
	Hold = "hold"
	// Break streams the delta "partial", then fails with UNAVAILABLE.
	Break = "break"
	// Trace returns the trace id the request's context carries.
	Trace = "trace"
	// Voice returns one WAV artifact per sentence of the prompt, each
	// streamed as it is made.
	Voice = "voice"
)

// Backend is a genai.Backend for tests: it serves the models it is given,
// and what it does for a request is chosen by the model the request names
// (Echo, Step, Hold, Break, Trace, Voice), so that the real genai handler
// (validation, routing, admission, streaming) runs in front of it.
type Backend struct {
	models []string
	// Events receives "started" and "canceled" notes from Hold; sends never
	// block a request.
	Events chan string
	// Release lets Step requests finish: close it, or send once per request.
	Release chan struct{}
}

var _ genai.Backend = (*Backend)(nil)

// NewBackend returns a Backend that lists models; the first is the default.
func NewBackend(models ...string) *Backend {
	return &Backend{models: models, Events: make(chan string, 64), Release: make(chan struct{})}
}

func (b *Backend) note(event string) {
	select {
	case b.Events <- event:
	default: // nobody is listening; never block a handler on a test
	}
}

// Wait receives b's next event and fails tb unless it is want.
func (b *Backend) Wait(tb testing.TB, want string) {
	tb.Helper()
	select {
	case got := <-b.Events:
		if got != want {
			tb.Fatalf("backend event %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		tb.Fatalf("backend never reported %q", want)
	}
}

// Models lists the backend's models.
func (b *Backend) Models() []*genaiv1.Model {
	ms := make([]*genaiv1.Model, 0, len(b.models))
	for _, name := range b.models {
		ms = append(ms, &genaiv1.Model{
			Name:         name,
			Backend:      "fake",
			Description:  "fake " + name + " model",
			Capabilities: []genaiv1.Capability{genaiv1.Capability_CAPABILITY_COMPLETION, genaiv1.Capability_CAPABILITY_STREAMING},
			Languages:    []string{"en"},
		})
	}
	return ms
}

// Generate behaves as the request's model says (see Backend).
func (b *Backend) Generate(ctx context.Context, req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	model := req.GetModel()
	if model == "" && len(b.models) > 0 {
		model = b.models[0]
	}
	switch model {
	case Hold:
		b.note("started")
		<-ctx.Done()
		b.note("canceled")
		return nil, ctx.Err()
	case Step:
		if err := emit(Delta("first")); err != nil {
			return nil, err
		}
		select {
		case <-b.Release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return TextResponse("first"), nil
	case Break:
		if err := emit(Delta("partial")); err != nil {
			return nil, err
		}
		return nil, rpcerr.New(codes.Unavailable, "BACKEND_DOWN", "the fake backend went away")
	case Trace:
		return TextResponse(trace.SpanContextFromContext(ctx).TraceID().String()), nil
	case Voice:
		return voice(req, emit)
	}
	words := strings.Fields(req.GetPrompt())
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		if err := emit(Delta(w)); err != nil {
			return nil, err
		}
	}
	resp := TextResponse(strings.Join(words, " "))
	resp.Usage = &genaiv1.Usage{InputTokens: int32(len(words)), OutputTokens: int32(len(words))}
	return resp, nil
}

// voice answers with one WAV per sentence of the prompt (Speech's sound).
func voice(req *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	resp := &genaiv1.GenerateResponse{Usage: &genaiv1.Usage{InputCharacters: int32(len(req.GetPrompt()))}, FinishReason: genaiv1.FinishReason_FINISH_REASON_STOP}
	for _, sentence := range strings.SplitAfter(req.GetPrompt(), ".") {
		sentence = strings.TrimSpace(sentence)
		if sentence == "" {
			continue
		}
		a := Speech(sentence)
		a.Metadata.Index = int32(len(resp.Artifacts))
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: a}}); err != nil {
			return nil, err
		}
		resp.Artifacts = append(resp.Artifacts, a)
		resp.Usage.AudioSeconds += a.GetMetadata().GetDurationSeconds()
	}
	return resp, nil
}

// Service is a scripted modality service: each method calls the matching
// function, and answers UNIMPLEMENTED where it is nil, except that with
// Generate alone StreamGenerate streams Generate's response as the real
// handler would (genai.SendResponse), as clients that collect a stream
// (genai.Collect) expect.
type Service struct {
	Generate       func(context.Context, *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error)
	StreamGenerate func(*genaiv1.GenerateRequest, grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error
	ListModels     func(context.Context) (*genaiv1.ListModelsResponse, error)
}

func (s *Service) generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	if s.Generate == nil {
		return nil, status.Error(codes.Unimplemented, "genaitest: no Generate")
	}
	return s.Generate(ctx, r)
}

func (s *Service) stream(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	if s.StreamGenerate == nil && s.Generate != nil {
		resp, err := s.Generate(st.Context(), r)
		if err != nil {
			return err
		}
		return genai.SendResponse(st.Send, resp)
	}
	if s.StreamGenerate == nil {
		return status.Error(codes.Unimplemented, "genaitest: no StreamGenerate")
	}
	return s.StreamGenerate(r, st)
}

func (s *Service) listModels(ctx context.Context, _ *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	if s.ListModels == nil {
		return nil, status.Error(codes.Unimplemented, "genaitest: no ListModels")
	}
	return s.ListModels(ctx)
}

// The three generated service interfaces differ only in their unexported
// method, so one implementation serves all three, embedding each's
// Unimplemented server.
type (
	textServer struct {
		genaiv1.UnimplementedTextServiceServer
		*Service
	}
	imageServer struct {
		genaiv1.UnimplementedImageServiceServer
		*Service
	}
	audioServer struct {
		genaiv1.UnimplementedAudioServiceServer
		*Service
	}
)

func (t textServer) Generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	return t.generate(ctx, r)
}

func (t textServer) StreamGenerate(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	return t.stream(r, st)
}

func (t textServer) ListModels(ctx context.Context, r *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return t.listModels(ctx, r)
}

func (t imageServer) Generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	return t.generate(ctx, r)
}

func (t imageServer) StreamGenerate(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	return t.stream(r, st)
}

func (t imageServer) ListModels(ctx context.Context, r *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return t.listModels(ctx, r)
}

func (t audioServer) Generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	return t.generate(ctx, r)
}

func (t audioServer) StreamGenerate(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	return t.stream(r, st)
}

func (t audioServer) ListModels(ctx context.Context, r *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return t.listModels(ctx, r)
}

// Serve serves s as the service of modality m on an in-memory listener,
// registered with the real generated registration, and returns a client
// for it. Both stop when the test ends. The client has no retry policy, so
// tests see exactly the calls made.
func Serve(tb testing.TB, m genai.Modality, s *Service) genai.Client {
	tb.Helper()
	return genai.NewClient(m, serveInMemory(tb, "fake-"+string(m), func(g *grpc.Server) {
		switch m {
		case genai.Text:
			genaiv1.RegisterTextServiceServer(g, textServer{Service: s})
		case genai.Image:
			genaiv1.RegisterImageServiceServer(g, imageServer{Service: s})
		default:
			genaiv1.RegisterAudioServiceServer(g, audioServer{Service: s})
		}
	}))
}

// serveInMemory runs a gRPC server that register fills on an in-memory
// listener and returns a client connection to it (named target); both stop
// when the test ends.
func serveInMemory(tb testing.TB, target string, register func(*grpc.Server)) *grpc.ClientConn {
	tb.Helper()
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	register(g)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = g.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///"+target,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatalf("genaitest: %s client: %v", target, err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		g.Stop()
		<-served
	})
	return conn
}

// Listen serves b as the modality m service, behind the real genai handler
// (validation, admission with 4 calls at once, streaming), on a loopback TCP
// port, so that other processes (a real orchestrator or gateway) can call
// it; it returns the address. The server stops when the test ends.
func Listen(tb testing.TB, m genai.Modality, b genai.Backend) string {
	tb.Helper()
	h, err := genai.NewHandler(m, slog.New(slog.DiscardHandler), genai.Route{Backend: b, Concurrency: 4})
	if err != nil {
		tb.Fatalf("genaitest: %s handler: %v", m, err)
	}
	return listenTCP(tb, func(g *grpc.Server) { genai.Register(g, h) })
}

// listenTCP serves what register puts on a gRPC server on a free loopback
// TCP port until the test ends, and returns the address.
func listenTCP(tb testing.TB, register func(*grpc.Server)) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("genaitest: listen: %v", err)
	}
	g := grpc.NewServer()
	register(g)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = g.Serve(lis)
	}()
	tb.Cleanup(func() {
		g.Stop()
		<-served
	})
	return lis.Addr().String()
}

// WAV returns a 16-bit mono WAV file at rate Hz holding n samples, each
// equal to value, so tests can tell segments apart once joined.
func WAV(rate, n int, value int16) []byte {
	samples := make([]int16, n)
	for i := range samples {
		samples[i] = value
	}
	return wav.Encode(wav.Audio{Rate: rate, Samples: samples})
}

// Speech is the fake voicing of text: a 16 kHz WAV of 10 ms per byte, every
// sample equal to the text's length, with its metadata filled in.
func Speech(text string) *genaiv1.Artifact {
	n := len(text)
	return &genaiv1.Artifact{
		MimeType: "audio/wav",
		Content:  &genaiv1.Artifact_Data{Data: WAV(16000, 160*n, int16(n))},
		Metadata: &genaiv1.ArtifactMetadata{SourceText: text, SampleRate: 16000, DurationSeconds: float64(n) / 100},
	}
}

// SpeechResponse answers an audio request as one Speech artifact of its
// whole prompt.
func SpeechResponse(r *genaiv1.GenerateRequest) *genaiv1.GenerateResponse {
	n := len(r.GetPrompt())
	return &genaiv1.GenerateResponse{
		Model:     "fake-voice",
		Artifacts: []*genaiv1.Artifact{Speech(r.GetPrompt())},
		Usage:     &genaiv1.Usage{AudioSeconds: float64(n) / 100, InputCharacters: int32(n)},
	}
}

// TextResponse is a finished text generation.
func TextResponse(text string) *genaiv1.GenerateResponse {
	return &genaiv1.GenerateResponse{
		Artifacts:    []*genaiv1.Artifact{{MimeType: "text/plain; charset=utf-8", Content: &genaiv1.Artifact_Text{Text: text}}},
		FinishReason: genaiv1.FinishReason_FINISH_REASON_STOP,
	}
}

// Done is the final chunk of a text stream.
func Done(text string) *genaiv1.GenerateChunk {
	resp := TextResponse(text)
	resp.Model = "fake-llm"
	resp.Usage = &genaiv1.Usage{InputTokens: 10, OutputTokens: 20}
	return &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Done{Done: resp}}
}

// Delta is a text chunk.
func Delta(text string) *genaiv1.GenerateChunk {
	return &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Delta{Delta: &genaiv1.TextDelta{Text: text}}}
}
