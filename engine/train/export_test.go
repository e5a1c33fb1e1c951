package train

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorus-ai/chorus/engine/bpe"
	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/llama"
	"github.com/chorus-ai/chorus/engine/quant"
)

const sampleText = `In the beginning God created the heaven and the earth. And the earth was without form,
and void; and darkness was upon the face of the deep. A hacker is a person who enjoys exploring the
details of programmable systems and how to stretch their capabilities. The quick brown fox jumps over
the lazy dog, again and again, while 42 cats watch from the fence.`

// tinyVocab trains a small tokenizer so exported test models carry a real gpt2 vocabulary.
func tinyVocab(t testing.TB, size int) *bpe.Vocab {
	t.Helper()
	c := bpe.NewCounter()
	for _, line := range strings.Split(sampleText, "\n") {
		c.Add(line)
	}
	v, err := bpe.Train(c, size)
	if err != nil {
		t.Fatal(err)
	}
	// Pad with unused merges' worth of tokens is not possible; trim the config instead.
	return v
}

// TestExportMatchesEngine exports a random model as F32 and checks that the engine's forward
// pass (engine/llama over the GGUF mapping) gives the trainer's logits at every position.
func TestExportMatchesEngine(t *testing.T) {
	v := tinyVocab(t, 300)
	c := tinyConfig
	c.Vocab = len(v.Tokens)
	c.Context = 32
	params := randomState(t, c, 11)
	// Keep the logits in a realistic range for the engine's half-precision KV cache.
	p := View(c, params)
	for i := range p.Embed {
		p.Embed[i] *= 0.5
	}
	tok, err := v.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	ids := append([]int32{v.EOT}, tok.EncodeLiteral("In the beginning the quick fox", false)...)
	if len(ids) < 5 {
		t.Fatalf("only %d tokens", len(ids))
	}
	want := Logits(c, params, ids)

	for _, tc := range []struct {
		typ quant.Type
		tol float64 // of the logit range
	}{{typ: quant.F32, tol: 0.01}, {typ: quant.F16, tol: 0.02}, {typ: quant.Q8_0, tol: 0.05}} {
		w, err := Export(c, params, v, ExportOptions{Name: "test", Type: tc.typ})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "m.gguf")
		if err := w.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := llama.New(f, llama.Options{Threads: 1})
		if err != nil {
			f.Close()
			t.Fatal(err)
		}
		s := m.NewSession(c.Context)
		got, err := s.DecodeAll(ids)
		s.Close()
		if err != nil {
			f.Close()
			t.Fatal(err)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, x := range want {
			lo, hi = math.Min(lo, float64(x)), math.Max(hi, float64(x))
		}
		var worst float64
		for i := range want {
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		}
		if worst > tc.tol*(hi-lo) {
			t.Errorf("%v: engine and trainer logits differ by up to %g (logit range %g)", tc.typ, worst, hi-lo)
		}
		t.Logf("%v: max |engine − trainer| = %.3g over a logit range of %.3g", tc.typ, worst, hi-lo)
		f.Close()
	}
}
