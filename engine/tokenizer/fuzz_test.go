package tokenizer

import (
	"testing"
	"unicode/utf8"
)

// FuzzEncode checks, on every test vocabulary, that encoding never panics or yields ids out of
// range, and that text without special tokens survives Decode(Encode(s)) unchanged.
func FuzzEncode(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Add("\xff\xfe invalid \xc3")
	toks := make([]*Tokenizer, len(testVocabs))
	for i, v := range testVocabs {
		toks[i] = load(f, v.file)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i, tok := range toks {
			for _, ids := range [][]int32{tok.Encode(s, true), tok.EncodeLiteral(s, false)} {
				for _, id := range ids {
					if id < 0 || int(id) >= tok.VocabSize() {
						t.Fatalf("%s: id %d out of range for %q", testVocabs[i].file, id, s)
					}
				}
			}
			if !utf8.ValidString(s) || hasSpecial(tok, s) {
				continue
			}
			if got := tok.Decode(tok.Encode(s, true)); got != s {
				t.Fatalf("%s: Decode(Encode(%q)) = %q", testVocabs[i].file, s, got)
			}
		}
	})
}
