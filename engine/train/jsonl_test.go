package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadJSONL(t *testing.T) {
	type rec struct {
		Text string `json:"text"`
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	if err := os.WriteFile(good, []byte("{\"text\":\"a\"}\n{\"text\":\"b\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSONL[rec](good, "")
	if err != nil || len(got) != 2 || got[0].Text != "a" || got[1].Text != "b" {
		t.Fatalf("ReadJSONL = %v, %v; want [a b]", got, err)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"text\":\"a\"}\n{\"text\":\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadJSONL[rec](bad, ""); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2:") {
		t.Errorf("a bad second line gave %v; want an error naming bad.jsonl:2", err)
	}
	if _, err := ReadJSONL[rec](filepath.Join(dir, "missing.jsonl"), "make corpus"); err == nil || !strings.HasSuffix(err.Error(), "(make corpus)") {
		t.Errorf("a missing file gave %v; want the hint appended", err)
	}
}
