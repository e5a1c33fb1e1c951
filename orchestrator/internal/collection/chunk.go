package collection

import (
	"strings"
	"unicode/utf8"

	"github.com/chorus-ai/chorus/platform/sentence"
)

// Split cuts text into chunks of whole sentences (platform/sentence), each
// at most size bytes; a sentence longer than size is cut between words
// (or, for a word longer than size, between runes). Each chunk but the
// first starts with the last sentences of the one before, as many as fit
// in overlap bytes, so that a passage cut at a chunk boundary is found
// whole in one of the two. A chunk's sentences are joined by newlines
// (platform/sentence also ends a sentence at a line break, so Markdown
// headings, list items and code lines stay apart); whitespace within a
// sentence is collapsed. size must be positive and overlap at most size/2.
func Split(text string, size, overlap int) []string {
	var pieces []string
	for _, s := range sentence.Split(text) {
		pieces = append(pieces, cut(s, size)...)
	}
	var (
		chunks []string
		cur    []string // the sentences of the chunk being filled
		n      int      // its length in bytes, separators included
		fresh  bool     // cur holds a sentence not yet in any chunk
	)
	flush := func() {
		chunks = append(chunks, strings.Join(cur, "\n"))
		// Keep the tail that fits in overlap for the next chunk.
		keep, k := 0, 0
		for i := len(cur) - 1; i >= 0; i-- {
			if k+len(cur[i])+1 > overlap+1 {
				break
			}
			k += len(cur[i]) + 1
			keep++
		}
		cur = append([]string(nil), cur[len(cur)-keep:]...)
		n = max(k-1, 0)
		fresh = false
	}
	for _, p := range pieces {
		for len(cur) > 0 && n+1+len(p) > size {
			if fresh {
				flush()
				continue
			}
			// Only overlap is left and p does not fit after it: shed
			// the oldest overlapped sentence.
			n -= len(cur[0]) + 1
			cur = cur[1:]
			if len(cur) == 0 {
				n = 0
			}
		}
		if len(cur) > 0 {
			n++
		}
		cur = append(cur, p)
		n += len(p)
		fresh = true
	}
	if fresh {
		flush()
	}
	return chunks
}

// cut splits s into pieces of at most size bytes, between words where it
// can.
func cut(s string, size int) []string {
	var out []string
	for len(s) > size {
		i := strings.LastIndexByte(s[:size+1], ' ')
		if i <= 0 {
			// One word longer than size: cut at a rune boundary.
			i = size
			for i > 0 && !utf8.RuneStart(s[i]) {
				i--
			}
			if i == 0 {
				_, i = utf8.DecodeRuneInString(s)
			}
			out = append(out, s[:i])
			s = s[i:]
			continue
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}
