package flite

import (
	"strings"
	"testing"
)

// Flite runs in-process: text it chokes on would take the server down, so
// odd input must come back as speech or silence, never a crash.
func TestSynthOddText(t *testing.T) {
	texts := []string{
		"",
		" ",
		"🙂🙂 emoji, \x01\x1b[31m control bytes \x7f, nul\x00inside, 你好",
		"你好，世界。",
		"Ünïcödé çàfé naïve façade.",
		"\x01\x02\x1b[31m control \x7f bytes",
		"nul\x00inside",
		strings.Repeat("a", 40),
		strings.Repeat("9", 12),
		"$1,234.89 at 12:30pm, 50% off, http://x.io/a?b&c",
		"(((((( [[[[ {{{{ ''''' \"\"\"\" ))))",
		"I.B.M. U.S.A. Ph.D. e.g. i.e. etc...",
		strings.Repeat("word, ", 6),
	}
	// Every text through the default voice, the oddest through them all.
	for i, text := range texts {
		for v := range voices {
			if v > 0 && i != 2 {
				continue
			}
			a, err := synth(v, text, 1)
			if err != nil {
				t.Errorf("voice %s, %q: %v", voices[v].name, text, err)
				continue
			}
			if a.Rate <= 0 {
				t.Errorf("voice %s, %q: rate %d", voices[v].name, text, a.Rate)
			}
		}
	}
}
