package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// fakeLargeImage is a test-only image backend returning one image of size
// seeded random bytes, more than one gRPC message carries.
type fakeLargeImage struct{ data []byte }

func newFakeLargeImage(size int) *fakeLargeImage {
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return &fakeLargeImage{data: data}
}

func (b *fakeLargeImage) Models() []*genaiv1.Model { return []*genaiv1.Model{{Name: "large"}} }

func (b *fakeLargeImage) Generate(_ context.Context, _ *genaiv1.GenerateRequest, _ func(*genaiv1.GenerateChunk) error) (*genaiv1.GenerateResponse, error) {
	return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: b.data}}}}, nil
}

// The service sends the image in parts; the gateway's NDJSON carries it as
// one artifact chunk, whole, then done.
func TestStreamGenerateJoinsParts(t *testing.T) {
	fake := newFakeLargeImage(5<<20 + 3)
	env := newTestServer(t, envOptions{image: fake})
	resp, body := env.do(t, "POST", "/v1/image:streamGenerate", `{"prompt": "x"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; body %.200s", resp.StatusCode, body)
	}
	type line struct {
		Result struct {
			Artifact *struct {
				MimeType  string `json:"mimeType"`
				Data      []byte `json:"data"`
				SizeBytes string `json:"sizeBytes"`
				Sha256    string `json:"sha256"`
			} `json:"artifact"`
			ArtifactPart json.RawMessage `json:"artifactPart"`
			Done         json.RawMessage `json:"done"`
		} `json:"result"`
	}
	var lines []line
	for _, raw := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("stream line %.200s: %v", raw, err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 2 || lines[0].Result.Artifact == nil || lines[1].Result.Done == nil {
		t.Fatalf("%d lines, want one artifact and done", len(lines))
	}
	a := lines[0].Result.Artifact
	sum := sha256.Sum256(fake.data)
	if !bytes.Equal(a.Data, fake.data) || a.Sha256 != hex.EncodeToString(sum[:]) || a.SizeBytes != "5242883" || a.MimeType != "image/png" {
		t.Fatalf("artifact of %d bytes (%s, size %s, sha256 %.12s), want the %d bytes (sha256 %.12x)", len(a.Data), a.MimeType, a.SizeBytes, a.Sha256, len(fake.data), sum)
	}
}

// The OpenAI images route collects the stream, so an image over one gRPC
// message comes back whole.
func TestOpenAIImageOverOneMessage(t *testing.T) {
	fake := newFakeLargeImage(4<<20 + 5)
	env := newTestServer(t, envOptions{image: fake})
	resp, body := env.do(t, "POST", "/v1/images/generations", `{"model": "large", "prompt": "x", "response_format": "b64_json"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; body %.300s", resp.StatusCode, body)
	}
	var out struct {
		Data []struct {
			B64JSON []byte `json:"b64_json"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Data) != 1 || !bytes.Equal(out.Data[0].B64JSON, fake.data) {
		t.Fatalf("%d images, want the one of %d bytes", len(out.Data), len(fake.data))
	}
}
