package genaitest

import (
	"context"
	"hash/fnv"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
)

// FakeEmbedModel is the model a fake Embedder serves.
const FakeEmbedModel = "fake-hashed-words"

// Embedder is a fake EmbeddingService for tests: a hashed bag of words.
// Each content word (lower-cased, with a plural "s" dropped; stop words
// skipped) adds ±1 to one of Dimensions coordinates chosen by its hash,
// and the sum is L2-normalised. Texts sharing words are near, texts
// sharing none are orthogonal but for collisions: enough to test
// retrieval plumbing deterministically, nothing like a trained model.
type Embedder struct {
	genaiv1.UnimplementedEmbeddingServiceServer
	// Dimensions is the vectors' length.
	Dimensions int
	// Calls counts Embed calls; Inputs counts the texts embedded.
	Calls, Inputs atomic.Int64
}

// NewEmbedder returns a fake Embedder of 256 dimensions.
func NewEmbedder() *Embedder { return &Embedder{Dimensions: 256} }

var fakeStopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be by do does for from how i if in into is it its of on or
	the this that to was what when where which who why with you your can`) {
		fakeStopwords[w] = true
	}
}

// Vector returns text's fake embedding; a text with no content word gets
// a fixed unit vector (its first coordinate).
func (e *Embedder) Vector(text string) []float32 {
	v := make([]float32, e.Dimensions)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if fakeStopwords[w] {
			continue
		}
		if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
			w = w[:len(w)-1]
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte(w))
		sum := h.Sum64()
		sign := float32(1)
		if sum>>63 == 1 {
			sign = -1
		}
		v[sum%uint64(e.Dimensions)] += sign
	}
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if norm == 0 {
		v[0] = 1
		return v
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(norm))
	}
	return v
}

// Embed embeds each input; an empty batch or input is INVALID_ARGUMENT.
func (e *Embedder) Embed(_ context.Context, req *genaiv1.EmbedRequest) (*genaiv1.EmbedResponse, error) {
	e.Calls.Add(1)
	if len(req.GetInputs()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "genaitest: no inputs")
	}
	if m := req.GetModel(); m != "" && m != FakeEmbedModel {
		return nil, status.Errorf(codes.NotFound, "genaitest: no model %q", m)
	}
	resp := &genaiv1.EmbedResponse{Model: FakeEmbedModel, Usage: &genaiv1.Usage{}}
	for i, in := range req.GetInputs() {
		if in == "" {
			return nil, status.Errorf(codes.InvalidArgument, "genaitest: input %d is empty", i)
		}
		e.Inputs.Add(1)
		resp.Embeddings = append(resp.Embeddings, &genaiv1.Embedding{Values: e.Vector(in), Index: int32(i)})
		resp.Usage.InputTokens += int32(len(strings.Fields(in)))
	}
	return resp, nil
}

// ListModels lists the one fake model, as the default.
func (e *Embedder) ListModels(context.Context, *genaiv1.ListModelsRequest) (*genaiv1.ListModelsResponse, error) {
	return &genaiv1.ListModelsResponse{Models: []*genaiv1.Model{{
		Name: FakeEmbedModel, Backend: "fake", Description: "hashed bag of words (tests only)", Default: true,
		Capabilities:        []genaiv1.Capability{genaiv1.Capability_CAPABILITY_EMBEDDING},
		EmbeddingDimensions: int32(e.Dimensions), MaxInputTokens: 8192,
	}}}, nil
}

// ServeEmbedder serves e over an in-memory transport and returns a client
// for it; both stop when the test ends.
func ServeEmbedder(tb testing.TB, e *Embedder) genaiv1.EmbeddingServiceClient {
	tb.Helper()
	return genaiv1.NewEmbeddingServiceClient(serveInMemory(tb, "fake-embed", func(g *grpc.Server) { genaiv1.RegisterEmbeddingServiceServer(g, e) }))
}

// ListenEmbedder serves e on a free loopback TCP port, for a server under
// test running as another process, and returns its address. It stops when
// the test ends.
func ListenEmbedder(tb testing.TB, e *Embedder) string {
	tb.Helper()
	return listenTCP(tb, func(g *grpc.Server) { genaiv1.RegisterEmbeddingServiceServer(g, e) })
}
