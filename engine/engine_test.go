package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const chatML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// newTestModel writes a small random llama model and loads it.
func newTestModel(tb testing.TB, opts ...Option) *Model {
	tb.Helper()
	sp := llama.Synthetic{Name: "engine-test", Embedding: 128, Blocks: 2, FFN: 256, Heads: 4, KVHeads: 2,
		Context: 512, Vocab: 400, Type: quant.Q8_0, Seed: 7, ChatTemplate: chatML}
	w, err := sp.Build()
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		tb.Fatal(err)
	}
	m, err := Load(path, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func collect(t *testing.T, m *Model, req Request) (Result, string) {
	t.Helper()
	var b strings.Builder
	res, err := m.Generate(context.Background(), req, func(p string) error {
		b.WriteString(p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != res.Text {
		t.Fatalf("emitted %q, result text %q", b.String(), res.Text)
	}
	return res, b.String()
}

func TestInfo(t *testing.T) {
	m := newTestModel(t, WithContextSize(256))
	got := m.Info()
	// K and V in F16: 2 layers × 256 positions × 2 KV heads × 32 dims.
	want := Info{Name: "engine-test", Arch: "llama", ContextLength: 512, ContextSize: 256, Slots: 1, KVBytes: 2 * 256 * 64 * 2 * 2, FileType: "Q8_0",
		Vocab: 400, Embedding: 128, Layers: 2, Heads: 4, KVHeads: 2, ChatTemplate: "chatml", Params: got.Params}
	if quant.Packing() {
		// Every matrix is Q8_0 with rows in sixteens: all of them packed,
		// as many bytes as they take in the file.
		want.PackedBytes = m.net.WeightBytes()
	}
	if got != want {
		t.Errorf("Info() = %+v, want %+v", got, want)
	}
	if got := newTestModel(t, WithContextSize(256), WithoutPacking()).Info().PackedBytes; got != 0 {
		t.Errorf("WithoutPacking: PackedBytes = %d, want 0", got)
	}
	if got.Params < 400*128 {
		t.Errorf("Params = %d, too few", got.Params)
	}
}

func TestGenerate(t *testing.T) {
	m := newTestModel(t)
	greedy := Request{Prompt: "once upon a time", MaxTokens: 12}
	first, _ := collect(t, m, greedy)
	if first.OutputTokens != 12 || first.FinishReason != FinishLength || first.InputTokens == 0 {
		t.Fatalf("greedy run: %+v", first)
	}
	for _, tc := range []struct {
		name string
		req  Request
		same bool // whether the text must equal the first greedy run's
	}{
		{name: "greedy again reuses the cached prefix", req: greedy, same: true},
		{name: "longer prompt sharing the prefix", req: Request{Prompt: "once upon a time there", MaxTokens: 12}},
		{name: "greedy after another prompt", req: greedy, same: true},
		{name: "seeded sampling", req: Request{Prompt: "hello world", MaxTokens: 10, Temperature: 0.9, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: 3}},
		{name: "chat messages", req: Request{Messages: []Message{{Role: "user", Content: "hello"}}, MaxTokens: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := collect(t, m, tc.req)
			if tc.same && a.Text != first.Text {
				t.Errorf("text %q, first run %q", a.Text, first.Text)
			}
			b, _ := collect(t, m, tc.req)
			if a != b {
				t.Errorf("not deterministic: %+v then %+v", a, b)
			}
		})
	}
}

func TestGenerateStop(t *testing.T) {
	m := newTestModel(t)
	base, _ := collect(t, m, Request{Prompt: "the model", MaxTokens: 16})
	if len(base.Text) < 6 {
		t.Fatalf("too little text to cut: %q", base.Text)
	}
	stop := base.Text[3:6]
	got, _ := collect(t, m, Request{Prompt: "the model", MaxTokens: 16, Stop: []string{stop}})
	want := base.Text[:strings.Index(base.Text, stop)]
	if got.Text != want || got.FinishReason != FinishStop {
		t.Errorf("with stop %q: %q (%s), want %q (stop)", stop, got.Text, got.FinishReason, want)
	}
}

func TestGenerateCancel(t *testing.T) {
	m := newTestModel(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	res, err := m.Generate(ctx, Request{Prompt: "hello", MaxTokens: 200}, func(string) error {
		n++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res.OutputTokens > 4 {
		t.Errorf("%d tokens generated after cancel", res.OutputTokens)
	}
	// The model stays usable.
	if r, _ := collect(t, m, Request{Prompt: "hello", MaxTokens: 3}); r.OutputTokens != 3 {
		t.Errorf("after cancel: %+v", r)
	}
}

func TestGenerateEmitError(t *testing.T) {
	m := newTestModel(t)
	boom := errors.New("client went away")
	_, err := m.Generate(context.Background(), Request{Prompt: "hello", MaxTokens: 50}, func(p string) error {
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the emit error", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	m := newTestModel(t, WithContextSize(16))
	for _, tc := range []struct {
		name string
		req  Request
		want error
	}{
		{name: "no prompt", req: Request{}, want: ErrInvalidRequest},
		{name: "negative max tokens", req: Request{Prompt: "a", MaxTokens: -1}, want: ErrInvalidRequest},
		{name: "min-p above one", req: Request{Prompt: "a", MinP: 2}, want: ErrInvalidRequest},
		{name: "prompt longer than the context", req: Request{Prompt: strings.Repeat("the model ", 20)}, want: ErrPromptTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Generate(context.Background(), tc.req, func(string) error { return nil })
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("context fills", func(t *testing.T) {
		res, _ := collect(t, m, Request{Prompt: "hello"})
		// The last token is sampled from the full context and never needs a slot.
		if res.FinishReason != FinishLength || res.InputTokens+res.OutputTokens != 17 {
			t.Errorf("%+v, want the 16-token context filled", res)
		}
	})
}

func TestConcurrentGenerate(t *testing.T) {
	m := newTestModel(t, WithSessions(2), WithThreads(1))
	want, _ := collect(t, m, Request{Prompt: "hello world", MaxTokens: 8})
	var wg sync.WaitGroup
	texts := make([]string, 4)
	errs := make([]error, 4)
	for i := range texts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := m.Generate(context.Background(), Request{Prompt: "hello world", MaxTokens: 8}, func(string) error { return nil })
			texts[i], errs[i] = r.Text, err
		}()
	}
	wg.Wait()
	for i := range texts {
		if errs[i] != nil || texts[i] != want.Text {
			t.Errorf("goroutine %d: %q, %v; want %q", i, texts[i], errs[i], want.Text)
		}
	}
}

func TestClosed(t *testing.T) {
	m := newTestModel(t)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Generate(context.Background(), Request{Prompt: "a"}, func(string) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("err = %v, want ErrClosed", err)
	}
}
