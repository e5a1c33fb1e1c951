package train

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorus-ai/chorus/engine"
	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/tokenizer"
)

// The shipped model lives outside the engine module, at the repository root.
var shippedDir = filepath.Join("..", "..", "models")

const shippedModel = "chorus-mini.gguf"

// TestShippedModelPerplexity scores the committed held-out sample (documents the model never
// trained on) and requires the model's perplexity to be well below the unigram baseline
// counted on the training split.
func TestShippedModelPerplexity(t *testing.T) {
	path := filepath.Join(shippedDir, shippedModel)
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatalf("the shipped model is missing: %v", err)
	}
	defer f.Close()
	m, err := llama.New(f, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(shippedDir, "unigram.json"))
	if err != nil {
		t.Fatal(err)
	}
	var u Unigram
	if err := json.Unmarshal(data, &u); err != nil {
		t.Fatal(err)
	}
	if len(u.Counts) != m.Config().Vocab {
		t.Fatalf("unigram counts for %d tokens, model has %d", len(u.Counts), m.Config().Vocab)
	}
	sample, err := os.Open(filepath.Join(shippedDir, "heldout-sample.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer sample.Close()
	// Documents are encoded as in training: each follows an end-of-text token.
	var ids []int32
	sc := bufio.NewScanner(sample)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var d struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tok.BOS())
		ids = append(ids, tok.EncodeLiteral(d.Text, false)...)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	model, unigram, err := Evaluate(m, &u, ids, m.Config().ContextLength)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tokens: model perplexity %.2f, unigram %.2f", model.Tokens, model.Perplexity(), unigram.Perplexity())
	if model.Tokens < 2000 {
		t.Errorf("held-out sample too small: %d tokens", model.Tokens)
	}
	if model.Perplexity() > 0.5*unigram.Perplexity() {
		t.Errorf("model perplexity %.2f is not well below the unigram baseline %.2f", model.Perplexity(), unigram.Perplexity())
	}
}

// TestShippedModelMatchesLlamaCpp compares greedy continuations with llama.cpp's llama-simple
// when CHORUS_LLAMA_CPP names its build/bin directory (llama.cpp is never part of the
// repository, so the test is skipped otherwise).
func TestShippedModelMatchesLlamaCpp(t *testing.T) {
	bin := os.Getenv("CHORUS_LLAMA_CPP")
	if bin == "" {
		t.Skip("set CHORUS_LLAMA_CPP to llama.cpp's build/bin to compare greedy output")
	}
	path := filepath.Join(shippedDir, shippedModel)
	m, err := engine.Load(path, engine.WithContextSize(256))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, prompt := range greedyPrompts {
		res, err := m.Generate(context.Background(), engine.Request{Prompt: prompt, MaxTokens: 32}, func(string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(filepath.Join(bin, "llama-simple"), "-m", path, "-n", "32", prompt).Output()
		if err != nil {
			t.Fatalf("llama-simple: %v", err)
		}
		// llama-simple prints the prompt (with its BOS token's text) and then the continuation.
		got := strings.TrimPrefix(string(out), "<|endoftext|>")
		if want := prompt + res.Text; !strings.HasPrefix(got, want) {
			t.Errorf("prompt %q:\nengine    %q\nllama.cpp %q", prompt, want, got)
		}
	}
}

var greedyPrompts = []string{"Title: The sea\n\n", "Title: A hacker\n\nA hacker is", "And God said,"}
