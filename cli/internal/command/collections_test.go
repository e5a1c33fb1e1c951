package command

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"
)

func TestReadDocuments(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	files := map[string]string{
		"README.md":          "Intro text.\n\n# Chorus\n\nRun make test.",
		"docs/guide.md":      "No heading here.",
		"docs/notes.txt":     "Plain notes.",
		"docs/image.png":     "\x89PNG",
		"docs/empty.md":      " \n",
		"docs/.hidden/x.md":  "# Hidden",
		"docs/binary.txt":    "bad \xff bytes",
		"docs/sub/deep.text": "Deep.",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "far.md"), []byte("# Far away\nText."), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var stderr bytes.Buffer
	docs, err := readDocuments(Env{Stderr: &stderr}, []string{"README.md", "docs", filepath.Join(outside, "far.md"), "./README.md"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, fmt.Sprintf("%s|%s|%s", d.GetId(), d.GetMetadata()["path"], d.GetMetadata()["title"]))
	}
	want := []string{
		"README.md|README.md|Chorus",
		"docs/guide.md|docs/guide.md|guide",
		"docs/notes.txt|docs/notes.txt|notes",
		"docs/sub/deep.text|docs/sub/deep.text|deep",
		"far.md|far.md|Far away",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("documents:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := stderr.String(); !strings.Contains(s, "skipped docs/binary.txt: not UTF-8 text") || !strings.Contains(s, "skipped docs/empty.md: empty") {
		t.Errorf("warnings %q", s)
	}
	// A file named itself must be readable text.
	if _, err := readDocuments(Env{Stderr: &stderr}, []string{"docs/binary.txt"}); err == nil {
		t.Error("a named binary file: no error")
	}
	if _, err := readDocuments(Env{Stderr: &stderr}, []string{"missing.md"}); err == nil {
		t.Error("a missing file: no error")
	}
}

func TestBatches(t *testing.T) {
	var docs []*retrievalv1.Document
	for i := range 130 {
		docs = append(docs, &retrievalv1.Document{Id: fmt.Sprint(i), Text: "x"})
	}
	big := strings.Repeat("y", addBatchBytes/2)
	docs = append(docs, &retrievalv1.Document{Id: "big1", Text: big}, &retrievalv1.Document{Id: "big2", Text: big})
	var sizes []int
	n := 0
	for _, b := range batches(docs) {
		sizes = append(sizes, len(b))
		n += len(b)
	}
	if fmt.Sprint(sizes) != "[64 64 3 1]" || n != len(docs) {
		t.Errorf("batch sizes %v (%d docs), want [64 64 3 1]", sizes, n)
	}
	// Escapes count: a text of newlines is twice as long in JSON.
	lines := strings.Repeat("\n", addBatchBytes/3)
	if b := batches([]*retrievalv1.Document{{Id: "a", Text: lines}, {Id: "b", Text: lines}}); len(b) != 2 {
		t.Errorf("two documents of %d newlines went in %d batches, want 2", len(lines), len(b))
	}
}
