package bpe

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFileRoundTrip(t *testing.T) {
	c := NewCounter()
	c.Add("the cat sat on the mat, the cat sat")
	v, err := Train(c, 270)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "run", "tokenizer.json")
	if err := v.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Tokens, v.Tokens) || !slices.Equal(got.Merges, v.Merges) || !slices.Equal(got.Types, v.Types) || got.EOT != v.EOT {
		t.Errorf("read back a different vocabulary: %d tokens, %d merges, EOT %d; want %d, %d, %d",
			len(got.Tokens), len(got.Merges), got.EOT, len(v.Tokens), len(v.Merges), v.EOT)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil {
		t.Error("ReadFile of a truncated file succeeded")
	}
}
