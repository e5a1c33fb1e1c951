package genaitest

import (
	"context"
	"strings"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"

	"github.com/chorus-ai/chorus/platform/genai"
)

// EmbedDimensions is the length of EmbedBackend's vectors.
const EmbedDimensions = 16

// EmbedBackend is a genai.EmbedBackend for tests, to put the real embedding handler
// (validation, routing, admission, the dimensions cut) in front of Embedder's hashed bag of
// words, spread over every coordinate by a fixed ±1 projection so that a cut keeps some of
// it. It is no model. Each input counts one token per word.
type EmbedBackend struct {
	models []string
	vec    *Embedder
}

var _ genai.EmbedBackend = (*EmbedBackend)(nil)

// NewEmbedBackend returns an EmbedBackend listing models; the first is the default.
func NewEmbedBackend(models ...string) *EmbedBackend {
	return &EmbedBackend{models: models, vec: &Embedder{Dimensions: EmbedDimensions}}
}

// Models lists the backend's models, with EmbedDimensions and a 512-token input limit.
func (b *EmbedBackend) Models() []*genaiv1.Model {
	ms := make([]*genaiv1.Model, 0, len(b.models))
	for _, name := range b.models {
		ms = append(ms, &genaiv1.Model{Name: name, Backend: "fake", Description: "fake " + name + " embedding model",
			Capabilities:        []genaiv1.Capability{genaiv1.Capability_CAPABILITY_EMBEDDING},
			EmbeddingDimensions: EmbedDimensions, MaxInputTokens: 512})
	}
	return ms
}

// Embed embeds each input.
func (b *EmbedBackend) Embed(ctx context.Context, req *genaiv1.EmbedRequest) (*genaiv1.EmbedResponse, error) {
	resp := &genaiv1.EmbedResponse{Model: req.GetModel(), Usage: &genaiv1.Usage{}}
	for i, in := range req.GetInputs() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		resp.Embeddings = append(resp.Embeddings, &genaiv1.Embedding{Values: spread(b.vec.Vector(in)), Index: int32(i)})
		resp.Usage.InputTokens += int32(len(strings.Fields(in)))
	}
	return resp, nil
}

// spread multiplies v by a fixed matrix of ±1 (a random projection, which keeps texts that
// share words near) and normalises the result.
func spread(v []float32) []float32 {
	out := make([]float32, len(v))
	for i := range out {
		for j, x := range v {
			if (uint64(i*len(v)+j)*0x9e3779b97f4a7c15)>>63 == 1 {
				out[i] -= x
			} else {
				out[i] += x
			}
		}
	}
	genai.Normalize(out)
	return out
}
