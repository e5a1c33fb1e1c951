package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
	"github.com/chorus-ai/chorus/platform/rpcerr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const chatML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// writeModel writes a small llama model with random weights (the engine's
// synthetic builder) as dir/name.gguf: a real forward pass, meaningless text.
func writeModel(tb testing.TB, dir, name, template string) string {
	tb.Helper()
	sp := llama.Synthetic{Name: name, Embedding: 64, Blocks: 2, FFN: 128, Heads: 4, KVHeads: 2,
		Context: 256, Vocab: 300, Type: quant.Q8_0, Seed: 11, ChatTemplate: template}
	w, err := sp.Build()
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name+".gguf")
	if err := w.WriteFile(path); err != nil {
		tb.Fatal(err)
	}
	return path
}

func open(tb testing.TB, cfg Config) *Backend {
	tb.Helper()
	b, err := Open(writeModel(tb, tb.TempDir(), "tiny", ""), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

func textRequest(prompt string, maxTokens int32, seed int64) *genaiv1.GenerateRequest {
	return &genaiv1.GenerateRequest{Model: "tiny", Prompt: prompt, Options: &genaiv1.GenerateRequest_Text{Text: &genaiv1.TextOptions{MaxTokens: maxTokens, Seed: &seed}}}
}

func TestModels(t *testing.T) {
	dir := t.TempDir()
	writeModel(t, dir, "b-chat", chatML)
	writeModel(t, dir, "a-plain", "")
	backends, err := OpenDir(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, b := range backends {
			b.Close()
		}
	}()
	if len(backends) != 2 {
		t.Fatalf("OpenDir loaded %d models, want 2", len(backends))
	}
	tests := []struct {
		model    *genaiv1.Model
		wantName string
		wantChat bool
	}{
		{model: backends[0].Models()[0], wantName: "a-plain", wantChat: false},
		{model: backends[1].Models()[0], wantName: "b-chat", wantChat: true},
	}
	for _, tt := range tests {
		m := tt.model
		hasChat := false
		for _, c := range m.GetCapabilities() {
			hasChat = hasChat || c == genaiv1.Capability_CAPABILITY_CHAT
		}
		if m.GetName() != tt.wantName || m.GetBackend() != "embedded" || m.GetQuantization() != "Q8_0" || m.GetContextLength() != 256 || hasChat != tt.wantChat {
			t.Errorf("model = %v, want %s (chat %v), embedded, Q8_0, context 256", m, tt.wantName, tt.wantChat)
		}
	}
}

func TestOpenDir(t *testing.T) {
	if bs, err := OpenDir(filepath.Join(t.TempDir(), "absent"), Config{}); err != nil || len(bs) != 0 {
		t.Fatalf("OpenDir(missing) = %d, %v; want none and no error", len(bs), err)
	}
	dir := t.TempDir()
	writeModel(t, dir, "good", "")
	if err := os.WriteFile(filepath.Join(dir, "junk.gguf"), []byte("not a gguf file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(dir, Config{}); err == nil || !strings.Contains(err.Error(), "junk.gguf") {
		t.Fatalf("OpenDir with a corrupt file = %v, want an error naming it", err)
	}
}

func TestGenerateStreamsAndRepeatsWithSeed(t *testing.T) {
	b := open(t, Config{})
	var deltas []string
	first, err := b.Generate(context.Background(), textRequest("Once upon a time", 12, 42), func(c *genaiv1.GenerateChunk) error {
		deltas = append(deltas, c.GetDelta().GetText())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	text := first.GetArtifacts()[0].GetText()
	if strings.Join(deltas, "") != text {
		t.Errorf("deltas %q do not add up to the text %q", deltas, text)
	}
	u := first.GetUsage()
	if u.GetInputTokens() == 0 || u.GetOutputTokens() == 0 || u.GetOutputTokens() > 12 {
		t.Errorf("usage = %v, want input > 0 and 1..12 output tokens", u)
	}
	if first.GetArtifacts()[0].GetMetadata().GetSeed() != 42 {
		t.Errorf("seed reported = %d, want 42", first.GetArtifacts()[0].GetMetadata().GetSeed())
	}

	again, err := b.Generate(context.Background(), textRequest("Once upon a time", 12, 42), func(*genaiv1.GenerateChunk) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := again.GetArtifacts()[0].GetText(); got != text {
		t.Errorf("same seed gave %q, then %q", text, got)
	}
}

func TestGenerateErrors(t *testing.T) {
	b := open(t, Config{ContextSize: 32})
	_, err := b.Generate(context.Background(), textRequest(strings.Repeat("many words here ", 40), 4, 1), func(*genaiv1.GenerateChunk) error { return nil })
	st := status.Convert(err)
	if _, v := rpcerr.Details(st); st.Code() != codes.InvalidArgument || len(v) != 1 || v[0].Field != "prompt" {
		t.Fatalf("prompt over the context = %v, want INVALID_ARGUMENT on prompt", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = b.Generate(ctx, textRequest("hello", 20, 1), func(*genaiv1.GenerateChunk) error {
		n++
		cancel() // the client goes away after the first piece
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate after cancel = %v, want context.Canceled", err)
	}
	if n > 2 {
		t.Errorf("%d pieces were emitted after cancellation", n-1)
	}
}

// The smallest requests a person sends: no text object at all. Absent
// options mean defaults, for a prompt and for messages alike, on a model
// without a chat template (the plain transcript) and on one with.
func TestMinimalRequests(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		template string
		req      *genaiv1.GenerateRequest
	}{
		{name: "prompt only", req: &genaiv1.GenerateRequest{Prompt: "Once upon a time"}},
		{name: "messages only, plain model", req: &genaiv1.GenerateRequest{Messages: []*genaiv1.Message{{Role: "user", Content: "hi"}}}},
		{name: "messages only, chat model", template: chatML, req: &genaiv1.GenerateRequest{Messages: []*genaiv1.Message{{Role: "user", Content: "hi"}}}},
		{name: "prompt only, chat model", template: chatML, req: &genaiv1.GenerateRequest{Prompt: "Once upon a time"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "plain"
			if tc.template != "" {
				name = "chat"
			}
			path := filepath.Join(dir, name+".gguf")
			if _, err := os.Stat(path); err != nil {
				writeModel(t, dir, name, tc.template)
			}
			b, err := Open(path, Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			var deltas int
			res, err := b.Generate(context.Background(), tc.req, func(*genaiv1.GenerateChunk) error { deltas++; return nil })
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if got := res.GetArtifacts()[0].GetText(); got == "" || deltas == 0 {
				t.Errorf("text %q after %d deltas, want generated text", got, deltas)
			}
			if res.GetUsage().GetOutputTokens() == 0 {
				t.Error("no output tokens reported")
			}
		})
	}
}

// A json_schema option makes even a model of random weights write a value
// the schema accepts; a schema the engine cannot enforce, or a token budget
// below the shortest value, is refused before generating.
func TestGenerateJSONSchema(t *testing.T) {
	b := open(t, Config{})
	const schema = `{"type":"object","properties":{"id":{"type":"integer","minimum":1,"maximum":9},"ok":{"type":"boolean"}},"required":["id","ok"]}`
	req := textRequest("a record", 64, 3)
	req.GetText().JsonSchema = schema
	res, err := b.Generate(context.Background(), req, func(*genaiv1.GenerateChunk) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		ID *int  `json:"id"`
		OK *bool `json:"ok"`
	}
	text := res.GetArtifacts()[0].GetText()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil || rec.ID == nil || rec.OK == nil || *rec.ID < 1 || *rec.ID > 9 {
		t.Fatalf("%q does not satisfy the schema (%v)", text, err)
	}

	for _, tc := range []struct {
		name, schema string
		maxTokens    int32
		field        string
	}{
		{"unsupported keyword", `{"$ref":"#/x"}`, 64, "text.json_schema"},
		{"contradictory bounds", `{"type":"integer","minimum":3,"maximum":1}`, 64, "text.json_schema"},
		{"budget below the shortest value", schema, 8, "text.max_tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := textRequest("a record", tc.maxTokens, 3)
			req.GetText().JsonSchema = tc.schema
			_, err := b.Generate(context.Background(), req, func(*genaiv1.GenerateChunk) error { return nil })
			st := status.Convert(err)
			if _, v := rpcerr.Details(st); st.Code() != codes.InvalidArgument || len(v) != 1 || v[0].Field != tc.field {
				t.Fatalf("err = %v, want INVALID_ARGUMENT on %s", err, tc.field)
			}
		})
	}
}

// TestSlots checks that the backend admits as many generations as the engine keeps slots:
// Sessions of them, fewer when the KV budget cannot hold that many.
func TestSlots(t *testing.T) {
	if got := open(t, Config{Sessions: 3}).Slots(); got != 3 {
		t.Errorf("Sessions 3: %d slots", got)
	}
	b := open(t, Config{Sessions: 64, KVBudgetMiB: 1})
	per := b.model.Info().KVBytes
	if want := int((1 << 20) / per); want < 1 || want >= 64 || b.Slots() != want {
		t.Errorf("a 1 MiB budget, %d bytes a slot: %d slots, want %d (between 1 and 63)", per, b.Slots(), want)
	}
}

// TestNoPack checks that Config.NoPack reaches the engine: no packed copy
// of the weights, where the default packs on CPUs with the packed kernels,
// and generation works either way.
func TestNoPack(t *testing.T) {
	for _, noPack := range []bool{false, true} {
		b := open(t, Config{NoPack: noPack})
		got := b.model.Info().PackedBytes
		if want := !noPack && quant.Packing(); (got > 0) != want {
			t.Errorf("NoPack=%v: %d packed bytes, want packing %v", noPack, got, want)
		}
		res, err := b.Generate(context.Background(), textRequest("Once upon a time", 8, 1), func(*genaiv1.GenerateChunk) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if res.GetUsage().GetOutputTokens() == 0 {
			t.Errorf("NoPack=%v: no tokens generated", noPack)
		}
	}
}
