package webvtt

import (
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	got := Format([]Cue{
		{Start: 0, End: 1500 * time.Millisecond, Text: "Hello, world."},
		{Start: 1500 * time.Millisecond, End: 3*time.Hour + 2*time.Minute + 1*time.Second + 7*time.Millisecond, Text: "A --> B <i>x</i> & y\n\nnext"},
		{Start: 5 * time.Second, End: 4 * time.Second, Text: "end before start"},
	})
	want := "WEBVTT\n" +
		"\n1\n00:00:00.000 --> 00:00:01.500\nHello, world.\n" +
		"\n2\n00:00:01.500 --> 03:02:01.007\nA --&gt; B &lt;i&gt;x&lt;/i&gt; &amp; y next\n" +
		"\n3\n00:00:05.000 --> 00:00:05.000\nend before start\n"
	if got != want {
		t.Errorf("Format =\n%s\nwant\n%s", got, want)
	}
	if got := Format(nil); got != "WEBVTT\n" {
		t.Errorf("Format(nil) = %q", got)
	}
}
