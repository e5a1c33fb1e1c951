package genaitest_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
	"github.com/chorus-ai/chorus/platform/wav"
	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collect runs b's Generate for model and prompt and gathers what it emits.
func collect(ctx context.Context, b *genaitest.Backend, model, prompt string) (string, []*genaiv1.Artifact, *genaiv1.GenerateResponse, error) {
	var text strings.Builder
	var arts []*genaiv1.Artifact
	resp, err := b.Generate(ctx, &genaiv1.GenerateRequest{Model: model, Prompt: prompt}, func(c *genaiv1.GenerateChunk) error {
		text.WriteString(c.GetDelta().GetText())
		if a := c.GetArtifact(); a != nil {
			arts = append(arts, a)
		}
		return nil
	})
	return text.String(), arts, resp, err
}

func TestBackendBehaviours(t *testing.T) {
	b := genaitest.NewBackend(genaitest.Echo, genaitest.Step, genaitest.Hold, genaitest.Break, genaitest.Voice)
	ctx := context.Background()

	text, _, resp, err := collect(ctx, b, "", "one two  three")
	if err != nil || text != "one two three" || resp.GetArtifacts()[0].GetText() != "one two three" || resp.GetUsage().GetOutputTokens() != 3 {
		t.Errorf("echo (the default model) = %q, %v, %v", text, resp, err)
	}

	_, _, _, err = collect(ctx, b, genaitest.Break, "x")
	if status.Code(err) != codes.Unavailable {
		t.Errorf("break: %v, want UNAVAILABLE", err)
	}

	_, arts, resp, err := collect(ctx, b, genaitest.Voice, "One. Two two.")
	if err != nil || len(arts) != 2 || len(resp.GetArtifacts()) != 2 {
		t.Fatalf("voice: %d streamed, %v, %v", len(arts), resp, err)
	}
	a, err := wav.Decode(arts[1].GetData())
	if err != nil || a.Rate != 16000 || len(a.Samples) != 160*len("Two two.") || arts[1].GetMetadata().GetIndex() != 1 {
		t.Errorf("second voice segment: %d Hz, %d samples, %v", a.Rate, len(a.Samples), err)
	}

	done := make(chan error, 1)
	go func() {
		_, _, _, err := collect(ctx, b, genaitest.Step, "x")
		done <- err
	}()
	b.Release <- struct{}{}
	if err := <-done; err != nil {
		t.Errorf("step: %v", err)
	}

	hctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _, _, err := collect(hctx, b, genaitest.Hold, "x")
		done <- err
	}()
	b.Wait(t, "started")
	cancel()
	b.Wait(t, "canceled")
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("hold: %v, want canceled", err)
	}
}

func TestServe(t *testing.T) {
	c := genaitest.Serve(t, genai.Audio, &genaitest.Service{
		Generate: func(_ context.Context, r *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
			return genaitest.SpeechResponse(r), nil
		},
	})
	resp, err := c.Generate(context.Background(), &genaiv1.GenerateRequest{Prompt: "Hi."})
	if err != nil || resp.GetModel() != "fake-voice" || resp.GetUsage().GetAudioSeconds() != 0.03 {
		t.Fatalf("Generate = %v, %v", resp, err)
	}
	if _, err := c.ListModels(context.Background(), &genaiv1.ListModelsRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("ListModels without a function: %v, want UNIMPLEMENTED", err)
	}
	// With Generate alone, StreamGenerate streams Generate's response.
	streamed, err := genai.Collect(context.Background(), c, &genaiv1.GenerateRequest{Prompt: "Hi."}, 0)
	if err != nil || !proto.Equal(streamed, resp) {
		t.Errorf("StreamGenerate with Generate alone = %v, %v; want Generate's %v", streamed, err, resp)
	}
	empty := genaitest.Serve(t, genai.Audio, &genaitest.Service{})
	s, err := empty.StreamGenerate(context.Background(), &genaiv1.GenerateRequest{Prompt: "Hi."})
	if err == nil {
		_, err = s.Recv()
	}
	if status.Code(err) != codes.Unimplemented || errors.Is(err, io.EOF) {
		t.Errorf("StreamGenerate without a function: %v, want UNIMPLEMENTED", err)
	}
}

// The Backend behind the real handler over a real transport: what the
// gateway's and the services' tests use it for.
func TestBackendBehindHandler(t *testing.T) {
	h, err := genai.NewHandler(genai.Text, slog.New(slog.DiscardHandler), genai.Route{Backend: genaitest.NewBackend("echo")})
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	genai.Register(g, h)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	defer g.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := genai.NewClient(genai.Text, conn).Generate(context.Background(), &genaiv1.GenerateRequest{Prompt: "hello there"})
	if err != nil || resp.GetArtifacts()[0].GetText() != "hello there" {
		t.Errorf("Generate = %v, %v", resp, err)
	}
}
