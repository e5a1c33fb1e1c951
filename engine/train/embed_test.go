package train

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/chorus-ai/chorus/engine"
	"github.com/chorus-ai/chorus/engine/quant"
)

// exportEmbedding writes a random model as an embedding model with the given pooling and
// loads it in the engine.
func exportEmbedding(t *testing.T, pooling Pooling, ctx int) (*engine.Model, Config, []float32) {
	t.Helper()
	v := tinyVocab(t, 300)
	c := tinyConfig
	c.Vocab = len(v.Tokens)
	c.Context = ctx
	params := randomState(t, c, 21)
	w, err := Export(c, params, v, ExportOptions{Name: "embed-test", Type: quant.F32, Pooling: pooling})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "e.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if ok, err := engine.IsEmbeddingModel(path); ok != (pooling != PoolingNone) || err != nil {
		t.Fatalf("IsEmbeddingModel = %v, %v", ok, err)
	}
	m, err := engine.Load(path, engine.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, c, params
}

// TestEngineEmbedMatchesTrainer checks that the engine's Embed (engine/llama's hidden states,
// mean pooling from the GGUF's llama.pooling_type, L2 normalisation) gives the vector the
// contrastive trainer optimises, for the same tokens.
func TestEngineEmbedMatchesTrainer(t *testing.T) {
	m, c, params := exportEmbedding(t, PoolingMean, 32)
	if m.Info().Pooling != engine.PoolingMean {
		t.Fatalf("pooling = %v", m.Info().Pooling)
	}
	text := "In the beginning the quick fox"
	got, err := m.Embed(context.Background(), text, false)
	if err != nil {
		t.Fatal(err)
	}
	want := Embed(c, params, m.Encode(text))
	if got.Tokens != len(m.Encode(text)) || got.Truncated {
		t.Errorf("tokens %d truncated %v", got.Tokens, got.Truncated)
	}
	if cos := dot(got.Vector, want); cos < 0.999 {
		t.Errorf("cosine(engine, trainer) = %.5f", cos)
	}
	if n := dot(got.Vector, got.Vector); n < 0.999 || n > 1.001 {
		t.Errorf("|v|² = %.5f, want 1", n)
	}
	other, err := m.Embed(context.Background(), "darkness was upon the face of the deep", false)
	if err != nil {
		t.Fatal(err)
	}
	if cos := dot(got.Vector, other.Vector); cos > 0.999 {
		t.Errorf("two different texts embed alike (cosine %.5f)", cos)
	}
}

func TestEngineEmbedLimits(t *testing.T) {
	m, _, _ := exportEmbedding(t, PoolingLast, 8)
	long := "The quick brown fox jumps over the lazy dog, again and again, while 42 cats watch from the fence."
	if _, err := m.Embed(context.Background(), long, false); !errors.Is(err, engine.ErrInputTooLong) {
		t.Errorf("a text over the context: %v, want ErrInputTooLong", err)
	}
	e, err := m.Embed(context.Background(), long, true)
	if err != nil || !e.Truncated || e.Tokens != 8 {
		t.Errorf("truncated: %+v, %v", e, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Embed(ctx, "the fox", false); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	gen, _, _ := exportEmbedding(t, PoolingNone, 8)
	if _, err := gen.Embed(context.Background(), "the fox", false); !errors.Is(err, engine.ErrNotEmbedding) {
		t.Errorf("a generative model: %v, want ErrNotEmbedding", err)
	}
}
