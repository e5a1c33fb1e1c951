package transform

import (
	"strings"
	"testing"
)

func TestFormatPassages(t *testing.T) {
	got := FormatPassages([]Passage{{Document: "README.md", Text: "Run  make test.\nIt takes a minute."}, {Document: "docs/a b.md", Text: "## Other\nOther."}})
	want := "[1] README.md\nRun make test.\nIt takes a minute.\n\n[2] docs/a b.md\n## Other\nOther."
	if got != want {
		t.Errorf("FormatPassages = %q, want %q", got, want)
	}
}

func TestCite(t *testing.T) {
	passages := FormatPassages([]Passage{
		{Document: "README.md", Text: "Chorus is a suite of services. Lint with make lint. Run make test to run the tests.\nmake demo # build and run the demo"},
		{Document: "docs/cli.md", Text: "The chorus command starts the stack. Tests of the CLI start real processes."},
		{Document: "docs/api.md", Text: "The gateway serves REST."},
	})
	tests := []struct {
		name, text string
		n          int
		want       string
	}{
		{
			name: "the sentences sharing most of the question's words, in order, cited", text: "How do I run the tests?\n" + passages, n: 2,
			want: "Run make test to run the tests. make demo # build and run the demo [1]\n\nTests of the CLI start real processes. [2]\n\nSources:\n[1] README.md\n[2] docs/cli.md",
		},
		{
			name: "no shared word: the first sentence", text: "Where is the gateway?\n" + passages, n: 1,
			want: "Chorus is a suite of services. [1]\n\nSources:\n[1] README.md",
		},
		{name: "no passages", text: "How do I run the tests?", n: 3, want: "No passage of the collection matches the question."},
	}
	for _, tt := range tests {
		if got := cite(tt.text, tt.n); got != tt.want {
			t.Errorf("%s: cite = %q, want %q", tt.name, got, tt.want)
		}
	}
	op, err := Parse("cite 2")
	if err != nil || op.Apply("run tests\n"+passages) != cite("run tests\n"+passages, 2) {
		t.Errorf("Parse(cite 2) = %+v, %v; Apply does not cite", op, err)
	}
	if op, err := Parse("retrieve docs 5"); err != nil || op.Arg != "docs" || op.N != 5 {
		t.Errorf("Parse(retrieve docs 5) = %+v, %v", op, err)
	}
	for _, bad := range []string{"retrieve docs", "retrieve docs 0", "retrieve 5", "cite", "cite x"} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "invalid transform") {
			t.Errorf("Parse(%q) = %v, want an error", bad, err)
		}
	}
}

func TestUncite(t *testing.T) {
	for in, want := range map[string]string{
		"Run make test [1]. It is quick [1, 2].\n\nOther [3]\n\nSources:\n[1] README.md\n[2] a.md": "Run make test. It is quick.\n\nOther",
		"No citations here.": "No citations here.",
		"":                   "",
	} {
		if got := uncite(in); got != want {
			t.Errorf("uncite(%q) = %q, want %q", in, got, want)
		}
	}
}
