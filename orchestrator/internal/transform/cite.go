package transform

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/chorus-ai/chorus/platform/sentence"
)

// Passage is one search result, as Retrieve writes it.
type Passage struct {
	// Document is the id of the document it came from.
	Document string
	// Text is the passage.
	Text string
}

// FormatPassages writes passages one a line, numbered from 1 in order,
// each with its document: "[1] README.md: text". Whitespace in the text
// is collapsed, so that each passage stays on its line.
func FormatPassages(ps []Passage) string {
	var b strings.Builder
	for i, p := range ps {
		fmt.Fprintf(&b, "[%d] %s: %s\n", i+1, strings.Join(strings.Fields(p.Document), " "), strings.Join(strings.Fields(p.Text), " "))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// passageRE reads a line of FormatPassages. A document id holding ": "
// is read up to its first.
var passageRE = regexp.MustCompile(`^\[(\d+)\] (.*?): (.*)$`)

// maxCited bounds the sentences quoted from one passage.
const maxCited = 3

// cite is the Cite transform: an extractive answer from the best n
// passages of text (FormatPassages' lines; other lines are the question).
func cite(text string, n int) string {
	type numbered struct {
		n int
		Passage
	}
	var (
		passages []numbered
		question []string
	)
	for _, line := range strings.Split(text, "\n") {
		if m := passageRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			k, _ := strconv.Atoi(m[1])
			passages = append(passages, numbered{k, Passage{Document: m[2], Text: m[3]}})
		} else if line = strings.TrimSpace(line); line != "" {
			question = append(question, line)
		}
	}
	if len(passages) == 0 {
		return "No passage of the collection matches the question."
	}
	asked := map[string]bool{}
	for _, w := range words(strings.Join(question, " ")) {
		if !stopwords[w] {
			asked[stem(w)] = true
		}
	}
	var answer, sources []string
	for _, p := range passages[:min(n, len(passages))] {
		sentences := sentence.Split(p.Text)
		var keep []string
		for _, s := range sentences {
			for _, w := range words(s) {
				if asked[stem(w)] {
					keep = append(keep, s)
					break
				}
			}
			if len(keep) == maxCited {
				break
			}
		}
		if len(keep) == 0 && len(sentences) > 0 {
			keep = sentences[:1]
		}
		answer = append(answer, fmt.Sprintf("%s [%d]", strings.Join(keep, " "), p.n))
		sources = append(sources, fmt.Sprintf("[%d] %s", p.n, p.Document))
	}
	return strings.Join(answer, "\n\n") + "\n\nSources:\n" + strings.Join(sources, "\n")
}

// stem drops a plural "s", so that "tests" asks for "test".
func stem(w string) string {
	if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		return w[:len(w)-1]
	}
	return w
}
