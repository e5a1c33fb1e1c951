package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/openaiapi"
	"github.com/chorus-ai/chorus/platform/openaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve/servetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newFake starts a fake OpenAI server and returns it with a config that
// points the openai backend at it.
func newFake(tb testing.TB, opts openaitest.Options) (*openaitest.Server, Config) {
	fake := openaitest.Start(tb, opts)
	cfg := DefaultConfig()
	cfg.OpenAI.Config = fake.Config()
	return fake, cfg
}

func request(count, side int32) *genaiv1.GenerateRequest {
	return &genaiv1.GenerateRequest{Prompt: "a lighthouse", Options: &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{
		Count: count, Width: side, Height: side,
	}}}
}

func TestGenerateAndStream(t *testing.T) {
	_, cfg := newFake(t, openaitest.Options{})
	cfg.Server.Concurrency, cfg.Server.Queue = 2, 4
	client := newTestServer(t, cfg)
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
	client := genaiv1.NewImageServiceClient(servetest.StartRoutes(t, genai.Image, genai.Route{Backend: bigBackend{count: 2, size: 2 << 20}}))
	ctx := context.Background()
	_, err := client.Generate(ctx, request(2, 0))
	st := status.Convert(err)
	if reason, _ := rpcerr.Details(st); st.Code() != codes.ResourceExhausted || reason != genai.ReasonResponseTooLarge || !strings.Contains(st.Message(), "StreamGenerate") {
		t.Fatalf("status %v (reason %q)", st, reason)
	}
	resp, err := genai.Collect(ctx, client, request(2, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	if a := resp.GetArtifacts(); len(a) != 2 || len(a[1].GetData()) != 2<<20 {
		t.Errorf("streamed %d images, want 2 of 2 MiB", len(a))
	}
}

// noisePNG is a side x side PNG of seeded noise, which does not compress:
// about 4 bytes a pixel.
func noisePNG(t *testing.T, side int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// An image over one gRPC message, from an OpenAI-compatible server, reaches
// a StreamGenerate client whole.
func TestLargeImageInParts(t *testing.T) {
	want := noisePNG(t, 1152) // about 5.3 MB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/images/generations" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"data":[{"b64_json":%q}]}`, base64.StdEncoding.EncodeToString(want))
	}))
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.OpenAI.Config = openaiapi.Config{BaseURL: srv.URL + "/v1", Models: []string{"big-images"}}
	client := newTestServer(t, cfg)

	resp, err := genai.Collect(context.Background(), client, &genaiv1.GenerateRequest{Model: "big-images", Prompt: "static"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetArtifacts()) != 1 {
		t.Fatalf("%d artifacts, want 1", len(resp.GetArtifacts()))
	}
	a := resp.GetArtifacts()[0]
	sum := sha256.Sum256(want)
	if len(want) <= 4<<20 || !bytes.Equal(a.GetData(), want) || a.GetSha256() != hex.EncodeToString(sum[:]) || a.GetMimeType() != "image/png" || a.GetMetadata().GetWidth() != 1152 {
		t.Fatalf("got %d bytes (%s, sha256 %.12s, width %d), want the %d-byte PNG (sha256 %.12x)",
			len(a.GetData()), a.GetMimeType(), a.GetSha256(), a.GetMetadata().GetWidth(), len(want), sum)
	}
	// Unary, the same image is refused, naming StreamGenerate.
	_, err = client.Generate(context.Background(), &genaiv1.GenerateRequest{Model: "big-images", Prompt: "static"})
	st := status.Convert(err)
	if reason, _ := rpcerr.Details(st); st.Code() != codes.ResourceExhausted || reason != genai.ReasonResponseTooLarge || !strings.Contains(st.Message(), "StreamGenerate") {
		t.Fatalf("unary: %v (reason %q), want RESOURCE_EXHAUSTED %s", st, reason, genai.ReasonResponseTooLarge)
	}
}

// With no flags the service serves the image models of ./models first, so
// its default draws offline; the text models there are not listed, and an
// OpenAI-compatible API configured beside it comes after.
func TestEmbeddedModelsComeFirst(t *testing.T) {
	_, cfg := newFake(t, openaitest.Options{})
	cfg.ModelsDir = filepath.Join("..", "..", "..", "..", "models") // the repository's
	client := newTestServer(t, cfg)
	ctx := context.Background()
	list, err := client.ListModels(ctx, &genaiv1.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list.GetModels() {
		names = append(names, m.GetName())
	}
	if want := []string{"chorus-pixels", openaitest.DefaultModel}; !slices.Equal(names, want) || !list.GetModels()[0].GetDefault() {
		t.Fatalf("models %q, want %q with chorus-pixels the default", names, want)
	}
	resp, err := client.Generate(ctx, &genaiv1.GenerateRequest{Prompt: "a red apple"})
	if err != nil {
		t.Fatal(err)
	}
	a := resp.GetArtifacts()
	if len(a) != 1 || resp.GetModel() != "chorus-pixels" {
		t.Fatalf("%d artifacts from %q, want one picture from chorus-pixels", len(a), resp.GetModel())
	}
	img, err := png.Decode(bytes.NewReader(a[0].GetData()))
	if err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 256 {
		t.Errorf("picture: %v, %v; want a 256x256 PNG (the default size)", img.Bounds(), err)
	}
}

func TestErrors(t *testing.T) {
	_, cfg := newFake(t, openaitest.Options{})
	servetest.CheckErrors(t, newTestServer(t, cfg), newTestServer(t, DefaultConfig()),
		servetest.ErrorCase{
			Name: "field violations",
			Req: &genaiv1.GenerateRequest{Prompt: "x", Options: &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{
				Width: 10, Height: 4096, Count: 9,
			}}},
			Code: codes.InvalidArgument, Reason: rpcerr.ReasonInvalidArgument,
			Violations: []string{"image.count", "image.height", "image.width"},
		},
		servetest.ErrorCase{
			Name: "messages",
			Req:  &genaiv1.GenerateRequest{Messages: []*genaiv1.Message{{Role: "user", Content: "x"}}},
			Code: codes.InvalidArgument, Reason: rpcerr.ReasonInvalidArgument, Violations: []string{"messages", "prompt"},
		},
	)
}

func TestQueueFull(t *testing.T) {
	gate := make(chan struct{})
	fake, cfg := newFake(t, openaitest.Options{Gate: gate})
	cfg.Server.Concurrency, cfg.Server.Queue = 1, 1
	client := newTestServer(t, cfg)
	fake.CheckQueueFull(t, gate, func(ctx context.Context) error {
		_, err := client.Generate(ctx, request(1, 64))
		return err
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{name: "defaults", edit: func(*Config) {}, ok: true},
		{name: "zero concurrency", edit: func(c *Config) { c.Server.Concurrency = 0 }},
		{name: "zero queue", edit: func(c *Config) { c.Server.Queue = 0 }},
		{name: "base url without models", edit: func(c *Config) { c.OpenAI.BaseURL = "http://127.0.0.1:1/v1" }},
		{name: "bad response format", edit: func(c *Config) {
			c.OpenAI.BaseURL, c.OpenAI.Models, c.OpenAI.ResponseFormat = "http://127.0.0.1:1/v1", []string{"m"}, "png"
		}},
		{name: "a1111", edit: func(c *Config) { c.A1111.BaseURL, c.A1111.Models = "http://127.0.0.1:7860", []string{"sd15"} }, ok: true},
		{name: "a1111 without models", edit: func(c *Config) { c.A1111.BaseURL = "http://127.0.0.1:7860" }},
		{name: "a1111 without a scheme", edit: func(c *Config) { c.A1111.BaseURL = "127.0.0.1:7860" }},
		{name: "no embedded sessions", edit: func(c *Config) { c.Embedded.Sessions = 0 }},
	} {
		cfg := DefaultConfig()
		tc.edit(&cfg)
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}

// newTestServer runs the image service with cfg on a free 127.0.0.1 port
// and returns a client.
func newTestServer(tb testing.TB, cfg Config) genaiv1.ImageServiceClient {
	tb.Helper()
	cfg.Server = servetest.Config(tb, cfg.Server)
	return genaiv1.NewImageServiceClient(servetest.StartNew(tb, New, cfg))
}

func TestModelsDirFollowedWhileRunning(t *testing.T) {
	_, cfg := newFake(t, openaitest.Options{})
	cfg.ModelsDir = t.TempDir()
	cfg.Rescan = 20 * time.Millisecond
	client := newTestServer(t, cfg)
	names := func() string {
		list, err := client.ListModels(t.Context(), &genaiv1.ListModelsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, m := range list.GetModels() {
			if m.GetDefault() {
				ns = append(ns, m.GetName()+"*")
			} else {
				ns = append(ns, m.GetName())
			}
		}
		return strings.Join(ns, ",")
	}
	if got := names(); got != openaitest.DefaultModel+"*" {
		t.Fatalf("before: %q", got)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "models", "chorus-pixels.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(cfg.ModelsDir, "pixels.gguf.part")
	if err := os.WriteFile(part, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(part, filepath.Join(cfg.ModelsDir, "pixels.gguf")); err != nil {
		t.Fatal(err)
	}
	// The embedded route comes first: the model copied in becomes the default.
	want := "pixels*," + openaitest.DefaultModel
	got := names()
	for deadline := time.Now().Add(5 * time.Second); got != want && time.Now().Before(deadline); got = names() {
		time.Sleep(10 * time.Millisecond)
	}
	if got != want {
		t.Fatalf("after copying an image model in: %q, want %q", got, want)
	}
	resp, err := client.Generate(t.Context(), &genaiv1.GenerateRequest{Prompt: "a red apple", Options: &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{Width: 64, Height: 64}}})
	if err != nil || resp.GetModel() != "pixels" || len(resp.GetArtifacts()) != 1 {
		t.Fatalf("the added model: %v, %v", resp, err)
	}
}
