package transform

import (
	"errors"
	"strings"
	"testing"
)

const story = "The owl woke at dusk. It flew over the dark wood. A fox watched from below. " +
	"The fox called to the owl. They spoke of the moon. At dawn the owl slept again."

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		op, text, want string
	}{
		{op: "split_sentences", text: "One. Two! Three?", want: "One.\nTwo!\nThree?"},
		{op: "split_scenes 3", text: story, want: "The owl woke at dusk. It flew over the dark wood.\n" +
			"A fox watched from below. The fox called to the owl.\nThey spoke of the moon. At dawn the owl slept again."},
		{op: "split_scenes 1", text: "One. Two.", want: "One. Two."},
		{op: "split_scenes 5", text: "One. Two.", want: "One.\nTwo."},
		{op: "split_scenes 2", text: "", want: ""},
		{op: "take 2", text: "a\n\n b \nc", want: "a\nb"},
		{op: "take 9", text: "a\nb", want: "a\nb"},
		{op: "join", text: "a\n b\n\nc", want: "a b c"},
		{op: "template", text: " as is \n", want: " as is \n"},
		{op: "extract 2", text: story, want: "The fox called to the owl. At dawn the owl slept again."},
		{op: "extract 9", text: "One. Two.", want: "One. Two."},
		{op: "enumerate 3", text: "ignored", want: "1\n2\n3"},
		{op: "repeat 2", text: "a\n\n b \nc", want: "a\na\nb\nb\nc\nc"},
	} {
		t.Run(tc.op, func(t *testing.T) {
			op, err := Parse(tc.op)
			if err != nil {
				t.Fatal(err)
			}
			if got := op.Apply(tc.text); got != tc.want {
				t.Errorf("%s(%q)\n got %q\nwant %q", tc.op, tc.text, got, tc.want)
			}
		})
	}
}

func TestSplitScenesKeepsEveryWordInOrder(t *testing.T) {
	text := strings.Repeat(story+" ", 7)
	for n := 1; n <= 12; n++ {
		op, _ := Parse("split_scenes " + string(rune('0'+n%10)))
		if n >= 10 {
			op = Op{Name: SplitScenes, N: n}
		}
		got := strings.Split(op.Apply(text), "\n")
		if len(got) != n {
			t.Errorf("split_scenes %d made %d scenes", n, len(got))
		}
		if strings.Join(got, " ") != strings.TrimSpace(text) {
			t.Errorf("split_scenes %d lost or reordered text", n)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "split", "take", "take x", "take 0", "take 10001", "join 2", "split_scenes 2 3", "enumerate", "repeat 0"} {
		if _, err := Parse(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", s, err)
		}
	}
}
