package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"

	"github.com/chorus-ai/chorus/orchestrator/internal/pipeline"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/genai/genaitest"
)

// fakeStore is a test-only artifact store in memory.
type fakeStore struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (s *fakeStore) PutURI(data []byte, _ string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	uri := fmt.Sprintf("/v1/artifacts/%d", len(s.data))
	s.data[uri] = bytes.Clone(data)
	return uri, nil
}

// An image step whose image is over one gRPC message gets it whole: the
// service streams it in parts and the step collects them.
func TestStepArtifactOverOneMessage(t *testing.T) {
	const yaml = `
name: one-big-image
steps:
  - name: picture
    modality: image
    prompt: "a big one"
outputs:
  - {name: picture, mime_type: image/png, from: picture, assemble: each}
`
	p, err := pipeline.ParseBytes([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	img := make([]byte, 5<<20+11)
	for i := range img {
		img[i] = byte(rng.Uint32())
	}
	svc := &genaitest.Service{Generate: func(context.Context, *genaiv1.GenerateRequest) (*genaiv1.GenerateResponse, error) {
		return &genaiv1.GenerateResponse{Artifacts: []*genaiv1.Artifact{{MimeType: "image/png", Content: &genaiv1.Artifact_Data{Data: img}}}}, nil
	}}
	store := &fakeStore{data: map[string][]byte{}}
	e := New(Config{Clients: map[genai.Modality]genai.Client{genai.Image: genaitest.Serve(t, genai.Image, svc)}, Artifacts: store})
	var done *orchestratorv1.RunCompleted
	err = e.Run(t.Context(), p, nil, func(ev *orchestratorv1.RunPipelineResponse) error {
		if d := ev.GetRunCompleted(); d != nil {
			done = d
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(done.GetOutputs()) != 1 {
		t.Fatalf("outputs %v, want the picture", done.GetOutputs())
	}
	a := done.GetOutputs()[0].GetArtifact()
	sum := sha256.Sum256(img)
	if got := store.data[a.GetUri()]; !bytes.Equal(got, img) || a.GetSha256() != hex.EncodeToString(sum[:]) || a.GetSizeBytes() != int64(len(img)) {
		t.Fatalf("output at %q: %d bytes stored, size %d, sha256 %.12s; want the %d-byte image", a.GetUri(), len(got), a.GetSizeBytes(), a.GetSha256(), len(img))
	}
}
