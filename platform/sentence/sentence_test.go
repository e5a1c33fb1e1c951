package sentence

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{name: "empty", text: "", want: nil},
		{name: "only space", text: " \n\t ", want: nil},
		{name: "one without period", text: "Hello world", want: []string{"Hello world"}},
		{name: "two", text: "Hello world. How are you?", want: []string{"Hello world.", "How are you?"}},
		{name: "exclamation and question", text: "Really?! Yes! Fine.", want: []string{"Really?!", "Yes!", "Fine."}},
		{name: "titles", text: "Mr. Smith met Dr. Jones and Mrs. Lee. They talked.", want: []string{"Mr. Smith met Dr. Jones and Mrs. Lee.", "They talked."}},
		{name: "e.g. and i.e.", text: "Eat fruit, e.g. Apples, i.e. The red ones. Then rest.", want: []string{"Eat fruit, e.g. Apples, i.e. The red ones.", "Then rest."}},
		{name: "U.S. mid sentence", text: "The U.S. economy grew. It was good.", want: []string{"The U.S. economy grew.", "It was good."}},
		{name: "U.S. at end", text: "He moved to the U.S. Then he worked.", want: []string{"He moved to the U.S.", "Then he worked."}},
		{name: "decimals", text: "Pi is 3.14 roughly. Version 2.0.1 shipped.", want: []string{"Pi is 3.14 roughly.", "Version 2.0.1 shipped."}},
		{name: "number ends sentence", text: "It cost 5. Then it rose.", want: []string{"It cost 5.", "Then it rose."}},
		{name: "ellipsis continues", text: "Well... maybe later. Or not.", want: []string{"Well... maybe later.", "Or not."}},
		{name: "ellipsis ends", text: "Wait... What was that?", want: []string{"Wait...", "What was that?"}},
		{name: "unicode ellipsis", text: "Hmm… Fine.", want: []string{"Hmm…", "Fine."}},
		{name: "closing quote", text: `He said "Stop." Then he left.`, want: []string{`He said "Stop."`, "Then he left."}},
		{name: "curly quote and bracket", text: "She shouted “Run!” (Twice.) Everyone ran.", want: []string{"She shouted “Run!”", "(Twice.)", "Everyone ran."}},
		{name: "quote then lower case", text: `"Help!" she cried. Nobody came.`, want: []string{`"Help!" she cried.`, "Nobody came."}},
		{name: "next starts with quote", text: `It was late. "Go home," he said.`, want: []string{"It was late.", `"Go home," he said.`}},
		{name: "newline is a boundary", text: "Title\nFirst line of text", want: []string{"Title", "First line of text"}},
		{name: "paragraphs", text: "One para.\n\nTwo para\r\n\r\nThree", want: []string{"One para.", "Two para", "Three"}},
		{name: "list numbers", text: "1. Buy milk\n2. Walk the dog.", want: []string{"1. Buy milk", "2. Walk the dog."}},
		{name: "initials", text: "J. R. R. Tolkien wrote books. So did I. Really.", want: []string{"J. R. R. Tolkien wrote books.", "So did I.", "Really."}},
		{name: "numbered abbreviation", text: "See Fig. 3 for details. Say no. No one listened.", want: []string{"See Fig. 3 for details.", "Say no.", "No one listened."}},
		{name: "whitespace collapsed", text: "Too   many\tspaces.   Next.", want: []string{"Too many spaces.", "Next."}},
		{name: "punctuation only dropped", text: "Hi.\n---\n... Bye.", want: []string{"Hi.", "Bye."}},
		{name: "cjk full stops", text: "你好。我很好！谢谢？", want: []string{"你好。", "我很好！", "谢谢？"}},
		{name: "markdown emphasis", text: "**Done.** Next one. _See **Dr.** Who._ Fin", want: []string{"**Done.**", "Next one.", "_See **Dr.** Who._", "Fin"}},
		{name: "trailing period", text: "The end.", want: []string{"The end."}},
		{name: "trailing spaces", text: "The end.   ", want: []string{"The end."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Split(tt.text); !slices.Equal(got, tt.want) {
				t.Errorf("Split(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
			// Every way of streaming the text gives the same sentences.
			for _, size := range []int{1, 2, 3, 7} {
				if got := streamed(tt.text, size); !slices.Equal(got, tt.want) {
					t.Errorf("streamed in %d-byte pieces\n got %q\nwant %q", size, got, tt.want)
				}
			}
		})
	}
}

func TestRunOn(t *testing.T) {
	clause := "and the river kept running past the town, "
	long := strings.Repeat(clause, 20) + "until it stopped."
	got := Split(long)
	if len(got) < 2 {
		t.Fatalf("a %d-character run-on stayed one sentence", len(long))
	}
	for i, s := range got {
		if n := utf8.RuneCountInString(s); n > MaxLen {
			t.Errorf("sentence %d has %d characters, over %d", i, n, MaxLen)
		}
		if i < len(got)-1 && !strings.HasSuffix(s, ",") {
			t.Errorf("sentence %d was not cut at a clause boundary: ...%q", i, s[len(s)-20:])
		}
	}
	if strings.Join(got, " ") != strings.TrimSpace(long) {
		t.Errorf("cutting lost or changed text")
	}

	// No clause marks: cut at a space; no spaces at all: cut anyway.
	words := strings.Repeat("word ", 100)
	spaced := Split(words)
	if strings.Join(spaced, " ") != strings.TrimSpace(words) {
		t.Errorf("cutting spaced text lost or changed text: %d pieces", len(spaced))
	}
	for _, s := range spaced {
		if strings.HasPrefix(s, "ord") || utf8.RuneCountInString(s) > MaxLen {
			t.Errorf("bad cut of spaced text: %q", s)
		}
	}
	blob := strings.Repeat("x", 1000)
	if got := Split(blob); len(got) != 4 || strings.Join(got, "") != blob {
		t.Errorf("unspaced text cut into %d pieces", len(got))
	}
}

func TestSplitterStreamsEarly(t *testing.T) {
	var sp Splitter
	steps := []struct {
		piece string
		want  []string
	}{
		{piece: "Hello there", want: nil},
		{piece: ". How", want: []string{"Hello there."}},
		{piece: " are you", want: nil},
		{piece: "?", want: nil}, // the next word may be lower case
		{piece: "\n", want: []string{"How are you?"}},
		{piece: "Dr.", want: nil},
		{piece: " Who", want: nil},
	}
	for i, st := range steps {
		if got := sp.Write(st.piece); !slices.Equal(got, st.want) {
			t.Errorf("step %d: Write(%q) = %q, want %q", i, st.piece, got, st.want)
		}
	}
	if got := sp.Flush(); got != "Dr. Who" {
		t.Errorf("Flush() = %q, want %q", got, "Dr. Who")
	}
	if got := sp.Flush(); got != "" {
		t.Errorf("second Flush() = %q, want empty", got)
	}
	if got := sp.Write("Reused. Yes"); !slices.Equal(got, []string{"Reused."}) {
		t.Errorf("after Flush, Write = %q", got)
	}
}

func TestSplitUTF8AcrossPieces(t *testing.T) {
	text := "Café au lait. Über alles. 你好。再见"
	want := Split(text)
	if got := streamed(text, 1); !slices.Equal(got, want) {
		t.Errorf("byte-by-byte %q, whole %q", got, want)
	}
	for _, s := range want {
		if !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8 in %q", s)
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"Hello. World", "Mr. X... y? Z!", "3.14. 1. A", "“Hi!” he said.\n\nOK", strings.Repeat("a, ", 200), "\xe4\xbd. x"} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, text string, size uint8) {
		whole := Split(text)
		if got := streamed(text, int(size%17)+1); !slices.Equal(got, whole) {
			t.Fatalf("streamed %q, whole %q", got, whole)
		}
		for _, s := range whole {
			if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxLen+2*maxRun {
				t.Fatalf("bad sentence %q", s)
			}
		}
	})
}

func streamed(text string, size int) []string {
	var sp Splitter
	var out []string
	for i := 0; i < len(text); i += size {
		out = append(out, sp.Write(text[i:min(i+size, len(text))])...)
	}
	if rest := sp.Flush(); rest != "" {
		out = append(out, rest)
	}
	return out
}

// Pending is the sentence in progress: what Write has not returned yet,
// a suffix of what was written, whatever punctuation it holds.
func TestPending(t *testing.T) {
	var sp Splitter
	got := sp.Write("One. He met Dr. Smi")
	if len(got) != 1 || got[0] != "One." {
		t.Fatalf("Write returned %q, want [One.]", got)
	}
	if p := sp.Pending(); p != "He met Dr. Smi" {
		t.Errorf("Pending() = %q, want %q", p, "He met Dr. Smi")
	}
	sp.Flush()
	if p := sp.Pending(); p != "" {
		t.Errorf("Pending() after Flush = %q, want empty", p)
	}
}
