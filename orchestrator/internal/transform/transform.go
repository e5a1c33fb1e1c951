// Package transform provides the text transforms a pipeline step can apply
// without a model: splitting a text into sentences or scenes, taking the
// first items, joining lines, and an extractive summary. They give
// sensible results where a step would otherwise need an
// instruction-following model.
package transform

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/chorus-ai/chorus/platform/sentence"
)

// Names of the transforms, as a step's transform: field spells them.
const (
	// SplitSentences writes the text's sentences one per line.
	SplitSentences = "split_sentences"
	// SplitScenes N groups the text's sentences, in order, into N scenes of
	// nearly equal length, one scene per line (fewer when there are fewer
	// sentences).
	SplitScenes = "split_scenes"
	// Take N keeps the first N lines.
	Take = "take"
	// Join joins the lines into one paragraph.
	Join = "join"
	// Template passes the step's rendered text through unchanged (the
	// template did the work).
	Template = "template"
	// Extract N is an extractive summary: the N sentences that best
	// represent the text (by the frequency of their content words), in
	// their original order, as one paragraph.
	Extract = "extract"
	// Enumerate N writes the numbers 1 to N, one per line, whatever the text:
	// the items of a for_each step that should run N times.
	Enumerate = "enumerate"
	// Repeat N writes each non-blank line N times in a row: the items of a
	// for_each step that makes N variants of each line.
	Repeat = "repeat"
	// Retrieve NAME K searches the collection NAME for the text and writes
	// the K best passages as FormatPassages does: numbered blocks headed
	// "[1] README.md". It needs a collection service, so the runner runs
	// it; Apply leaves the text unchanged.
	Retrieve = "retrieve"
	// Cite N answers from numbered passages (Retrieve's blocks, after the
	// question) without a model: from each of the N best passages, the
	// sentences that share most words with the question, each passage
	// cited by its number, then the sources. See cite.go.
	Cite = "cite"
	// Uncite removes what Cite and cited answers add for readers, not
	// listeners: the "[1]" marks and a closing "Sources:" list.
	Uncite = "uncite"
)

// MaxN bounds the count of split_scenes, take, extract, enumerate, repeat,
// retrieve and cite.
const MaxN = 10000

// ErrInvalid is wrapped by Parse's errors.
var ErrInvalid = errors.New("invalid transform")

// Op is one parsed transform.
type Op struct {
	Name string
	N    int    // the count of split_scenes, take, extract, enumerate, repeat, retrieve and cite
	Arg  string // the collection of retrieve
}

// Parse reads a transform as written, "split_scenes 3".
func Parse(s string) (Op, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return Op{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	op := Op{Name: f[0]}
	switch op.Name {
	case SplitSentences, Join, Template, Uncite:
		if len(f) != 1 {
			return Op{}, fmt.Errorf("%w: %s takes no argument", ErrInvalid, op.Name)
		}
	case Retrieve:
		if len(f) != 3 {
			return Op{}, fmt.Errorf("%w: retrieve takes a collection and a count, as in %q", ErrInvalid, "retrieve docs 5")
		}
		op.Arg, f = f[1], f[1:]
		fallthrough
	case SplitScenes, Take, Extract, Enumerate, Repeat, Cite:
		if len(f) != 2 {
			return Op{}, fmt.Errorf("%w: %s takes one count, as in %q", ErrInvalid, op.Name, op.Name+" 3")
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 1 || n > MaxN {
			return Op{}, fmt.Errorf("%w: %s: the count %q must be an integer from 1 to %d", ErrInvalid, op.Name, f[1], MaxN)
		}
		op.N = n
	default:
		return Op{}, fmt.Errorf("%w: %q is none of %s", ErrInvalid, op.Name, strings.Join(Names(), ", "))
	}
	return op, nil
}

// Names lists the transforms.
func Names() []string {
	return []string{SplitSentences, SplitScenes, Take, Join, Template, Extract, Enumerate, Repeat, Retrieve, Cite, Uncite}
}

// Apply transforms text.
func (op Op) Apply(text string) string {
	switch op.Name {
	case SplitSentences:
		return strings.Join(sentence.Split(text), "\n")
	case SplitScenes:
		return strings.Join(scenes(sentence.Split(text), op.N), "\n")
	case Take:
		ls := lines(text)
		return strings.Join(ls[:min(op.N, len(ls))], "\n")
	case Join:
		return strings.Join(lines(text), " ")
	case Extract:
		return strings.Join(extract(sentence.Split(text), op.N), " ")
	case Enumerate:
		out := make([]string, op.N)
		for i := range out {
			out[i] = strconv.Itoa(i + 1)
		}
		return strings.Join(out, "\n")
	case Repeat:
		var out []string
		for _, l := range lines(text) {
			for range op.N {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	case Cite:
		return cite(text, op.N)
	case Uncite:
		return uncite(text)
	}
	return text
}

// lines returns the non-blank lines of text, trimmed.
func lines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// scenes splits sentences, in order, into n groups whose lengths in
// characters are as even as consecutive sentences allow.
func scenes(sentences []string, n int) []string {
	n = min(n, len(sentences))
	if n == 0 {
		return nil
	}
	total := 0
	for _, s := range sentences {
		total += len(s)
	}
	out := make([]string, 0, n)
	var cur []string
	done := 0
	for i, s := range sentences {
		cur = append(cur, s)
		done += len(s)
		left := len(sentences) - i - 1 // sentences not yet placed
		groups := n - len(out) - 1     // groups still to fill after this one
		target := total * (len(out) + 1) / n
		// Cut where the running length comes nearest the group's share.
		if groups > 0 && (left == groups || done+len(sentences[i+1])/2 >= target) {
			out = append(out, strings.Join(cur, " "))
			cur = nil
		}
	}
	return append(out, strings.Join(cur, " "))
}

// stopwords carry no topic; they do not count towards a sentence's score.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about after all also an and any are as at be because been but by can could did do does
	for from had has have he her him his how i if in into is it its just more most my no not now of on one only or other our
	out over she so some such than that the their them then there these they this those through to up upon us very was we
	were what when where which while who will with would you your unto shall thee thou thy hath`) {
		m[w] = true
	}
	return m
}()

func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\'' })
}

// extract returns the n sentences with the highest mean frequency of
// their content words (a classic extractive summary), in text order.
func extract(sentences []string, n int) []string {
	if n >= len(sentences) {
		return sentences
	}
	freq := map[string]int{}
	for _, s := range sentences {
		for _, w := range words(s) {
			if !stopwords[w] {
				freq[w]++
			}
		}
	}
	type scored struct {
		i     int
		score float64
	}
	ss := make([]scored, len(sentences))
	for i, s := range sentences {
		sum, count := 0, 0
		for _, w := range words(s) {
			if !stopwords[w] {
				sum += freq[w]
				count++
			}
		}
		score := 0.0
		if count > 0 {
			// The mean favours dense sentences; the square root of the
			// count keeps one-word fragments from winning.
			score = float64(sum) / float64(count) * math.Sqrt(float64(count))
		}
		ss[i] = scored{i, score}
	}
	slices.SortStableFunc(ss, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return a.i - b.i
	})
	keep := ss[:n]
	slices.SortFunc(keep, func(a, b scored) int { return a.i - b.i })
	out := make([]string, n)
	for j, k := range keep {
		out[j] = sentences[k.i]
	}
	return out
}
