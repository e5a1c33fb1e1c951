package transform

import (
	"fmt"
	"regexp"
	"slices"
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

// FormatPassages writes passages numbered from 1 in order, each a block:
// a header line "[1] README.md", then the passage's sentences one a line
// (platform/sentence), then a blank line.
func FormatPassages(ps []Passage) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[%d] %s\n", i+1, strings.Join(strings.Fields(p.Document), " "))
		for _, s := range sentence.Split(p.Text) {
			b.WriteString(s + "\n")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// headerRE reads the first line of a FormatPassages block.
var headerRE = regexp.MustCompile(`^\[(\d+)\] (\S.*)$`)

// maxCited bounds the sentences quoted from one passage.
const maxCited = 3

type numbered struct {
	n         int
	document  string
	sentences []string
}

// parsePassages reads FormatPassages' blocks from text; the lines before
// the first block are returned as the question.
func parsePassages(text string) (question string, passages []numbered) {
	var q []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch m := headerRE.FindStringSubmatch(line); {
		case m != nil:
			k, _ := strconv.Atoi(m[1])
			passages = append(passages, numbered{n: k, document: m[2]})
		case line == "":
		case len(passages) == 0:
			q = append(q, line)
		default:
			p := &passages[len(passages)-1]
			p.sentences = append(p.sentences, line)
		}
	}
	return strings.Join(q, " "), passages
}

// cite is the Cite transform: an extractive answer from the best n
// passages of text (FormatPassages' blocks, after the question): from
// each, the (at most maxCited) sentences sharing the most content words
// with the question, in their order, cited by the passage's number, then
// the sources.
func cite(text string, n int) string {
	question, passages := parsePassages(text)
	if len(passages) == 0 {
		return "No passage of the collection matches the question."
	}
	asked := map[string]bool{}
	for _, w := range words(question) {
		if !stopwords[w] {
			asked[stem(w)] = true
		}
	}
	var answer, sources []string
	for _, p := range passages[:min(n, len(passages))] {
		type scored struct{ i, hits int }
		var ss []scored
		for i, s := range p.sentences {
			seen := map[string]bool{}
			for _, w := range words(s) {
				if w = stem(w); asked[w] {
					seen[w] = true
				}
			}
			if len(seen) > 0 {
				ss = append(ss, scored{i, len(seen)})
			}
		}
		slices.SortStableFunc(ss, func(a, b scored) int { return b.hits - a.hits })
		ss = ss[:min(maxCited, len(ss))]
		slices.SortFunc(ss, func(a, b scored) int { return a.i - b.i })
		var keep []string
		for _, s := range ss {
			keep = append(keep, p.sentences[s.i])
		}
		if len(keep) == 0 && len(p.sentences) > 0 {
			keep = p.sentences[:1]
		}
		answer = append(answer, fmt.Sprintf("%s [%d]", strings.Join(keep, " "), p.n))
		sources = append(sources, fmt.Sprintf("[%d] %s", p.n, p.document))
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

// citeRE matches citation marks, "[1]" or "[1, 2]", with the space before.
var citeRE = regexp.MustCompile(`\s*\[\d+(?:\s*,\s*\d+)*\]`)

// uncite is the Uncite transform.
func uncite(text string) string {
	if i := strings.LastIndex(text, "\nSources:\n"); i >= 0 {
		text = text[:i]
	}
	return strings.TrimSpace(citeRE.ReplaceAllString(text, ""))
}
