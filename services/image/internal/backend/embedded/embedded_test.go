package embedded

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"path/filepath"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/engine/imagegen"
	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// synthetic opens a random-weights image model with the real layout: its pictures are noise,
// which is all the mechanics below need.
func synthetic(tb testing.TB, cfg Config) *Backend {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "pixels.gguf")
	if err := imagegen.WriteSynthetic(path, 3); err != nil {
		tb.Fatal(err)
	}
	b, err := Open(path, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

func request(prompt string, o *genaiv1.ImageOptions) *genaiv1.GenerateRequest {
	r := &genaiv1.GenerateRequest{Model: "pixels", Prompt: prompt}
	if o != nil {
		r.Options = &genaiv1.GenerateRequest_Image{Image: o}
	}
	return r
}

func seeded(seed int64) *genaiv1.ImageOptions { return &genaiv1.ImageOptions{Seed: &seed} }

// collect runs Generate and returns the response with every chunk emitted.
func collect(tb testing.TB, b *Backend, req *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, []*genaiv1.GenerateChunk) {
	tb.Helper()
	var chunks []*genaiv1.GenerateChunk
	resp, err := b.Generate(context.Background(), req, func(c *genaiv1.GenerateChunk) error {
		chunks = append(chunks, c)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return resp, chunks
}

func decode(tb testing.TB, a *genaiv1.Artifact) image.Image {
	tb.Helper()
	if a.GetMimeType() != "image/png" {
		tb.Fatalf("mime type %q", a.GetMimeType())
	}
	img, err := png.Decode(bytes.NewReader(a.GetData()))
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

func TestModels(t *testing.T) {
	b := synthetic(t, Config{})
	ms := b.Models()
	if len(ms) != 1 || ms[0].GetName() != "pixels" || ms[0].GetBackend() != Name {
		t.Fatalf("models %v", ms)
	}
	if caps := ms[0].GetCapabilities(); len(caps) == 0 || caps[0] != genaiv1.Capability_CAPABILITY_TEXT_TO_IMAGE {
		t.Errorf("capabilities %v", caps)
	}
}

func TestNoImageOptionsMeansDefaults(t *testing.T) {
	b := synthetic(t, Config{})
	resp, _ := collect(t, b, request("red heart", nil))
	if len(resp.GetArtifacts()) != 1 {
		t.Fatalf("%d artifacts, want 1", len(resp.GetArtifacts()))
	}
	a := resp.GetArtifacts()[0]
	img := decode(t, a)
	if got := img.Bounds().Size(); got != image.Pt(DefaultSide, DefaultSide) {
		t.Errorf("size %v, want %dx%d", got, DefaultSide, DefaultSide)
	}
	if a.GetMetadata().GetSeed() < 0 {
		t.Errorf("reported seed %d", a.GetMetadata().GetSeed())
	}
	if resp.GetUsage().GetImages() != 1 {
		t.Errorf("usage %v", resp.GetUsage())
	}
}

func TestSameSeedSameBytes(t *testing.T) {
	b := synthetic(t, Config{})
	first, _ := collect(t, b, request("green tree", seeded(7)))
	again, _ := collect(t, b, request("green tree", seeded(7)))
	other, _ := collect(t, b, request("green tree", seeded(8)))
	a, c := first.GetArtifacts()[0].GetData(), again.GetArtifacts()[0].GetData()
	if !bytes.Equal(a, c) {
		t.Error("the same seed gave different bytes")
	}
	if bytes.Equal(a, other.GetArtifacts()[0].GetData()) {
		t.Error("seeds 7 and 8 gave the same bytes")
	}
	if got := first.GetArtifacts()[0].GetMetadata().GetSeed(); got != 7 {
		t.Errorf("reported seed %d, want 7", got)
	}
}

func TestSizes(t *testing.T) {
	b := synthetic(t, Config{})
	tests := []struct {
		name          string
		width, height int32
		want          image.Point
		invalid       bool
	}{
		{name: "default", want: image.Pt(256, 256)},
		{name: "smallest", width: 64, height: 64, want: image.Pt(64, 64)},
		{name: "largest, not square", width: 1024, height: 512, want: image.Pt(1024, 512)},
		{name: "height only", height: 128, want: image.Pt(128, 128)},
		{name: "width only", width: 200, want: image.Pt(200, 200)},
		{name: "over this model's limit", width: 2048, height: 256, invalid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed := int64(1)
			req := request("blue sky", &genaiv1.ImageOptions{Width: tc.width, Height: tc.height, Seed: &seed})
			resp, err := b.Generate(context.Background(), req, func(*genaiv1.GenerateChunk) error { return nil })
			if tc.invalid {
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("error %v, want InvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := resp.GetArtifacts()[0]
			if got := decode(t, a).Bounds().Size(); got != tc.want {
				t.Errorf("decoded size %v, want %v", got, tc.want)
			}
			if md := a.GetMetadata(); md.GetWidth() != int32(tc.want.X) || md.GetHeight() != int32(tc.want.Y) {
				t.Errorf("metadata %dx%d, want %v", md.GetWidth(), md.GetHeight(), tc.want)
			}
		})
	}
}

func TestCountInParallelWithProgress(t *testing.T) {
	b := synthetic(t, Config{Sessions: 3})
	seed := int64(11)
	resp, chunks := collect(t, b, request("yellow sun", &genaiv1.ImageOptions{Count: 3, Seed: &seed}))
	if n := len(resp.GetArtifacts()); n != 3 {
		t.Fatalf("%d artifacts, want 3", n)
	}
	last, artifacts := -1, 0
	for _, c := range chunks {
		switch c.GetChunk().(type) {
		case *genaiv1.GenerateChunk_Progress:
			p := c.GetProgress()
			if artifacts > 0 || int(p.GetStep()) <= last || p.GetTotal() != 100 {
				t.Fatalf("progress %v after %d%% and %d artifacts", p, last, artifacts)
			}
			last = int(p.GetStep())
		case *genaiv1.GenerateChunk_Artifact:
			artifacts++
		default:
			t.Fatalf("unexpected chunk %T", c.GetChunk())
		}
	}
	if last != 100 || artifacts != 3 {
		t.Errorf("progress ended at %d%%, %d artifacts streamed", last, artifacts)
	}
	for i, a := range resp.GetArtifacts() {
		if md := a.GetMetadata(); md.GetIndex() != int32(i) || md.GetSeed() != seed+int64(i) {
			t.Errorf("artifact %d: index %d seed %d", i, md.GetIndex(), md.GetSeed())
		}
	}
	// Picture i of a batch is the picture a single request with seed+i draws.
	second := seed + 1
	one, _ := collect(t, b, request("yellow sun", &genaiv1.ImageOptions{Seed: &second}))
	if !bytes.Equal(one.GetArtifacts()[0].GetData(), resp.GetArtifacts()[1].GetData()) {
		t.Error("the batch's second picture differs from a single request with its seed")
	}
}

func TestCancelled(t *testing.T) {
	b := synthetic(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := b.Generate(ctx, request("red apple", &genaiv1.ImageOptions{Count: 2}), func(c *genaiv1.GenerateChunk) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestEmitErrorStops(t *testing.T) {
	b := synthetic(t, Config{})
	boom := errors.New("client gone")
	_, err := b.Generate(context.Background(), request("red apple", nil), func(*genaiv1.GenerateChunk) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the emit error", err)
	}
}

func TestOpenDirSkipsTextModels(t *testing.T) {
	dir := t.TempDir()
	if err := imagegen.WriteSynthetic(filepath.Join(dir, "b-pixels.gguf"), 5); err != nil {
		t.Fatal(err)
	}
	sp := llama.Synthetic{Name: "a-text", Embedding: 64, Blocks: 1, FFN: 128, Heads: 4, KVHeads: 2,
		Context: 64, Vocab: 300, Type: quant.Q8_0, Seed: 1}
	w, err := sp.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(filepath.Join(dir, "a-text.gguf")); err != nil {
		t.Fatal(err)
	}
	bs, err := OpenDir(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		t.Cleanup(func() { b.Close() })
	}
	if len(bs) != 1 || bs[0].Models()[0].GetName() != "b-pixels" {
		t.Fatalf("opened %d backends, want only b-pixels", len(bs))
	}
	none, err := OpenDir(filepath.Join(dir, "missing"), Config{})
	if err != nil || len(none) != 0 {
		t.Errorf("missing directory: %d backends, error %v", len(none), err)
	}
}
