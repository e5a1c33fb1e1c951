package tokenizer

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chorus-ai/chorus/engine/gguf"
)

func hasSpecial(tok *Tokenizer, s string) bool {
	for _, f := range tok.partition(s, nil) {
		if f.token != NoToken {
			return true
		}
	}
	return false
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, v := range testVocabs {
		tok := load(t, v.file)
		for _, s := range trickyStrings {
			if hasSpecial(tok, s) {
				continue // special tokens decode hidden, or shift SentencePiece's space prefix
			}
			for _, addSpecial := range []bool{false, true} {
				ids := tok.Encode(s, addSpecial)
				if got := tok.Decode(ids); got != s {
					t.Errorf("%s: Decode(Encode(%q, %v)) = %q", v.file, s, addSpecial, got)
				}
			}
		}
	}
}

func TestStreamDecoder(t *testing.T) {
	for _, v := range testVocabs {
		tok := load(t, v.file)
		for _, s := range trickyStrings {
			ids := tok.Encode(s, true)
			d := tok.NewStreamDecoder()
			var b strings.Builder
			for _, id := range ids {
				piece := d.Next(id)
				if !utf8.ValidString(piece) {
					t.Fatalf("%s %q: invalid UTF-8 piece %q", v.file, s, piece)
				}
				b.WriteString(piece)
			}
			b.WriteString(d.Flush())
			want := ""
			for _, id := range ids {
				if !tok.hidden(id) {
					want += tok.Piece(id)
				}
			}
			if b.String() != want {
				t.Errorf("%s %q: streamed %q, want %q", v.file, s, b.String(), want)
			}
		}
	}
}

func TestStreamDecoderHoldsPartialCharacters(t *testing.T) {
	tok := load(t, "bpe-gpt2.gguf")
	byteID := func(b byte) int32 {
		id, ok := tok.Lookup(string(byteToRune[b]))
		if !ok {
			t.Fatalf("no token for byte %#x", b)
		}
		return id
	}
	llama := []byte("🦙") // F0 9F A6 99
	tests := []struct {
		name  string
		bytes []byte
		want  []string // output after each token
		flush string
	}{
		{name: "four-byte emoji", bytes: llama, want: []string{"", "", "", "🦙"}},
		{name: "ascii then emoji start", bytes: []byte{'a', llama[0], llama[1]}, want: []string{"a", "", ""}, flush: "\uFFFD"},
		{name: "invalid lead byte", bytes: []byte{0xFF, 'b'}, want: []string{"\uFFFD", "b"}},
		{name: "broken sequence", bytes: []byte{0xE2, 'x'}, want: []string{"", "\uFFFDx"}},
		{name: "overlong lead", bytes: []byte{0xC0, 0x80}, want: []string{"\uFFFD", "\uFFFD"}},
		{name: "E0 needs A0+", bytes: []byte{0xE0, 0xA4, 0xB9}, want: []string{"", "", "ह"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tok.NewStreamDecoder()
			for i, b := range tt.bytes {
				if got := d.Next(byteID(b)); got != tt.want[i] {
					t.Errorf("after byte %d: got %q, want %q", i, got, tt.want[i])
				}
			}
			if got := d.Flush(); got != tt.flush {
				t.Errorf("flush: got %q, want %q", got, tt.flush)
			}
		})
	}
	// Control tokens are not text.
	d := tok.NewStreamDecoder()
	end, _ := tok.Lookup("<|im_end|>")
	if got := d.Next(end); got != "" {
		t.Errorf("control token streamed as %q", got)
	}
}

func TestSpecialTokens(t *testing.T) {
	tests := []struct {
		file           string
		bos, eos       string
		addBOS         bool
		eog, notEOG    []string
		firstID, space string
	}{
		{file: "bpe-llama3.gguf", bos: "<|begin_of_text|>", eos: "<|eot_id|>", addBOS: true,
			eog: []string{"<|eot_id|>", "<|im_end|>", "<|endoftext|>"}, notEOG: []string{"<|im_start|>", "Ġthe"}},
		{file: "bpe-smollm.gguf", bos: "<|im_start|>", eos: "<|im_end|>", addBOS: false,
			eog: []string{"<|im_end|>"}, notEOG: []string{"<|im_start|>"}},
		{file: "bpe-gpt2.gguf", bos: "<|endoftext|>", eos: "<|endoftext|>", addBOS: false,
			eog: []string{"<|endoftext|>"}},
		{file: "spm.gguf", bos: "<s>", eos: "</s>", addBOS: true, eog: []string{"</s>"}, notEOG: []string{"<s>", "<unk>"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tok := load(t, tt.file)
			if tok.Token(tok.BOS()) != tt.bos || tok.Token(tok.EOS()) != tt.eos || tok.AddBOS() != tt.addBOS {
				t.Errorf("BOS %q EOS %q addBOS %v", tok.Token(tok.BOS()), tok.Token(tok.EOS()), tok.AddBOS())
			}
			for _, s := range tt.eog {
				if id, _ := tok.Lookup(s); !tok.IsEOG(id) {
					t.Errorf("%q should end generation", s)
				}
			}
			for _, s := range tt.notEOG {
				if id, ok := tok.Lookup(s); !ok || tok.IsEOG(id) {
					t.Errorf("%q should not end generation", s)
				}
			}
			ids := tok.Encode("hi", true)
			if (len(ids) > 0 && ids[0] == tok.BOS()) != tt.addBOS {
				t.Errorf("Encode with addSpecial: %v", ids)
			}
		})
	}
}

func TestEncodeLiteral(t *testing.T) {
	tok := load(t, "bpe-smollm.gguf")
	start, _ := tok.Lookup("<|im_start|>")
	call, _ := tok.Lookup("<tool_call>")
	text := "<|im_start|>user<tool_call>"
	if ids := tok.Encode(text, false); ids[0] != start {
		t.Errorf("Encode did not parse the control token: %v", ids)
	}
	lit := tok.EncodeLiteral(text, false)
	for _, id := range lit {
		if id == start {
			t.Errorf("EncodeLiteral parsed a control token: %v", lit)
		}
	}
	if lit[len(lit)-1] != call {
		t.Errorf("EncodeLiteral must still match user-defined tokens: %v", lit)
	}
	if got := tok.Decode(lit); got != text {
		t.Errorf("Decode(EncodeLiteral) = %q", got)
	}
}

func TestFromGGUFErrors(t *testing.T) {
	tests := []struct {
		name string
		kvs  map[string]any
		want error
	}{
		{name: "no model", kvs: map[string]any{keyTokens: []string{"a"}}, want: ErrNoVocab},
		{name: "no tokens", kvs: map[string]any{keyModel: "llama"}, want: ErrNoVocab},
		{name: "bert", kvs: map[string]any{keyModel: "bert", keyTokens: []string{"a"}}, want: ErrUnsupported},
		{name: "unknown pre", kvs: map[string]any{keyModel: "gpt2", keyPre: "tekken", keyTokens: []string{"a"}, keyMerges: []string{}}, want: ErrUnsupported},
		{name: "no merges", kvs: map[string]any{keyModel: "gpt2", keyPre: "qwen2", keyTokens: []string{"a"}}, want: ErrNoVocab},
		{name: "scores mismatch", kvs: map[string]any{keyModel: "llama", keyTokens: []string{"a", "b"}, keyScores: []float32{0}}, want: ErrInvalidMetadata},
		{name: "types mismatch", kvs: map[string]any{keyModel: "llama", keyTokens: []string{"a", "b"}, keyTokenType: []int32{1}}, want: ErrInvalidMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := gguf.NewWriter()
			for k, v := range tt.kvs {
				must(t, w.Set(k, v))
			}
			var buf bytes.Buffer
			_, err := w.WriteTo(&buf)
			must(t, err)
			f, err := gguf.Parse(buf.Bytes())
			must(t, err)
			if _, err := FromGGUF(f); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// Special ids out of range fall back to the defaults (or none), and text without tokens or
// byte tokens falls back to <unk>, rather than failing.
func TestMinimalSPM(t *testing.T) {
	w := gguf.NewWriter()
	must(t, w.Set(keyModel, "llama"))
	must(t, w.Set(keyTokens, []string{"<unk>", "▁a"}))
	must(t, w.Set(keyBOS, uint32(99)))
	var buf bytes.Buffer
	_, err := w.WriteTo(&buf)
	must(t, err)
	f, err := gguf.Parse(buf.Bytes())
	must(t, err)
	tok, err := FromGGUF(f)
	must(t, err)
	if tok.BOS() != 1 || tok.EOS() != NoToken {
		t.Errorf("BOS %d EOS %d, want the default 1 and none", tok.BOS(), tok.EOS())
	}
	if got := tok.Encode("a", true); !slices.Equal(got, []int32{1, 1}) {
		t.Errorf("Encode(a) = %v", got)
	}
	if got := tok.Encode("ab", false); !slices.Equal(got, []int32{1, 0}) {
		t.Errorf("Encode(ab) = %v", got)
	}
}

func TestPreTokenizers(t *testing.T) {
	tests := []struct {
		pre  string
		text string
		want []string
	}{
		{pre: "gpt-2", text: "Hello  world's 123\n\n x", want: []string{"Hello", " ", " world", "'s", " 123", "\n\n", " x"}},
		{pre: "llama-bpe", text: "Hello  world'S 12345\n\n x!!\n", want: []string{"Hello", " ", " world", "'S", " ", "123", "45", "\n\n", " x", "!!\n"}},
		{pre: "qwen2", text: "ab 123", want: []string{"ab", " ", "1", "2", "3"}},
		{pre: "smollm", text: "a 123b", want: []string{"a", " ", "1", "2", "3", "b"}},
		{pre: "default", text: "x=12345!", want: []string{"x", "=", "123", "45", "!"}},
	}
	for _, tt := range tests {
		t.Run(tt.pre, func(t *testing.T) {
			stages, _, err := preTokenizer(tt.pre)
			must(t, err)
			words := []string{tt.text}
			for _, st := range stages {
				var next []string
				for _, w := range words {
					next = st(w, next)
				}
				words = next
			}
			if strings.Join(words, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", words, tt.want)
			}
		})
	}
}

// The tokenizer is shared by concurrent requests; run with -race to check it.
func TestConcurrentEncode(t *testing.T) {
	tok := load(t, "bpe-llama3.gguf")
	want := tok.Encode(trickyStrings[17], true)
	done := make(chan []int32)
	for i := 0; i < 4; i++ {
		go func() { done <- tok.Encode(trickyStrings[17], true) }()
	}
	for i := 0; i < 4; i++ {
		if got := <-done; !slices.Equal(got, want) {
			t.Errorf("concurrent Encode = %v, want %v", got, want)
		}
	}
}
