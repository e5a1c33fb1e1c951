package genai_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestServer serves the handlers on a real platform/serve server on a
// loopback port and returns a connection to it.
func newTestServer(tb testing.TB, handlers ...*genai.Handler) *grpc.ClientConn {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := serve.New(serve.Config{Addr: "127.0.0.1:0", OnPanic: serve.FailOnPanic(tb)}, log)
	if err != nil {
		tb.Fatal(err)
	}
	for _, h := range handlers {
		srv.SetServing(genai.Register(srv.GRPC(), h))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return conn
}

func newHandler(tb testing.TB, m genai.Modality, routes ...genai.Route) *genai.Handler {
	tb.Helper()
	h, err := genai.NewHandler(m, slog.New(slog.NewTextHandler(io.Discard, nil)), routes...)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func TestGenerateErrors(t *testing.T) {
	conn := newTestServer(t,
		newHandler(t, genai.Text, genai.Route{Backend: genaitest.NewBackend("m1", "m2")}),
		newHandler(t, genai.Audio),
	)
	text := genaiv1.NewTextServiceClient(conn)
	audio := genaiv1.NewAudioServiceClient(conn)
	ptr := func(f float32) *float32 { return &f }
	tests := []struct {
		name       string
		client     genai.Client
		req        *genaiv1.GenerateRequest
		wantCode   codes.Code
		wantReason string
		wantFields []string
	}{
		{name: "empty prompt", client: text, req: &genaiv1.GenerateRequest{}, wantCode: codes.InvalidArgument, wantReason: rpcerr.ReasonInvalidArgument, wantFields: []string{"prompt"}},
		{name: "blank prompt", client: text, req: &genaiv1.GenerateRequest{Prompt: " \n\t"}, wantCode: codes.InvalidArgument, wantFields: []string{"prompt"}},
		{name: "prompt too long", client: text, req: &genaiv1.GenerateRequest{Prompt: strings.Repeat("a", genai.MaxTextPromptLen+1)}, wantCode: codes.InvalidArgument, wantFields: []string{"prompt"}},
		{name: "several bad options", client: text, req: &genaiv1.GenerateRequest{Prompt: "hi", Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{
			MaxTokens: 100000, Temperature: ptr(3), TopK: -1, Stop: []string{""},
		}}}, wantCode: codes.InvalidArgument, wantFields: []string{"text.max_tokens", "text.stop[0]", "text.temperature", "text.top_k"}},
		{name: "schema not JSON", client: text, req: &genaiv1.GenerateRequest{Prompt: "hi", Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{JsonSchema: `{"type":`}}}, wantCode: codes.InvalidArgument, wantFields: []string{"text.json_schema"}},
		{name: "schema not an object", client: text, req: &genaiv1.GenerateRequest{Prompt: "hi", Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{JsonSchema: `"string"`}}}, wantCode: codes.InvalidArgument, wantFields: []string{"text.json_schema"}},
		{name: "schema too long", client: text, req: &genaiv1.GenerateRequest{Prompt: "hi", Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{JsonSchema: `{"description":"` + strings.Repeat("a", genai.MaxJSONSchemaLen) + `"}`}}}, wantCode: codes.InvalidArgument, wantFields: []string{"text.json_schema"}},
		{name: "NaN temperature", client: text, req: &genaiv1.GenerateRequest{Prompt: "hi", Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{Temperature: ptr(float32(nan()))}}}, wantCode: codes.InvalidArgument, wantFields: []string{"text.temperature"}},
		{name: "audio options to text", client: text, req: &genaiv1.GenerateRequest{Prompt: "hi", Options: &genaiv1.GenerateRequest_Audio{Audio: &genaiv1.AudioOptions{}}}, wantCode: codes.InvalidArgument, wantFields: []string{"audio"}},
		{name: "bad role", client: text, req: &genaiv1.GenerateRequest{Messages: []*genaiv1.Message{{Role: "wizard", Content: "x"}}}, wantCode: codes.InvalidArgument, wantFields: []string{"messages[0].role"}},
		{name: "prompt and messages", client: text, req: &genaiv1.GenerateRequest{Prompt: "a", Messages: []*genaiv1.Message{{Role: "user", Content: "x"}}}, wantCode: codes.InvalidArgument, wantFields: []string{"prompt"}},
		{name: "unknown model", client: text, req: &genaiv1.GenerateRequest{Model: "nope", Prompt: "hi"}, wantCode: codes.NotFound, wantReason: rpcerr.ReasonModelNotFound},
		{name: "no backend", client: audio, req: &genaiv1.GenerateRequest{Prompt: "hi"}, wantCode: codes.FailedPrecondition, wantReason: genai.ReasonNoBackend},
		{name: "messages to audio", client: audio, req: &genaiv1.GenerateRequest{Messages: []*genaiv1.Message{{Role: "user", Content: "x"}}}, wantCode: codes.InvalidArgument, wantFields: []string{"messages", "prompt"}},
		{name: "bad audio options", client: audio, req: &genaiv1.GenerateRequest{Prompt: "hi", Options: &genaiv1.GenerateRequest_Audio{Audio: &genaiv1.AudioOptions{Speed: 9, Format: "mp3", SampleRate: 100}}}, wantCode: codes.InvalidArgument, wantFields: []string{"audio.format", "audio.sample_rate", "audio.speed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.Generate(context.Background(), tt.req)
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %s (%s), want %s", st.Code(), st.Message(), tt.wantCode)
			}
			reason, violations := rpcerr.Details(st)
			if tt.wantReason != "" && reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", reason, tt.wantReason)
			}
			var fields []string
			for _, v := range violations {
				fields = append(fields, v.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tt.wantFields, ",") {
				t.Errorf("violated fields = %v, want %v", fields, tt.wantFields)
			}
		})
	}
}

func TestGenerateAndStream(t *testing.T) {
	conn := newTestServer(t,
		newHandler(t, genai.Text, genai.Route{Backend: genaitest.NewBackend("m1", "m2")}),
		newHandler(t, genai.Audio, genai.Route{Backend: genaitest.NewBackend(genaitest.Voice)}),
	)
	text := genaiv1.NewTextServiceClient(conn)

	models, err := text.ListModels(context.Background(), &genaiv1.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := models.GetModels(); len(got) != 2 || !got[0].GetDefault() || got[1].GetDefault() {
		t.Fatalf("ListModels = %v, want m1 (default), m2", got)
	}

	resp, err := text.Generate(context.Background(), &genaiv1.GenerateRequest{Prompt: "one two three"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetModel() != "m1" || resp.GetArtifacts()[0].GetText() != "one two three" {
		t.Fatalf("Generate = %v", resp)
	}
	a := resp.GetArtifacts()[0]
	if a.GetSizeBytes() != 13 || len(a.GetSha256()) != 64 {
		t.Errorf("digest not filled: size %d sha %q", a.GetSizeBytes(), a.GetSha256())
	}

	chunks := collect(t, text, &genaiv1.GenerateRequest{Model: "m2", Prompt: "one two three"})
	var deltas string
	for _, c := range chunks[:len(chunks)-1] {
		deltas += c.GetDelta().GetText()
	}
	done := chunks[len(chunks)-1].GetDone()
	if deltas != "one two three" || done == nil || done.GetModel() != "m2" || len(done.GetArtifacts()) != 1 {
		t.Fatalf("stream = %v", chunks)
	}

	// Audio streams its segments, so done repeats none of them.
	chunks = collect(t, genaiv1.NewAudioServiceClient(conn), &genaiv1.GenerateRequest{Prompt: "One. Two."})
	if len(chunks) != 3 || chunks[0].GetArtifact() == nil || chunks[1].GetArtifact() == nil || len(chunks[2].GetDone().GetArtifacts()) != 0 {
		t.Fatalf("audio stream = %v", chunks)
	}
}

func collect(t *testing.T, c genai.Client, req *genaiv1.GenerateRequest) []*genaiv1.GenerateChunk {
	t.Helper()
	stream, err := c.StreamGenerate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var out []*genaiv1.GenerateChunk
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, proto.Clone(c).(*genaiv1.GenerateChunk))
	}
}

func TestQueueFullAndCancellation(t *testing.T) {
	fb := genaitest.NewBackend(genaitest.Hold, genaitest.Echo)
	conn := newTestServer(t, newHandler(t, genai.Text, genai.Route{Backend: fb, Concurrency: 1, Queue: -1}))
	text := genaiv1.NewTextServiceClient(conn)

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := text.Generate(ctx, &genaiv1.GenerateRequest{Prompt: "a"})
		first <- err
	}()
	fb.Wait(t, "started") // the first request holds the only slot, and there is no queue

	_, err := text.Generate(context.Background(), &genaiv1.GenerateRequest{Model: genaitest.Echo, Prompt: "b"})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second request = %v, want ResourceExhausted", err)
	}
	if reason, _ := rpcerr.Details(status.Convert(err)); reason != rpcerr.ReasonQueueFull {
		t.Fatalf("reason = %q, want %q", reason, rpcerr.ReasonQueueFull)
	}

	// Cancelling the first call reaches the backend.
	cancel()
	fb.Wait(t, "canceled")
	if code := status.Code(<-first); code != codes.Canceled {
		t.Fatalf("first call = %s, want Canceled", code)
	}
	if _, err := text.Generate(context.Background(), &genaiv1.GenerateRequest{Model: genaitest.Echo, Prompt: "c"}); err != nil {
		t.Fatalf("call after the slot freed: %v", err)
	}
}

func nan() float64 { var z float64; return z / z }

// bigBackend is a test-only backend that makes two 2 MiB artifacts and
// records whether each call was streaming.
type bigBackend struct{ streaming chan bool }

func (b *bigBackend) Models() []*genaiv1.Model { return []*genaiv1.Model{{Name: "big"}} }

func (b *bigBackend) Generate(ctx context.Context, _ *genaiv1.GenerateRequest, emit func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	b.streaming <- genai.Streaming(ctx)
	var arts []*genaiv1.Artifact
	for i := range 2 {
		a := &genaiv1.Artifact{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: make([]byte, 2<<20)}, Metadata: &genaiv1.ArtifactMetadata{Index: int32(i)}}
		arts = append(arts, a)
		if err := emit(&genaiv1.GenerateChunk{Chunk: &genaiv1.GenerateChunk_Artifact{Artifact: a}}); err != nil {
			return nil, err
		}
	}
	return &genaiv1.GenerateResponse{Artifacts: arts}, nil
}

func TestLargeResultsNeedStreaming(t *testing.T) {
	b := &bigBackend{streaming: make(chan bool, 2)}
	client := genaiv1.NewImageServiceClient(newTestServer(t, newHandler(t, genai.Image, genai.Route{Backend: b})))

	_, err := client.Generate(context.Background(), &genaiv1.GenerateRequest{Prompt: "x"})
	st := status.Convert(err)
	if reason, _ := rpcerr.Details(st); st.Code() != codes.ResourceExhausted || reason != genai.ReasonResponseTooLarge || !strings.Contains(st.Message(), "StreamGenerate") {
		t.Fatalf("unary 4 MiB result = %v, want RESOURCE_EXHAUSTED %s naming StreamGenerate", err, genai.ReasonResponseTooLarge)
	}
	if <-b.streaming {
		t.Error("Streaming(ctx) = true in a unary call")
	}

	chunks := collect(t, client, &genaiv1.GenerateRequest{Prompt: "x"})
	if len(chunks) != 5 || chunks[0].GetArtifactPart().GetInfo() == nil || chunks[2].GetArtifactPart().GetInfo() == nil || chunks[4].GetDone() == nil {
		t.Fatalf("stream = %d chunks, want two artifacts of two parts each and done", len(chunks))
	}
	if !<-b.streaming {
		t.Error("Streaming(ctx) = false in a StreamGenerate call")
	}
}
