package server

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
	"github.com/chorus-ai/chorus/platform/genai"
	"github.com/chorus-ai/chorus/platform/openaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve/servetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestServer runs the embedding service with cfg on a free 127.0.0.1 port
// and returns a client.
func newTestServer(tb testing.TB, cfg Config) genaiv1.EmbeddingServiceClient {
	tb.Helper()
	cfg.Server = servetest.Config(tb, cfg.Server)
	return genaiv1.NewEmbeddingServiceClient(servetest.StartNew(tb, New, cfg))
}

// testConfig is DefaultConfig without the models of ./models.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ModelsDir = ""
	return cfg
}

// newFake starts a fake OpenAI server and returns it with a config that
// points the openai backend at it.
func newFake(tb testing.TB, opts openaitest.Options) (*openaitest.Server, Config) {
	fake := openaitest.Start(tb, opts)
	cfg := testConfig()
	cfg.OpenAI.Config = fake.Config()
	cfg.OpenAI.Dimensions = openaitest.DefaultEmbeddingDimensions
	cfg.OpenAI.MaxInputTokens = 512
	return fake, cfg
}

// modelsDir writes a small random llama model marked as an embedding model
// (llama.pooling_type) beside a plain one, which the service must leave alone.
func modelsDir(tb testing.TB, context int) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, m := range []struct {
		name    string
		pooling uint32
	}{{name: "tiny-embed", pooling: 1}, {name: "tiny-lm"}} {
		sp := llama.Synthetic{Name: m.name, Embedding: 64, Blocks: 1, FFN: 128, Heads: 2, KVHeads: 1,
			Context: context, Vocab: 300, Type: quant.Q8_0, Seed: 3}
		w, err := sp.Build()
		if err != nil {
			tb.Fatal(err)
		}
		if m.pooling != 0 {
			if err := w.Set("llama.pooling_type", m.pooling); err != nil {
				tb.Fatal(err)
			}
		}
		if err := w.WriteFile(filepath.Join(dir, m.name+".gguf")); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func norm(v []float32) float64 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	return math.Sqrt(ss)
}

func TestEmbedOpenAI(t *testing.T) {
	fake, cfg := newFake(t, openaitest.Options{})
	client := newTestServer(t, cfg)
	ctx := context.Background()

	models, err := client.ListModels(ctx, &genaiv1.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m := models.GetModels(); len(m) != 1 || m[0].GetName() != openaitest.DefaultModel || !m[0].GetDefault() ||
		m[0].GetEmbeddingDimensions() != openaitest.DefaultEmbeddingDimensions || m[0].GetMaxInputTokens() != 512 {
		t.Errorf("models = %v", m)
	}

	// The minimal request: inputs only.
	inputs := []string{"the cat sat on the mat", "a dog in the fog", "the cat sat"}
	resp, err := client.Embed(ctx, &genaiv1.EmbedRequest{Inputs: inputs})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetModel() != openaitest.DefaultModel || len(resp.GetEmbeddings()) != len(inputs) || resp.GetUsage().GetInputTokens() != 14 {
		t.Fatalf("response = %v", resp)
	}
	for i, e := range resp.GetEmbeddings() {
		if e.GetIndex() != int32(i) || len(e.GetValues()) != openaitest.DefaultEmbeddingDimensions || math.Abs(norm(e.GetValues())-1) > 1e-5 {
			t.Errorf("embedding %d: index %d, %d values, norm %.6f", i, e.GetIndex(), len(e.GetValues()), norm(e.GetValues()))
		}
		want := openaitest.FakeEmbedding(inputs[i], openaitest.DefaultEmbeddingDimensions)
		for j := range want {
			if d := float64(e.GetValues()[j]) - float64(want[j])/2; math.Abs(d) > 1e-6 {
				t.Fatalf("embedding %d is not the upstream's, normalised: %v, want %v/2", i, e.GetValues(), want)
			}
		}
	}
	var up struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
	}
	reqs := fake.Requests()
	if err := reqs[len(reqs)-1].Decode(&up); err != nil || strings.Join(up.Input, "|") != strings.Join(inputs, "|") ||
		up.Model != openaitest.DefaultModel || up.EncodingFormat != "float" {
		t.Errorf("upstream request %+v (%v)", up, err)
	}

	cut, err := client.Embed(ctx, &genaiv1.EmbedRequest{Inputs: inputs[:1], Dimensions: 4,
		InputType: genaiv1.EmbedInputType_EMBED_INPUT_TYPE_QUERY})
	if err != nil {
		t.Fatal(err)
	}
	if v := cut.GetEmbeddings()[0].GetValues(); len(v) != 4 || math.Abs(norm(v)-1) > 1e-5 {
		t.Errorf("dimensions 4: %v (norm %.6f)", v, norm(v))
	}
}

func TestEmbedErrors(t *testing.T) {
	fake, cfg := newFake(t, openaitest.Options{})
	client := newTestServer(t, cfg)
	none := newTestServer(t, testConfig())
	ctx := context.Background()
	many := make([]string, genai.MaxEmbedInputs+1)
	for i := range many {
		many[i] = "x"
	}
	big := make([]string, 40)
	for i := range big {
		big[i] = strings.Repeat("y", genai.MaxEmbedInputLen)
	}
	for _, tc := range []struct {
		name   string
		client genaiv1.EmbeddingServiceClient
		req    *genaiv1.EmbedRequest
		code   codes.Code
		reason string
		fields []string
	}{
		{name: "no inputs", client: client, req: &genaiv1.EmbedRequest{}, code: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument, fields: []string{"inputs"}},
		{name: "empty input", client: client, req: &genaiv1.EmbedRequest{Inputs: []string{"a", ""}}, code: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument, fields: []string{"inputs[1]"}},
		{name: "too many", client: client, req: &genaiv1.EmbedRequest{Inputs: many}, code: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument, fields: []string{"inputs"}},
		{name: "too long", client: client, req: &genaiv1.EmbedRequest{Inputs: []string{strings.Repeat("z", genai.MaxEmbedInputLen+1)}}, code: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument, fields: []string{"inputs[0]"}},
		{name: "too much in all", client: client, req: &genaiv1.EmbedRequest{Inputs: big}, code: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument, fields: []string{"inputs"}},
		{name: "control characters", client: client, req: &genaiv1.EmbedRequest{Inputs: []string{"fine", "a\x00b"}}, code: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument, fields: []string{"inputs[1]"}},
		{name: "input type", client: client, req: &genaiv1.EmbedRequest{Inputs: []string{"a"}, InputType: 7}, code: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument, fields: []string{"input_type"}},
		{name: "negative dimensions", client: client, req: &genaiv1.EmbedRequest{Inputs: []string{"a"}, Dimensions: -1}, code: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument, fields: []string{"dimensions"}},
		{name: "dimensions over the model's", client: client, req: &genaiv1.EmbedRequest{Inputs: []string{"a"}, Dimensions: openaitest.DefaultEmbeddingDimensions + 1}, code: codes.InvalidArgument, reason: rpcerr.ReasonInvalidArgument, fields: []string{"dimensions"}},
		{name: "unknown model", client: client, req: &genaiv1.EmbedRequest{Model: "nope", Inputs: []string{"a"}}, code: codes.NotFound, reason: rpcerr.ReasonModelNotFound},
		{name: "no backend", client: none, req: &genaiv1.EmbedRequest{Inputs: []string{"a"}}, code: codes.FailedPrecondition, reason: genai.ReasonNoBackend},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Embed(ctx, tc.req)
			servetest.CheckStatus(t, err, tc.code, tc.reason, tc.fields...)
		})
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("refused requests reached the upstream server %d times", n)
	}
	// Upstream failures map as every openai backend's do.
	fake.FailNext(openaitest.Failure{Status: 429}, openaitest.Failure{Status: 503})
	_, err := client.Embed(ctx, &genaiv1.EmbedRequest{Inputs: []string{"a"}})
	servetest.CheckStatus(t, err, codes.ResourceExhausted, rpcerr.ReasonUpstreamBusy)
	_, err = client.Embed(ctx, &genaiv1.EmbedRequest{Inputs: []string{"a"}})
	servetest.CheckStatus(t, err, codes.Unavailable, rpcerr.ReasonUpstreamDown)
}

func TestQueueFull(t *testing.T) {
	gate := make(chan struct{})
	fake, cfg := newFake(t, openaitest.Options{Gate: gate})
	cfg.Server.Concurrency, cfg.Server.Queue = 1, 1
	client := newTestServer(t, cfg)
	fake.CheckQueueFull(t, gate, func(ctx context.Context) error {
		_, err := client.Embed(ctx, &genaiv1.EmbedRequest{Inputs: []string{"x"}})
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
		{name: "zero sessions", edit: func(c *Config) { c.Embedded.Sessions = 0 }},
		{name: "bad base url", edit: func(c *Config) { c.OpenAI.BaseURL = "localhost:8000"; c.OpenAI.Models = []string{"m"} }},
		{name: "openai without models", edit: func(c *Config) { c.OpenAI.BaseURL = "http://127.0.0.1:8000/v1" }, ok: true},
		{name: "negative dimensions", edit: func(c *Config) { c.OpenAI.BaseURL = "http://127.0.0.1:8000/v1"; c.OpenAI.Dimensions = -1 }},
		{name: "openai with models", edit: func(c *Config) { c.OpenAI.BaseURL = "http://127.0.0.1:8000/v1"; c.OpenAI.Models = []string{"m"} }, ok: true},
	} {
		cfg := DefaultConfig()
		tc.edit(&cfg)
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}

func TestEmbedEmbedded(t *testing.T) {
	cfg := testConfig()
	cfg.ModelsDir = modelsDir(t, 16)
	client := newTestServer(t, cfg)
	ctx := context.Background()
	models, err := client.ListModels(ctx, &genaiv1.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	m := models.GetModels()
	if len(m) != 1 || m[0].GetName() != "tiny-embed" || m[0].GetBackend() != "embedded" || m[0].GetEmbeddingDimensions() != 64 ||
		m[0].GetMaxInputTokens() != 16 || len(m[0].GetCapabilities()) != 1 || m[0].GetCapabilities()[0] != genaiv1.Capability_CAPABILITY_EMBEDDING {
		t.Fatalf("models = %v (the plain language model must not be listed)", m)
	}
	resp, err := client.Embed(ctx, &genaiv1.EmbedRequest{Inputs: []string{"hello", "world", "hello"}})
	if err != nil {
		t.Fatal(err)
	}
	e := resp.GetEmbeddings()
	if len(e) != 3 || resp.GetUsage().GetInputTokens() <= 3 {
		t.Fatalf("response = %v", resp)
	}
	for i, x := range e {
		if len(x.GetValues()) != 64 || math.Abs(norm(x.GetValues())-1) > 1e-4 || x.GetTruncated() {
			t.Errorf("embedding %d: %d values, norm %.5f, truncated %v", i, len(x.GetValues()), norm(x.GetValues()), x.GetTruncated())
		}
	}
	same, diff := 0.0, 0.0
	for j := range e[0].GetValues() {
		same += float64(e[0].GetValues()[j] * e[2].GetValues()[j])
		diff += float64(e[0].GetValues()[j] * e[1].GetValues()[j])
	}
	if same < 0.9999 || diff > 0.9999 {
		t.Errorf("cosine(hello, hello) = %.5f, cosine(hello, world) = %.5f", same, diff)
	}

	long := strings.Repeat("many words here ", 20)
	_, err = client.Embed(ctx, &genaiv1.EmbedRequest{Inputs: []string{"short", long}})
	servetest.CheckStatus(t, err, codes.InvalidArgument, rpcerr.ReasonInvalidArgument, "inputs[1]")
	cut, err := client.Embed(ctx, &genaiv1.EmbedRequest{Inputs: []string{long}, Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	if !cut.GetEmbeddings()[0].GetTruncated() || cut.GetUsage().GetInputTokens() != 16 {
		t.Errorf("truncated response = %v", cut)
	}
}
