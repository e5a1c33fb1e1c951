package train

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// The held-out figures the model card (models/README.md) records for the committed sample: a
// regression of the model, the tokenizer or the engine's forward pass moves them.
const (
	recordedPerplexity = 56.64
	recordedUnigram    = 899.93
	// perplexityMargin is how far above the recorded perplexity the shipped model may score:
	// enough for float summation order (kernels differ by CPU), far less than a worse model.
	perplexityMargin = 0.15
)

// checkPerplexity fails a model that scores more than perplexityMargin above the recorded
// perplexity, or more than that below it (a better model, or a different sample: record it).
func checkPerplexity(ppl float64) error {
	if lo, hi := recordedPerplexity*(1-perplexityMargin), recordedPerplexity*(1+perplexityMargin); ppl < lo || ppl > hi {
		return fmt.Errorf("perplexity %.2f on the held-out sample, want %.2f to %.2f (models/README.md records %.2f; a better model updates the record)",
			ppl, lo, hi, recordedPerplexity)
	}
	return nil
}

// TestShippedModelPerplexity scores the committed held-out sample (documents the model never
// trained on) and requires the model's perplexity to be the one the model card records.
func TestShippedModelPerplexity(t *testing.T) {
	f, err := gguf.Open(filepath.Join(shippedDir, shippedModel))
	if err != nil {
		t.Fatalf("the shipped model is missing: %v", err)
	}
	defer f.Close()
	model, unigram := heldoutScores(t, f)
	t.Logf("%d tokens: model perplexity %.2f, unigram %.2f", model.Tokens, model.Perplexity(), unigram.Perplexity())
	if model.Tokens < 2000 {
		t.Errorf("held-out sample too small: %d tokens", model.Tokens)
	}
	// The baseline needs no engine: it moves only with the sample or the tokenizer.
	if u := unigram.Perplexity(); math.Abs(u-recordedUnigram) > 0.01*recordedUnigram {
		t.Errorf("unigram perplexity %.2f, models/README.md records %.2f", u, recordedUnigram)
	}
	if err := checkPerplexity(model.Perplexity()); err != nil {
		t.Error(err)
	}
}

// TestPerplexityCheckFailsWorseModels perturbs the shipped model's weights with noise and
// requires checkPerplexity to reject the result: a model the old bound (half the unigram
// baseline) accepted must fail.
func TestPerplexityCheckFailsWorseModels(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(shippedDir, shippedModel))
	if err != nil {
		t.Fatalf("the shipped model is missing: %v", err)
	}
	for _, tc := range []struct {
		name  string
		noise int8 // the largest change to a Q8_0 quant (of -127..127)
	}{
		{name: "about 1.3x worse", noise: 16},
		// Measured at 383.7, below half the unigram baseline (450): the old bound passed it.
		{name: "about 7x worse", noise: 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := gguf.Parse(perturbed(t, data, tc.noise))
			if err != nil {
				t.Fatal(err)
			}
			model, unigram := heldoutScores(t, f)
			ppl := model.Perplexity()
			t.Logf("noise ±%d: perplexity %.2f (%.1fx the recorded %.2f), unigram %.2f", tc.noise, ppl, ppl/recordedPerplexity, recordedPerplexity, unigram.Perplexity())
			if checkPerplexity(ppl) == nil {
				t.Errorf("checkPerplexity accepted the perturbed model's perplexity %.2f", ppl)
			}
		})
	}
}

// perturbed returns a copy of the GGUF file data with uniform noise of at most ±noise added
// to every Q8_0 quant (scales untouched), from a fixed seed.
func perturbed(t *testing.T, data []byte, noise int8) []byte {
	t.Helper()
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	out := slices.Clone(data)
	rng := rand.New(rand.NewPCG(1, uint64(noise)))
	var changed int
	for _, ti := range f.Tensors() {
		if ti.Type != gguf.Q8_0 {
			continue
		}
		block := gguf.Q8_0.BlockBytes()
		quants := out[f.DataStart+ti.Offset : f.DataStart+ti.Offset+ti.Size]
		for b := 0; b < len(quants); b += block {
			for i := b + 2; i < b+block; i++ { // after the block's fp16 scale
				q := int(int8(quants[i])) + rng.IntN(2*int(noise)+1) - int(noise)
				quants[i] = byte(int8(max(-127, min(127, q))))
				changed++
			}
		}
	}
	if changed == 0 {
		t.Fatal("the model has no Q8_0 tensors to perturb")
	}
	return out
}

// heldoutScores scores f on the committed held-out sample, as `train eval` scores the split.
func heldoutScores(t *testing.T, f *gguf.File) (model, unigram Score) {
	t.Helper()
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
	model, unigram, err = Evaluate(m, &u, ids, m.Config().ContextLength)
	if err != nil {
		t.Fatal(err)
	}
	return model, unigram
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
