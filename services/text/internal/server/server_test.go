package server

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
	"github.com/chorus-ai/chorus/platform/openaitest"
	"github.com/chorus-ai/chorus/platform/rpcerr"
	"github.com/chorus-ai/chorus/platform/serve/servetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig is DefaultConfig without the embedded models of ./models.
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
	return fake, cfg
}

func TestGenerateAndStream(t *testing.T) {
	deltas := []string{"Once", " upon", " a", " time."}
	_, cfg := newFake(t, openaitest.Options{Deltas: deltas, DeltaDelay: time.Millisecond})
	client := newTestServer(t, cfg)
	ctx := context.Background()

	models, err := client.ListModels(ctx, &genaiv1.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m := models.GetModels(); len(m) != 1 || m[0].GetName() != openaitest.DefaultModel || m[0].GetBackend() != "openai" || !m[0].GetDefault() {
		t.Errorf("models = %v", m)
	}

	resp, err := client.Generate(ctx, &genaiv1.GenerateRequest{Prompt: "tell a story"})
	if err != nil {
		t.Fatal(err)
	}
	a := resp.GetArtifacts()
	if len(a) != 1 || a[0].GetText() != "Once upon a time." || a[0].GetSha256() == "" || resp.GetModel() != openaitest.DefaultModel {
		t.Errorf("response = %v", resp)
	}

	stream, err := client.StreamGenerate(ctx, &genaiv1.GenerateRequest{Prompt: "tell a story"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var done *genaiv1.GenerateResponse
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if done != nil {
			t.Fatalf("chunk %v after done", c)
		}
		if d := c.GetDelta(); d != nil {
			got = append(got, d.GetText())
		}
		done = c.GetDone()
	}
	if strings.Join(got, "|") != strings.Join(deltas, "|") {
		t.Errorf("deltas %q, want %q", got, deltas)
	}
	if done == nil || len(done.GetArtifacts()) != 1 || done.GetArtifacts()[0].GetText() != strings.Join(got, "") {
		t.Fatalf("done = %v", done)
	}
	if u := done.GetUsage(); u.GetInputTokens() != 3 || u.GetOutputTokens() != int32(len(deltas)) {
		t.Errorf("usage = %v", u)
	}
	if done.GetFinishReason() != genaiv1.FinishReason_FINISH_REASON_STOP {
		t.Errorf("finish = %v", done.GetFinishReason())
	}
}

func TestErrors(t *testing.T) {
	_, cfg := newFake(t, openaitest.Options{})
	servetest.CheckErrors(t, newTestServer(t, cfg), newTestServer(t, testConfig()),
		servetest.ErrorCase{
			Name: "field violations",
			Req: &genaiv1.GenerateRequest{Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{
				MaxTokens: -1, Stop: []string{""},
			}}},
			Code: codes.InvalidArgument, Reason: rpcerr.ReasonInvalidArgument,
			Violations: []string{"prompt", "text.max_tokens", "text.stop[0]"},
		},
		servetest.ErrorCase{
			Name: "image options",
			Req:  &genaiv1.GenerateRequest{Prompt: "x", Options: &genaiv1.GenerateRequest_Image{Image: &genaiv1.ImageOptions{}}},
			Code: codes.InvalidArgument, Reason: rpcerr.ReasonInvalidArgument, Violations: []string{"image"},
		},
	)
}

func TestQueueFull(t *testing.T) {
	gate := make(chan struct{})
	fake, cfg := newFake(t, openaitest.Options{Gate: gate})
	cfg.Server.Concurrency, cfg.Server.Queue = 1, 1
	client := newTestServer(t, cfg)
	fake.CheckQueueFull(t, gate, func(ctx context.Context) error {
		_, err := client.Generate(ctx, &genaiv1.GenerateRequest{Prompt: "x"})
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
		{name: "no address", edit: func(c *Config) { c.Server.Addr = "" }},
		{name: "zero sessions", edit: func(c *Config) { c.Embedded.Sessions = 0 }},
		{name: "negative KV budget", edit: func(c *Config) { c.Embedded.KVBudgetMiB = -1 }},
		{name: "bad base url", edit: func(c *Config) { c.OpenAI.BaseURL = "localhost:8000" }},
	} {
		cfg := DefaultConfig()
		tc.edit(&cfg)
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}

func TestEmbeddedModels(t *testing.T) {
	dir := t.TempDir()
	sp := llama.Synthetic{Name: "tiny", Embedding: 64, Blocks: 1, FFN: 128, Heads: 4, KVHeads: 2,
		Context: 128, Vocab: 300, Type: quant.Q8_0, Seed: 3}
	w, err := sp.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(filepath.Join(dir, "tiny.gguf")); err != nil {
		t.Fatal(err)
	}
	_, cfg := newFake(t, openaitest.Options{Text: "remote text"})
	cfg.ModelsDir = dir
	client := newTestServer(t, cfg)
	ctx := context.Background()

	models, err := client.ListModels(ctx, &genaiv1.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range models.GetModels() {
		names = append(names, m.GetName()+"/"+m.GetBackend())
	}
	// The explicitly configured server stays the default; the embedded model follows.
	if strings.Join(names, ",") != openaitest.DefaultModel+"/openai,tiny/embedded" {
		t.Fatalf("models = %v", names)
	}

	seed := int64(5)
	req := &genaiv1.GenerateRequest{Model: "tiny", Prompt: "The sea", Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{MaxTokens: 6, Seed: &seed}}}
	stream, err := client.StreamGenerate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var deltas strings.Builder
	var done *genaiv1.GenerateResponse
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		deltas.WriteString(c.GetDelta().GetText())
		if c.GetDone() != nil {
			done = c.GetDone()
		}
	}
	if done == nil || done.GetModel() != "tiny" || done.GetArtifacts()[0].GetText() != deltas.String() || done.GetUsage().GetOutputTokens() == 0 {
		t.Fatalf("stream ended with %v after deltas %q", done, deltas.String())
	}
	unary, err := client.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if unary.GetArtifacts()[0].GetText() != deltas.String() {
		t.Errorf("the same seed gave %q unary and %q streamed", unary.GetArtifacts()[0].GetText(), deltas.String())
	}
}

// newTestServer runs the text service with cfg on a free 127.0.0.1 port
// and returns a client.
func newTestServer(tb testing.TB, cfg Config) genaiv1.TextServiceClient {
	tb.Helper()
	cfg.Server = servetest.Config(tb, cfg.Server)
	return genaiv1.NewTextServiceClient(servetest.StartNew(tb, New, cfg))
}

// listNames polls ListModels until it gives want (the rescan runs every
// cfg.Rescan) or a few seconds pass, and returns what it last saw.
func listNames(t *testing.T, client genaiv1.TextServiceClient, want string) string {
	t.Helper()
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		models, err := client.ListModels(t.Context(), &genaiv1.ListModelsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range models.GetModels() {
			names = append(names, m.GetName())
		}
		if got = strings.Join(names, ","); got == want {
			break
		}
	}
	return got
}

func TestModelsDirFollowedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.ModelsDir = dir
	cfg.Rescan = 20 * time.Millisecond
	client := newTestServer(t, cfg)
	ctx := t.Context()

	if got := listNames(t, client, ""); got != "" {
		t.Fatalf("an empty directory lists %q", got)
	}
	// A corrupt file is skipped (and logged); the service keeps serving.
	if err := os.WriteFile(filepath.Join(dir, "broken.gguf"), []byte("GGUF and then nothing"), 0o644); err != nil {
		t.Fatal(err)
	}
	sp := llama.Synthetic{Name: "late", Embedding: 64, Blocks: 1, FFN: 128, Heads: 4, KVHeads: 2,
		Context: 128, Vocab: 300, Type: quant.Q8_0, Seed: 3}
	w, err := sp.Build()
	if err != nil {
		t.Fatal(err)
	}
	// As `chorus models add` does: written aside, renamed into place.
	if err := w.WriteFile(filepath.Join(dir, "late.gguf.part")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "late.gguf.part"), filepath.Join(dir, "late.gguf")); err != nil {
		t.Fatal(err)
	}
	if got := listNames(t, client, "late"); got != "late" {
		t.Fatalf("after copying late.gguf in, models = %q", got)
	}
	req := &genaiv1.GenerateRequest{Prompt: "The sea", Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{MaxTokens: 4}}}
	resp, err := client.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetModel() != "late" || resp.GetUsage().GetOutputTokens() == 0 {
		t.Errorf("the added model answered %v", resp)
	}

	if err := w.WriteFile(filepath.Join(dir, "other.gguf")); err != nil {
		t.Fatal(err)
	}
	if got := listNames(t, client, "late,other"); got != "late,other" {
		t.Fatalf("after adding other.gguf, models = %q", got)
	}
	if err := os.Remove(filepath.Join(dir, "late.gguf")); err != nil {
		t.Fatal(err)
	}
	if got := listNames(t, client, "other"); got != "other" {
		t.Fatalf("after removing late.gguf, models = %q", got)
	}
	req.Model = "late"
	if _, err := client.Generate(ctx, req); status.Code(err) != codes.NotFound {
		t.Errorf("a removed model: %v, want NOT_FOUND", err)
	}
}
