package tokenizer

import (
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"
)

// A splitter cuts one piece of text into smaller pieces that together cover it exactly.
// Pre-tokenizers are chains of splitters, each applied to every piece the previous one made,
// which is how llama.cpp applies its list of regexes.
type splitter func(s string, out []string) []string

// preTokenizer returns the splitter chain for tokenizer.ggml.pre, and whether it is the Llama 3
// family (which also ignores merges for whole-token words and adds BOS by default).
// The Hugging Face regexes use lookahead, which Go's regexp lacks, so the two main ones are
// hand-written after llama.cpp's unicode_regex_split_custom_* functions.
func preTokenizer(pre string) (stages []splitter, llama3 bool, err error) {
	switch pre {
	case "", "default":
		return []splitter{regexSplitter(`[\p{P}\$\+<=>\^~\|]+`), splitGPT2,
			regexSplitter(`\p{N}+`), regexSplitter(`[0-9][0-9][0-9]`)}, false, nil
	case "falcon":
		return []splitter{regexSplitter("[\\p{P}\\$\\+<=>\\^~\\|`]+"), splitGPT2,
			regexSplitter(`[0-9][0-9][0-9]`)}, false, nil
	case "gpt-2", "phi-2", "roberta-bpe", "jina-es", "jina-de", "jina-v1-en", "jina-v2-es",
		"jina-v2-de", "jina-v2-code", "gigachat", "mpt", "olmo", "jais":
		return []splitter{splitGPT2}, false, nil
	case "llama3", "llama-v3", "llama-bpe", "falcon3":
		return []splitter{splitLlama3(3)}, true, nil
	case "dbrx", "smaug-bpe", "chatglm-bpe":
		return []splitter{splitLlama3(3)}, false, nil
	case "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez":
		// Qwen2's regex is Llama 3's with single digits (\p{N} instead of \p{N}{1,3}).
		return []splitter{splitLlama3(1)}, false, nil
	case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
		return []splitter{regexSplitter(`\p{N}`), splitGPT2}, false, nil
	}
	return nil, false, fmt.Errorf("%w: pre-tokenizer %q", ErrUnsupported, pre)
}

// regexSplitter splits at every match of a lookahead-free regex: matches and the text between
// them both become pieces.
func regexSplitter(expr string) splitter {
	re := regexp.MustCompile(expr)
	return func(s string, out []string) []string {
		last := 0
		for _, m := range re.FindAllStringIndex(s, -1) {
			if m[0] > last {
				out = append(out, s[last:m[0]])
			}
			if m[1] > m[0] {
				out = append(out, s[m[0]:m[1]])
			}
			last = m[1]
		}
		if last < len(s) {
			out = append(out, s[last:])
		}
		return out
	}
}

// class is the subset of Unicode properties the GPT-2 family regexes test.
type class uint8

const (
	clsNone   class = 0 // past the end of the piece
	clsOther  class = 1 // punctuation, symbols, marks, controls, unassigned
	clsLetter class = 2 // \p{L}
	clsNumber class = 3 // \p{N}
	clsSpace  class = 4 // \s (Go's unicode.IsSpace is the same set as llama.cpp's)
)

func classOf(r rune) class {
	switch {
	case r < utf8.RuneSelf:
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			return clsLetter
		case r >= '0' && r <= '9':
			return clsNumber
		case r == ' ', r >= '\t' && r <= '\r':
			return clsSpace
		}
		return clsOther
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

// runes decodes s keeping each rune's byte offset, so that invalid UTF-8 bytes (decoded as
// U+FFFD) still end up in the pieces unchanged.
type runes struct {
	r   []rune
	off []int // off[i] is the byte offset of r[i]; off[len(r)] == len(s)
}

func decodeRunes(s string) runes {
	n := utf8.RuneCountInString(s)
	rs := runes{r: make([]rune, 0, n), off: make([]int, 0, n+1)}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		rs.r = append(rs.r, r)
		rs.off = append(rs.off, i)
		i += size
	}
	rs.off = append(rs.off, len(s))
	return rs
}

func (rs runes) at(i int) rune {
	if i < len(rs.r) {
		return rs.r[i]
	}
	return -1
}

func (rs runes) cls(i int) class {
	if i < len(rs.r) {
		return classOf(rs.r[i])
	}
	return clsNone
}

// contraction reports the length in runes of 's 't 're 've 'm 'll 'd at i, optionally ignoring
// case, or 0.
func (rs runes) contraction(i int, fold bool) int {
	if rs.at(i) != '\'' || i+1 >= len(rs.r) {
		return 0
	}
	lower := func(r rune) rune {
		if fold {
			return unicode.ToLower(r)
		}
		return r
	}
	c1 := lower(rs.at(i + 1))
	if c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd' {
		return 2
	}
	if i+2 < len(rs.r) {
		c2 := lower(rs.at(i + 2))
		if (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l') {
			return 3
		}
	}
	return 0
}

// SplitGPT2 splits s by GPT-2's pre-tokenizer regex (tokenizer.ggml.pre "gpt-2"),
// appending the pieces (raw text, which joined give back s) to out; a BPE trainer
// splits its corpus with it so that its merges fit what this package encodes.
func SplitGPT2(s string, out []string) []string { return splitGPT2(s, out) }

// splitGPT2 implements 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
// (with a lone \s that matches nothing else kept as its own piece).
func splitGPT2(s string, out []string) []string {
	return split(s, out, false, func(rs runes, pos int) int {
		c := rs.cls(pos)
		if rs.at(pos) == ' ' {
			c = rs.cls(pos + 1)
		}
		if c == clsLetter || c == clsNumber || c == clsOther {
			if rs.at(pos) == ' ' {
				pos++
			}
			for rs.cls(pos) == c {
				pos++
			}
			return pos
		}
		ws := 0
		for rs.cls(pos+ws) == clsSpace {
			ws++
		}
		switch {
		case ws > 1 && pos+ws < len(rs.r): // \s+(?!\S): leave the last space for the next word
			return pos + ws - 1
		case ws > 0:
			return pos + ws
		}
		return pos + 1
	})
}

// split runs a pre-tokenizer over s, appending its pieces (raw text, which joined give back
// s) to out: at each position a contraction (matched case-insensitively when fold) is a
// piece, and otherwise piece says where the piece starting at pos ends (after pos).
func split(s string, out []string, fold bool, piece func(rs runes, pos int) int) []string {
	rs := decodeRunes(s)
	for pos := 0; pos < len(rs.r); {
		end := pos + rs.contraction(pos, fold)
		if end == pos {
			end = piece(rs, pos)
		}
		out = append(out, s[rs.off[pos]:rs.off[end]])
		pos = end
	}
	return out
}

// splitLlama3 implements Llama 3's
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func splitLlama3(maxDigits int) splitter {
	return func(s string, out []string) []string {
		return split(s, out, true, func(rs runes, pos int) int {
			r, c := rs.at(pos), rs.cls(pos)
			// [^\r\n\p{L}\p{N}]?\p{L}+
			if r != '\r' && r != '\n' && c != clsNumber && (c == clsLetter || rs.cls(pos+1) == clsLetter) {
				pos++
				for rs.cls(pos) == clsLetter {
					pos++
				}
				return pos
			}
			// \p{N}{1,maxDigits}
			if c == clsNumber {
				end := pos + 1
				for end < pos+maxDigits && rs.cls(end) == clsNumber {
					end++
				}
				return end
			}
			// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
			c2 := c
			if r == ' ' {
				c2 = rs.cls(pos + 1)
			}
			if c2 == clsOther {
				if r == ' ' {
					pos++
				}
				for rs.cls(pos) == clsOther {
					pos++
				}
				for rs.at(pos) == '\r' || rs.at(pos) == '\n' {
					pos++
				}
				return pos
			}
			ws, lastNL := 0, 0
			for rs.cls(pos+ws) == clsSpace {
				if x := rs.at(pos + ws); x == '\r' || x == '\n' {
					lastNL = pos + ws + 1
				}
				ws++
			}
			switch {
			case lastNL > 0: // \s*[\r\n]+
				return lastNL
			case ws > 1 && pos+ws < len(rs.r): // \s+(?!\S)
				return pos + ws - 1
			case ws > 0: // \s+
				return pos + ws
			}
			return pos + 1
		})
	}
}
