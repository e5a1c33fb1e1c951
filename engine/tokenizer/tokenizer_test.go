package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chorus-ai/chorus/engine/gguf"
)

// load opens a committed test vocabulary.
func load(tb testing.TB, file string) *Tokenizer {
	tb.Helper()
	f, err := gguf.Open(filepath.Join("testdata", file))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	tok, err := FromGGUF(f)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestMatchesLlamaCpp compares Encode with the ids llama.cpp's llama-tokenize produced for the
// same files (testdata/llama_tokenize.json, see TestGenerateTestdata).
func TestMatchesLlamaCpp(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "llama_tokenize.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]expectation
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	for _, v := range testVocabs {
		t.Run(v.file, func(t *testing.T) {
			exps := want[v.file]
			if len(exps) == 0 {
				t.Fatal("no expectations")
			}
			tok := load(t, v.file)
			for _, e := range exps {
				got := tok.Encode(e.Text, e.AddSpecial)
				if !slices.Equal(got, e.IDs) && !(len(got) == 0 && len(e.IDs) == 0) {
					t.Errorf("Encode(%q, %v):\n got %v\nwant %v", e.Text, e.AddSpecial, got, e.IDs)
				}
			}
		})
	}
}

// TestTestdataUpToDate guards against the generator and the committed files drifting apart.
func TestTestdataUpToDate(t *testing.T) {
	for _, v := range testVocabs {
		want, err := os.ReadFile(filepath.Join("testdata", v.file))
		if err != nil {
			t.Fatal(err)
		}
		var got bytesBuffer
		if _, err := v.build(t).WriteTo(&got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.b, want) {
			t.Errorf("%s differs from its generator; run TestGenerateTestdata", v.file)
		}
	}
}

type bytesBuffer struct{ b []byte }

func (w *bytesBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
