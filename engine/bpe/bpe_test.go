package bpe

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/chorus-ai/chorus/engine/tokenizer"
)

const text = `In the beginning God created the heaven and the earth.
And the earth was without form, and void; and darkness was upon the face of the deep.
"It's 10:30," she said -- they'll say we're late, won't they?  I'd say so...
Hackers don't RTFM; they UTSL.   Tabs	and	spaces,
café naïve Über 東京 2024-11-27 $3.50 (e.g. foo_bar) #hash @user`

func trained(t *testing.T, size int) *Vocab {
	t.Helper()
	c := NewCounter()
	for range 3 {
		c.Add(text)
	}
	v, err := Train(c, size)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTrainShape(t *testing.T) {
	v := trained(t, 400)
	if len(v.Tokens) > 400 || len(v.Tokens) != len(v.Types) || len(v.Tokens) != 256+len(v.Merges)+1 {
		t.Fatalf("%d tokens, %d types, %d merges", len(v.Tokens), len(v.Types), len(v.Merges))
	}
	if v.Tokens[v.EOT] != EndOfText || int(v.EOT) != len(v.Tokens)-1 {
		t.Errorf("EOT %d is %q", v.EOT, v.Tokens[v.EOT])
	}
	seen := map[string]bool{}
	for _, tok := range v.Tokens {
		if seen[tok] {
			t.Errorf("duplicate token %q", tok)
		}
		seen[tok] = true
	}
	if again := trained(t, 400); !reflect.DeepEqual(v, again) {
		t.Error("training is not deterministic")
	}
	if _, err := Train(NewCounter(), 100); !errors.Is(err, ErrVocabSize) {
		t.Errorf("size 100: %v, want ErrVocabSize", err)
	}
}

func TestSplitCoversText(t *testing.T) {
	pieces := tokenizer.SplitGPT2(text, nil)
	if got := strings.Join(pieces, ""); got != text {
		t.Fatalf("pieces do not rebuild the text:\n%q", got)
	}
	want := []string{"\"", "It", "'s", " 10", ":", "30", ",\"", " she"}
	got := tokenizer.SplitGPT2(`"It's 10:30," she`, nil)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("split = %q, want %q", got, want)
	}
}

// refEncode is byte-level BPE from first principles: split with tokenizer.SplitGPT2, then merge the
// lowest-ranked adjacent pair until none is left.
func refEncode(v *Vocab, s string) []int32 {
	rank := map[string]int{}
	for i, m := range v.Merges {
		rank[m] = i
	}
	id := map[string]int32{}
	for i, tok := range v.Tokens {
		id[tok] = int32(i)
	}
	var out []int32
	for _, piece := range tokenizer.SplitGPT2(s, nil) {
		var syms []string
		for i := 0; i < len(piece); i++ {
			syms = append(syms, v.Tokens[piece[i]])
		}
		for {
			best, bi := -1, -1
			for i := 0; i+1 < len(syms); i++ {
				if r, ok := rank[syms[i]+" "+syms[i+1]]; ok && (best < 0 || r < best) {
					best, bi = r, i
				}
			}
			if bi < 0 {
				break
			}
			syms = append(syms[:bi], append([]string{syms[bi] + syms[bi+1]}, syms[bi+2:]...)...)
		}
		for _, sym := range syms {
			out = append(out, id[sym])
		}
	}
	return out
}

// TestEngineTokenizerAgrees checks that the engine's gpt2 tokenizer, reading the vocabulary
// from GGUF metadata with tokenizer.ggml.pre = "gpt-2", splits and merges exactly as training
// did.
func TestEngineTokenizerAgrees(t *testing.T) {
	v := trained(t, 600)
	tok, err := v.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	inputs := append(strings.Split(text, "\n"), text, "  leading spaces", "trailing  ", "\n\nTitle: A hacker\n\n",
		"don't 'quote' it'll", "x"+strings.Repeat("!", 20))
	for _, in := range inputs {
		want := refEncode(v, in)
		got := tok.EncodeLiteral(in, false)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\nengine    %v\nreference %v", in, got, want)
		}
		if dec := tok.Decode(got); dec != in {
			t.Errorf("decode(%q) = %q", in, dec)
		}
	}
	if ids := tok.Encode("hi", true); len(ids) == 0 || ids[0] != v.EOT {
		t.Errorf("Encode with specials = %v, want a leading <|endoftext|> (%d)", ids, v.EOT)
	}
}
