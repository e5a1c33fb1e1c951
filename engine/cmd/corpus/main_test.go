package main

import (
	"slices"
	"testing"
)

func TestNormalise(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{in: "  “Quoted”  —  text\t here ", want: `"Quoted" -- text here`},
		{in: "one\n\n\n\ntwo\n  three  ", want: "one\n\ntwo\nthree"},
		{in: "bell\x07 and \u00a0space", want: "bell and space"},
	} {
		if got := normalise(tc.in); got != tc.want {
			t.Errorf("normalise(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestShuffleIsSeeded(t *testing.T) {
	docs := func() []Doc {
		var d []Doc
		for _, s := range []string{"a", "b", "c", "d", "e", "f", "g"} {
			d = append(d, Doc{Text: s})
		}
		return d
	}
	a, b, c := docs(), docs(), docs()
	shuffle(a, 1)
	shuffle(b, 1)
	shuffle(c, 2)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different orders")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same order")
	}
}

func TestSentence(t *testing.T) {
	if got := sentence("a period of time"); got != "A period of time." {
		t.Errorf("sentence = %q", got)
	}
	if got := sentence("is it?"); got != "Is it?" {
		t.Errorf("sentence = %q", got)
	}
}
