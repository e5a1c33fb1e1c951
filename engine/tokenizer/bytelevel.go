package tokenizer

import "unicode/utf8"

// GPT-2's byte-level BPE works on text where every byte is replaced by a printable character:
// printable Latin-1 bytes stand for themselves, the rest map to U+0100 upwards in byte order.
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := rune(0)
	for b := 0; b < 256; b++ {
		if (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = 256 + n
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// byteEncode maps each byte of s to its stand-in character.
func byteEncode(s string, dst []byte) []byte {
	for i := 0; i < len(s); i++ {
		dst = utf8.AppendRune(dst, byteToRune[s[i]])
	}
	return dst
}

// byteDecode reverses byteEncode. Characters outside the map (only in malformed vocabularies)
// are kept as their UTF-8.
func byteDecode(s string) string {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if b, ok := runeToByte[r]; ok {
			out = append(out, b)
		} else {
			out = utf8.AppendRune(out, r)
		}
	}
	return string(out)
}
