// Package fake serves scripted stand-ins for the modality services over an
// in-memory gRPC transport, for the orchestrator's tests.
package fake

import (
	"context"
	"encoding/binary"
	"net"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/chorus-ai/chorus/platform/genai"
)

// Service is a fake modality service; each method calls the matching
// function, and answers UNIMPLEMENTED where it is nil.
type Service struct {
	Generate       func(context.Context, *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error)
	StreamGenerate func(*genaiv1.GenerateRequest, grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error
	ListModels     func(context.Context) (*genaiv1.ListModelsResponse, error)
}

func (s *Service) listModels(ctx context.Context) (*genaiv1.ListModelsResponse, error) {
	if s.ListModels == nil {
		return nil, status.Error(codes.Unimplemented, "fake: no ListModels")
	}
	return s.ListModels(ctx)
}

func (s *Service) generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	if s.Generate == nil {
		return nil, status.Error(codes.Unimplemented, "fake: no Generate")
	}
	return s.Generate(ctx, r)
}

func (s *Service) stream(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	if s.StreamGenerate == nil {
		return status.Error(codes.Unimplemented, "fake: no StreamGenerate")
	}
	return s.StreamGenerate(r, st)
}

type textServer struct {
	genaiv1.UnimplementedTextServiceServer
	s *Service
}

func (t textServer) Generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	return t.s.generate(ctx, r)
}

func (t textServer) StreamGenerate(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	return t.s.stream(r, st)
}

func (t textServer) ListModels(ctx context.Context, _ *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return t.s.listModels(ctx)
}

type imageServer struct {
	genaiv1.UnimplementedImageServiceServer
	s *Service
}

func (t imageServer) Generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	return t.s.generate(ctx, r)
}

func (t imageServer) StreamGenerate(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	return t.s.stream(r, st)
}

func (t imageServer) ListModels(ctx context.Context, _ *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return t.s.listModels(ctx)
}

type audioServer struct {
	genaiv1.UnimplementedAudioServiceServer
	s *Service
}

func (t audioServer) Generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	return t.s.generate(ctx, r)
}

func (t audioServer) StreamGenerate(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	return t.s.stream(r, st)
}

func (t audioServer) ListModels(ctx context.Context, _ *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return t.s.listModels(ctx)
}

// Serve serves s as the service of modality m on an in-memory listener,
// registered with the real generated registration, and returns a client
// for it. Both stop when the test ends. The client has no retry policy, so
// tests see exactly the calls the orchestrator makes.
func Serve(tb testing.TB, m genai.Modality, s *Service) genai.Client {
	tb.Helper()
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	switch m {
	case genai.Text:
		genaiv1.RegisterTextServiceServer(g, textServer{s: s})
	case genai.Image:
		genaiv1.RegisterImageServiceServer(g, imageServer{s: s})
	default:
		genaiv1.RegisterAudioServiceServer(g, audioServer{s: s})
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = g.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///fake-"+string(m),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatalf("fake %s client: %v", m, err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		g.Stop()
		<-served
	})
	return genai.NewClient(m, conn)
}

// WAV returns a 16-bit mono PCM WAV file at rate Hz holding n samples, each
// equal to value, so tests can tell segments apart once joined.
func WAV(rate, n int, value int16) []byte {
	b := make([]byte, 44+2*n)
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], 1)
	le.PutUint16(b[22:], 1)
	le.PutUint32(b[24:], uint32(rate))
	le.PutUint32(b[28:], uint32(2*rate))
	le.PutUint16(b[32:], 2)
	le.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(2*n))
	for i := range n {
		le.PutUint16(b[44+2*i:], uint16(value))
	}
	return b
}

// Speech answers an audio request with a WAV of 10 ms per prompt byte at
// 16 kHz, every sample equal to the prompt's length.
func Speech(r *genaiv1.GenerateRequest) *genaiv1.GenerateResponse {
	n := len(r.GetPrompt())
	return &genaiv1.GenerateResponse{
		Model:     "fake-voice",
		Artifacts: []*genaiv1.Artifact{{MimeType: "audio/wav", Content: &genaiv1.Artifact_Data{Data: WAV(16000, 160*n, int16(n))}}},
		Usage:     &genaiv1.Usage{AudioSeconds: float64(n) / 100, InputCharacters: int32(n)},
	}
}

// Done is the final chunk of a text stream.
func Done(text string) *genaiv1.GenerateChunk {
	return &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Done{Done: &genaiv1.GenerateResponse{
		Model:        "fake-llm",
		Artifacts:    []*genaiv1.Artifact{{MimeType: "text/plain; charset=utf-8", Content: &genaiv1.Artifact_Text{Text: text}}},
		Usage:        &genaiv1.Usage{InputTokens: 10, OutputTokens: 20},
		FinishReason: genaiv1.FinishReason_FINISH_REASON_STOP,
	}}}
}

// Delta is a text chunk.
func Delta(text string) *genaiv1.GenerateChunk {
	return &genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Delta{Delta: &genaiv1.TextDelta{Text: text}}}
}
