package genai

import (
	"context"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/grpc"
)

// The three services have identical method sets; these adapters give the
// handler each service's generated "Unimplemented" embedding, which gRPC
// requires for forward compatibility. Embedding the handler itself would
// make Generate ambiguous, so the methods delegate explicitly.

// TextServer serves chorus.genai.v1.TextService.
type TextServer struct {
	genaiv1.UnimplementedTextServiceServer
	h *Handler
}

// ImageServer serves chorus.genai.v1.ImageService.
type ImageServer struct {
	genaiv1.UnimplementedImageServiceServer
	h *Handler
}

// AudioServer serves chorus.genai.v1.AudioService.
type AudioServer struct {
	genaiv1.UnimplementedAudioServiceServer
	h *Handler
}

var (
	_ genaiv1.TextServiceServer  = (*TextServer)(nil)
	_ genaiv1.ImageServiceServer = (*ImageServer)(nil)
	_ genaiv1.AudioServiceServer = (*AudioServer)(nil)
)

// Register registers h on s as the service of h's modality and returns the
// service's full name, for health reporting.
func Register(s grpc.ServiceRegistrar, h *Handler) string {
	switch h.modality {
	case Text:
		genaiv1.RegisterTextServiceServer(s, &TextServer{h: h})
		return genaiv1.TextService_ServiceDesc.ServiceName
	case Image:
		genaiv1.RegisterImageServiceServer(s, &ImageServer{h: h})
		return genaiv1.ImageService_ServiceDesc.ServiceName
	default:
		genaiv1.RegisterAudioServiceServer(s, &AudioServer{h: h})
		return genaiv1.AudioService_ServiceDesc.ServiceName
	}
}

// Generate implements genaiv1.TextServiceServer.
func (s *TextServer) Generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	return s.h.Generate(ctx, r)
}

// StreamGenerate implements genaiv1.TextServiceServer.
func (s *TextServer) StreamGenerate(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	return s.h.StreamGenerate(r, st)
}

// ListModels implements genaiv1.TextServiceServer.
func (s *TextServer) ListModels(ctx context.Context, r *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return s.h.ListModels(ctx, r)
}

// Generate implements genaiv1.ImageServiceServer.
func (s *ImageServer) Generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	return s.h.Generate(ctx, r)
}

// StreamGenerate implements genaiv1.ImageServiceServer.
func (s *ImageServer) StreamGenerate(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	return s.h.StreamGenerate(r, st)
}

// ListModels implements genaiv1.ImageServiceServer.
func (s *ImageServer) ListModels(ctx context.Context, r *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return s.h.ListModels(ctx, r)
}

// Generate implements genaiv1.AudioServiceServer.
func (s *AudioServer) Generate(ctx context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
	return s.h.Generate(ctx, r)
}

// StreamGenerate implements genaiv1.AudioServiceServer.
func (s *AudioServer) StreamGenerate(r *genaiv1.GenerateRequest, st grpc.ServerStreamingServer[genaiv1.GenerateChunk]) error {
	return s.h.StreamGenerate(r, st)
}

// ListModels implements genaiv1.AudioServiceServer.
func (s *AudioServer) ListModels(ctx context.Context, r *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return s.h.ListModels(ctx, r)
}

// Client is what the three generated clients have in common, so callers can
// hold one per modality behind one type.
type Client interface {
	Generate(ctx context.Context, in *genaiv1.GenerateRequest, opts ...grpc.CallOption) (*genaiv1.GenerateResponse, error)
	StreamGenerate(ctx context.Context, in *genaiv1.GenerateRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[genaiv1.GenerateChunk], error)
	ListModels(ctx context.Context, in *genaiv1.ListModelsRequest, opts ...grpc.CallOption) (*genaiv1.ListModelsResponse, error)
}

var (
	_ Client = genaiv1.TextServiceClient(nil)
	_ Client = genaiv1.ImageServiceClient(nil)
	_ Client = genaiv1.AudioServiceClient(nil)
)

// NewClient returns the generated client of modality m over conn.
func NewClient(m Modality, conn grpc.ClientConnInterface) Client {
	switch m {
	case Text:
		return genaiv1.NewTextServiceClient(conn)
	case Image:
		return genaiv1.NewImageServiceClient(conn)
	default:
		return genaiv1.NewAudioServiceClient(conn)
	}
}
