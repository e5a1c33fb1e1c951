package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
)

// A call that panics (here its emit callback) fails with ErrInternal, and its session is not
// given to the next call: the slot is empty, so the next call builds a fresh session, and that
// call generates what the first call would have.
func TestPanicDiscardsSession(t *testing.T) {
	m := newTestModel(t, WithContextSize(256))
	req := Request{Prompt: "hello there", MaxTokens: 8, Temperature: 0.8, Seed: 3}
	want, _ := collect(t, m, req)

	emitted := 0
	_, err := m.Generate(context.Background(), req, func(string) error {
		if emitted++; emitted == 2 {
			panic("emit failed")
		}
		return nil
	})
	if !errors.Is(err, ErrInternal) {
		t.Fatalf("a panicking call returned %v, want ErrInternal", err)
	}
	if s := <-m.slots; s != nil {
		t.Fatal("the session of a call that panicked went back to the pool")
	} else {
		m.slots <- s
	}
	if got, _ := collect(t, m, req); got.Text != want.Text {
		t.Errorf("after the panic: %q, want %q", got.Text, want.Text)
	}
}

// A model file truncated while the model is loaded: the next call reads weights that are no
// longer there. Without the fault guard the process dies of SIGBUS; with it the call fails
// with ErrInternal wrapping gguf.ErrFault, and the test goes on.
func TestTruncatedModelFileFailsTheCall(t *testing.T) {
	sp := llama.Synthetic{Name: "truncated", Embedding: 128, Blocks: 2, FFN: 256, Heads: 4, KVHeads: 2,
		Context: 512, Vocab: 400, Type: quant.Q8_0, Seed: 7}
	w, err := sp.Build()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	_, err = m.Generate(context.Background(), Request{Prompt: "hello", MaxTokens: 4}, func(string) error { return nil })
	if !errors.Is(err, ErrInternal) || !errors.Is(err, gguf.ErrFault) {
		t.Fatalf("generating from a truncated file: %v, want ErrInternal wrapping gguf.ErrFault", err)
	}
}
