package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chorus-ai/chorus/engine/gguf"
)

// TestLlamaCppVocabs checks Encode against llama.cpp's own tokenizer test vectors
// (models/ggml-vocab-*.gguf with .inp and .out files, encoded without special tokens). It runs
// only when CHORUS_LLAMACPP_MODELS names that directory, since the files are not ours to commit.
func TestLlamaCppVocabs(t *testing.T) {
	dir := os.Getenv("CHORUS_LLAMACPP_MODELS")
	if dir == "" {
		t.Skip("CHORUS_LLAMACPP_MODELS not set")
	}
	paths, err := filepath.Glob(filepath.Join(dir, "ggml-vocab-*.gguf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no ggml-vocab-*.gguf in CHORUS_LLAMACPP_MODELS=%s (%v)", dir, err)
	}
	// Vocabularies without test vectors or of a kind the tokenizer does not load are skipped,
	// but at least one must be compared.
	compared := 0
	t.Cleanup(func() {
		if compared == 0 {
			t.Errorf("none of the %d vocabularies in %s was compared", len(paths), dir)
		}
	})
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			inp, err1 := os.ReadFile(path + ".inp")
			out, err2 := os.ReadFile(path + ".out")
			if err1 != nil || err2 != nil {
				t.Skip("no test vectors")
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tok, err := FromGGUF(f)
			if err != nil {
				t.Skip(err)
			}
			const sep = "\n__ggml_vocab_test__\n"
			texts := strings.Split(string(inp), sep)
			if texts[len(texts)-1] == "" {
				texts = texts[:len(texts)-1]
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if len(lines) != len(texts) {
				t.Fatalf("%d inputs, %d outputs", len(texts), len(lines))
			}
			compared++
			fails := 0
			for i, text := range texts {
				var want []int32
				for _, f := range strings.Fields(lines[i]) {
					n, _ := strconv.Atoi(f)
					want = append(want, int32(n))
				}
				got := tok.EncodeLiteral(text, false)
				if !slices.Equal(got, want) {
					fails++
					if fails <= 5 {
						t.Errorf("%q:\n got %v\nwant %v", text, got, want)
					}
				}
			}
			if fails > 0 {
				t.Errorf("%d of %d differ", fails, len(texts))
			}
		})
	}
}
