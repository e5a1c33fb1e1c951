// Package sentence splits text into sentences for speech and captions,
// incrementally as the text streams in.
package sentence

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the longest sentence, in characters (runes), that the splitter
// waits for. A run-on sentence is cut at a clause boundary (", ", "; ",
// ": ", a dash) before this point, or at a space, so that speech streaming
// never stalls on text that never ends a sentence. A sentence may exceed it
// by the few closing marks that end it.
const MaxLen = 300

const (
	// maxRun bounds a run of terminal or closing marks counted as one, so
	// "!!!!!..." cannot grow a sentence without bound.
	maxRun = 8
	// maxGap is how much whitespace after a terminal mark decides the
	// boundary by itself; it bounds what a stream buffers while it waits
	// for the next word.
	maxGap = 64
	// minClause keeps run-on cuts from leaving a tiny fragment: a clause
	// boundary counts only this many bytes or more into the sentence.
	minClause = MaxLen / 4
)

// titles end in a period but (almost) never end a sentence: "Dr. Smith",
// "e.g. apples". Keys are lower case without periods.
var titles = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "mx": true, "dr": true, "prof": true,
	"st": true, "sr": true, "jr": true, "mt": true, "capt": true, "lt": true,
	"col": true, "sgt": true, "gen": true, "rev": true, "hon": true, "gov": true,
	"sen": true, "rep": true, "pres": true, "messrs": true, "mme": true, "mlle": true,
	"eg": true, "ie": true, "cf": true, "viz": true, "vs": true, "approx": true,
	"esp": true, "dept": true,
}

// numbered abbreviations continue the sentence when a number follows:
// "No. 5", "Fig. 3", "pp. 10". Before anything else "no." is the word no.
var numbered = map[string]bool{
	"no": true, "nos": true, "fig": true, "figs": true, "vol": true, "vols": true,
	"p": true, "pp": true, "ch": true, "sec": true, "art": true, "eq": true,
}

// Splitter splits streamed text into sentences. Feed it pieces with Write
// in order and call Flush at the end. The sentences it returns are the same
// whatever the pieces are: a boundary is reported only once the text after
// it decides it. The zero value is ready to use; a Splitter is not safe for
// concurrent use.
type Splitter struct {
	buf string
}

// Write appends piece to the text seen so far and returns the sentences it
// completed, in order, with whitespace collapsed to single spaces.
// Fragments with no letter or digit (stray punctuation, rules such as
// "---") are dropped: there is nothing in them to voice.
func (sp *Splitter) Write(piece string) []string {
	sp.buf += piece
	return sp.drain(false)
}

// Pending returns the text written but not yet returned as a sentence: the
// end of what was written, from the start of the sentence in progress.
func (sp *Splitter) Pending() string { return sp.buf }

// Flush returns the rest of the text as the last sentence ("" when nothing
// voiceable is left) and resets the Splitter for reuse.
func (sp *Splitter) Flush() string {
	out := sp.drain(true)
	if rest := clean(sp.buf); rest != "" {
		out = append(out, rest)
	}
	sp.buf = ""
	return strings.Join(out, " ")
}

// Split splits a whole text into sentences.
func Split(text string) []string {
	var sp Splitter
	out := sp.Write(text)
	if rest := sp.Flush(); rest != "" {
		out = append(out, rest)
	}
	return out
}

func (sp *Splitter) drain(final bool) []string {
	var out []string
	for {
		s := strings.TrimLeftFunc(sp.buf, unicode.IsSpace)
		end, next, ok := cut(s, final)
		if !ok {
			sp.buf = s
			return out
		}
		if t := clean(s[:end]); t != "" {
			out = append(out, t)
		}
		sp.buf = s[next:]
	}
}

// cut finds the first sentence in s, which starts with the sentence: it
// ends at s[:end] and the text goes on at s[next:]. ok is false when s
// holds no boundary yet; with final set, the end of s is the end of text.
func cut(s string, final bool) (end, next int, ok bool) {
	runes := 0
	for i := 0; i < len(s); {
		if runes >= MaxLen {
			c := runOn(s[:i])
			return c, c, true
		}
		if !final && !utf8.FullRuneInString(s[i:]) {
			return 0, 0, false // the rest of a character is still coming
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case isNewline(r):
			return i, i + size, true
		case isFullStop(r):
			// Chinese and Japanese full stops need no space after them.
			k := skip(s, i+size, isCloser)
			if k == len(s) && !final {
				return 0, 0, false
			}
			return k, k, true
		case isTerminal(r):
			j := skip(s, i, isTerminal)
			k := skip(s, j, isCloser)
			m, gap, newline := i, 0, false
			for m = k; m < len(s) && gap <= maxGap; {
				r2, sz := utf8.DecodeRuneInString(s[m:])
				if !unicode.IsSpace(r2) || !utf8.FullRuneInString(s[m:]) {
					break
				}
				if isNewline(r2) {
					newline = true
					break
				}
				m += sz
				gap += sz
			}
			if m < len(s) && !final && !utf8.FullRuneInString(s[m:]) {
				return 0, 0, false // the next character is still coming
			}
			switch {
			case m == k && m < len(s):
				// No space after it: "3.14", "e.g.x", "U.S.A".
			case newline || gap > maxGap:
				return k, m, true
			case m == len(s):
				if !final {
					return 0, 0, false
				}
				return k, m, true
			default:
				nr, _ := utf8.DecodeRuneInString(s[m:])
				if endsSentence(s[:i], s[i:j], nr) {
					return k, m, true
				}
			}
			runes += utf8.RuneCountInString(s[i:k])
			i = k
			continue
		}
		runes++
		i += size
	}
	return 0, 0, false
}

// endsSentence decides a terminal run (marks) after the text before it,
// followed by whitespace and then the rune next.
func endsSentence(before, marks string, next rune) bool {
	if unicode.IsLower(next) {
		// "approx. five", "Wow! said he", "Well... maybe", "U.S. economy".
		return false
	}
	if marks != "." {
		return true
	}
	wordStart := strings.LastIndexFunc(before, unicode.IsSpace) + 1
	word := strings.TrimLeftFunc(before[wordStart:], isOpener)
	key := strings.ToLower(strings.ReplaceAll(word, ".", ""))
	switch {
	case titles[key]:
		return false
	case numbered[key] && unicode.IsDigit(next):
		return false
	case utf8.RuneCountInString(word) == 1 && word != "I" && unicode.IsUpper([]rune(word)[0]):
		return false // an initial: "J. R. R. Tolkien"
	case wordStart == 0 && word != "" && strings.TrimFunc(word, unicode.IsDigit) == "":
		return false // a list number: "1. First"
	}
	return true
}

// runOn picks where to cut a run-on sentence s: after the last clause mark
// followed by a space, else at the last space, else at the end of s.
func runOn(s string) int {
	best := -1
	for i := len(s) - 1; i >= minClause; i-- {
		if s[i] != ' ' {
			continue
		}
		prev, _ := utf8.DecodeLastRuneInString(s[:i])
		if strings.ContainsRune(",;:—–-)", prev) {
			best = i
			break
		}
	}
	if best < 0 {
		best = strings.LastIndexFunc(s, unicode.IsSpace)
	}
	if best <= 0 {
		return len(s)
	}
	return best
}

func skip(s string, i int, f func(rune) bool) int {
	for n := 0; i < len(s) && n < maxRun; n++ {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !f(r) {
			break
		}
		i += size
	}
	return i
}

func isNewline(r rune) bool { return r == '\n' || r == '\u2028' || r == '\u2029' }

func isTerminal(r rune) bool {
	return r == '.' || r == '!' || r == '?' || r == '…' || r == '‼' || r == '⁇'
}

func isFullStop(r rune) bool { return r == '。' || r == '！' || r == '？' || r == '｡' }

// isCloser and isOpener include Markdown's emphasis and code marks,
// which LLM output is full of: "**Done.** Next".
func isCloser(r rune) bool {
	return strings.ContainsRune("\"')]}»”’›」』）》】*_`", r)
}

func isOpener(r rune) bool {
	return strings.ContainsRune("\"'([{«“‘‹「『（《【¿¡*_`", r)
}

// clean collapses whitespace and drops a fragment with nothing to voice.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) < 0 {
		return ""
	}
	return strings.Join(strings.Fields(s), " ")
}
