package subcmd

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var got []string
	cmds := []Command{
		{Name: "fit", Run: func(args []string) error { got = args; return nil }},
		{Name: "eval", Run: func([]string) error { return errors.New("no checkpoint") }},
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"fit", "-steps", "3"}, 0, ""},
		{[]string{"eval"}, 1, "train: no checkpoint\n"},
		{nil, 2, "usage: train fit|eval [flags]\n"},
		{[]string{"export"}, 2, `train: unknown command "export" (want fit, eval)` + "\n"},
	} {
		var stderr strings.Builder
		if code := Run("train", tc.args, &stderr, cmds...); code != tc.code || stderr.String() != tc.stderr {
			t.Errorf("Run(%q) = %d, %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
	}
	if !slices.Equal(got, []string{"-steps", "3"}) {
		t.Errorf("fit got args %q, want the ones after its name", got)
	}
}
