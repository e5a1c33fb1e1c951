package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// buildPieces precomputes the bytes each token stands for, as llama.cpp's token_to_piece with
// special=true: special and user-defined tokens are their text, normal tokens are unescaped
// (SentencePiece "▁" to space, byte-level characters to bytes), byte tokens are their byte and
// unused tokens are empty.
func (t *Tokenizer) buildPieces() {
	t.pieces = make([]string, len(t.tokens))
	for i, s := range t.tokens {
		switch ty := t.types[i]; {
		case ty == TypeControl || ty == TypeUnknown || ty == TypeUserDefined:
			t.pieces[i] = s
		case ty == TypeNormal && t.model == modelSPM:
			t.pieces[i] = strings.ReplaceAll(s, "▁", " ")
		case ty == TypeNormal && t.model == modelBPE:
			t.pieces[i] = byteDecode(s)
		case ty == TypeByte && t.model == modelSPM:
			if b, ok := parseByteToken(s); ok {
				t.pieces[i] = string([]byte{b})
			}
		}
	}
}

// parseByteToken reads "<0xNN>".
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	hi, lo := strings.IndexByte(hexDigits, upper(s[3])), strings.IndexByte(hexDigits, upper(s[4]))
	if hi < 0 || lo < 0 {
		return 0, false
	}
	return byte(hi<<4 | lo), true
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// Piece returns the raw bytes token id decodes to, including the text of control tokens. It may
// be part of a UTF-8 sequence; use a StreamDecoder to assemble text.
func (t *Tokenizer) Piece(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// hidden reports whether decoding leaves the token out of the text.
func (t *Tokenizer) hidden(id int32) bool {
	ty := t.Type(id)
	return ty == TypeControl || ty == TypeUnknown
}

// Decode turns ids back into text. Control and unknown tokens (BOS, <|im_end|>, ...) are left
// out; the space SentencePiece put in front of the text is removed, so that
// Decode(Encode(s, true)) == s; invalid UTF-8 becomes U+FFFD.
func (t *Tokenizer) Decode(ids []int32) string {
	var b strings.Builder
	first := true
	for _, id := range ids {
		if t.hidden(id) {
			continue
		}
		p := t.Piece(id)
		if first && t.model == modelSPM && t.addSpacePrefix {
			p = strings.TrimPrefix(p, " ")
		}
		first = false
		b.WriteString(p)
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// StreamDecoder turns tokens into text as they are generated. A token may end inside a
// multi-byte character, so the incomplete tail is held back until the next token completes it.
// Control tokens are left out. Not safe for concurrent use.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
}

// NewStreamDecoder starts decoding a new sequence.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder { return &StreamDecoder{t: t} }

// Next adds one token and returns the text that is now complete (possibly "").
// The returned text is always valid UTF-8.
func (d *StreamDecoder) Next(id int32) string {
	if d.t.hidden(id) {
		return ""
	}
	d.pending = append(d.pending, d.t.Piece(id)...)
	cut := completePrefix(d.pending)
	if cut == 0 {
		return ""
	}
	out := strings.ToValidUTF8(string(d.pending[:cut]), "\uFFFD")
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return out
}

// Flush returns whatever is held back, with incomplete characters replaced by U+FFFD, and
// resets the decoder.
func (d *StreamDecoder) Flush() string {
	out := strings.ToValidUTF8(string(d.pending), "\uFFFD")
	d.pending = d.pending[:0]
	return out
}

// completePrefix returns the length of b without a trailing incomplete (but so far valid)
// UTF-8 sequence.
func completePrefix(b []byte) int {
	// A sequence is at most 4 bytes, so only the last 3 can be an unfinished character.
	for back := 1; back <= 3 && back <= len(b); back++ {
		c := b[len(b)-back]
		if c < 0x80 {
			return len(b) // ASCII: everything before is settled
		}
		if c >= 0xC0 { // a lead byte: is its sequence complete?
			need := 0
			switch {
			case c >= 0xF0:
				need = 4
			case c >= 0xE0:
				need = 3
			default:
				need = 2
			}
			if back < need && !utf8.FullRune(b[len(b)-back:]) && validPrefix(b[len(b)-back:]) {
				return len(b) - back
			}
			return len(b)
		}
	}
	return len(b)
}

// validPrefix reports whether p, a lead byte and fewer continuation bytes than it needs, can
// still become a valid UTF-8 character. Completing it with each kind of continuation byte and
// decoding is simpler than encoding the per-lead ranges (E0 needs A0..BF next, ED 80..9F, ...).
func validPrefix(p []byte) bool {
	for _, pad := range []byte{0x80, 0x90, 0xA0} {
		var buf [4]byte
		n := copy(buf[:], p)
		for i := n; i < 4; i++ {
			buf[i] = pad
		}
		if r, size := utf8.DecodeRune(buf[:]); r != utf8.RuneError || size > 1 {
			return true
		}
	}
	return false
}
