// Command corpus builds the training and held-out text for Chorus's small model from Debian
// packages: the King James Bible, WordNet's glosses and example sentences, fortunes, the Jargon
// File and The Devil's Dictionary.
//
//	go run ./engine/cmd/corpus -o corpus
//
// It writes DIR/train.jsonl and DIR/heldout.jsonl (one {"source","text"} document a line, in a
// seeded shuffle), DIR/wordnet.jsonl (WordNet's headwords with their glosses and examples, split
// by headword, for the embedding model) and DIR/SOURCES.md (counts and each package's licence).
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// Doc is one training document.
type Doc struct {
	Source string `json:"source"`
	Text   string `json:"text"`
}

type source struct {
	name    string
	pkgs    []string // Debian packages it reads
	files   []string // files that must exist
	licence string
	read    func() ([]Doc, error)
}

func sources() []source {
	return []source{
		{name: "kjv", pkgs: []string{"bible-kjv", "bible-kjv-text"}, files: []string{"/usr/bin/bible", "/usr/lib/bible.data"},
			licence: "King James Version text: public domain (copyright expired); the bible-kjv packaging and reader are GPL-2+",
			read:    readKJV},
		{name: "wordnet", pkgs: []string{"dict-wn"}, files: []string{"/usr/share/dictd/wn.index", "/usr/share/dictd/wn.dict.dz"},
			licence: "WordNet 3.0 licence (Princeton University; permissive, attribution, no warranty)",
			read:    readWordNet},
		{name: "jargon", pkgs: []string{"jargon-text"}, files: []string{"/usr/share/doc/jargon-text/jargon.txt.gz"},
			licence: "The Jargon File: public domain", read: readJargon},
		{name: "devil", pkgs: []string{"dict-devil"}, files: []string{"/usr/share/dictd/devil.index", "/usr/share/dictd/devil.dict.dz"},
			licence: "The Devil's Dictionary (Ambrose Bierce, 1911): public domain, copyright expired", read: readDevil},
		{name: "fortunes", pkgs: []string{"fortunes", "fortunes-min"}, files: []string{"/usr/share/games/fortunes/fortunes", "/usr/share/games/fortunes/computers"},
			licence: "fortune-mod data files as packaged by Debian (BSD-style licence for the package; quotations from many authors)",
			read:    readFortunes},
	}
}

// wordNetHeldout holds one WordNet headword in this many out of the embedding model's training.
const wordNetHeldout = 10

func main() {
	out := flag.String("o", "corpus", "output directory")
	seed := flag.Uint64("seed", 1, "shuffle seed")
	heldout := flag.Int("heldout", 50, "hold out one document in this many (by a hash of its text)")
	flag.Parse()
	if err := run(*out, *seed, *heldout); err != nil {
		fmt.Fprintln(os.Stderr, "corpus:", err)
		os.Exit(1)
	}
}

func run(out string, seed uint64, heldout int) error {
	srcs := sources()
	var missing []string
	for _, s := range srcs {
		for _, f := range s.files {
			if _, err := os.Stat(f); err != nil {
				missing = append(missing, s.pkgs...)
				break
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing Debian packages; install them with:\n  sudo apt-get install -y %s", strings.Join(missing, " "))
	}
	if heldout < 2 {
		return errors.New("-heldout must be at least 2")
	}
	seen := map[string]bool{}
	var all []Doc
	counts := map[string][2]int{} // docs, words
	for _, s := range srcs {
		docs, err := s.read()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		for _, d := range docs {
			d.Text = normalise(d.Text)
			// Keyed on the body, so WordNet's synonyms (one entry each, the same senses) and
			// repeated fortunes count once.
			key := strings.ToLower(d.Text)
			if strings.HasPrefix(key, "title: ") {
				if _, body, ok := strings.Cut(key, "\n\n"); ok {
					key = body
				}
			}
			if len(d.Text) < 20 || seen[key] {
				continue
			}
			seen[key] = true
			d.Source = s.name
			all = append(all, d)
			c := counts[s.name]
			c[0]++
			c[1] += len(strings.Fields(d.Text))
			counts[s.name] = c
		}
	}
	shuffle(all, seed)
	var train, held []Doc
	for _, d := range all {
		if hash(d.Text)%uint64(heldout) == 0 {
			held = append(held, d)
		} else {
			train = append(train, d)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := writeJSONL(filepath.Join(out, "train.jsonl"), train); err != nil {
		return err
	}
	if err := writeJSONL(filepath.Join(out, "heldout.jsonl"), held); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Corpus sources\n\n%d documents: %d train, %d held out (one in %d by text hash), shuffle seed %d.\n\n",
		len(all), len(train), len(held), heldout, seed)
	b.WriteString("| source | Debian packages | documents | words | licence |\n|---|---|---|---|---|\n")
	for _, s := range srcs {
		c := counts[s.name]
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s |\n", s.name, strings.Join(s.pkgs, ", "), c[0], c[1], s.licence)
	}
	wnTrain, wnHeld, err := writeWordNet(filepath.Join(out, "wordnet.jsonl"), wordNetHeldout)
	if err != nil {
		return fmt.Errorf("wordnet.jsonl: %w", err)
	}
	fmt.Fprintf(&b, "\nwordnet.jsonl: %d WordNet headwords with their senses (glosses, examples): %d train, %d held out (one in %d by headword hash), for the embedding model.\n",
		wnTrain+wnHeld, wnTrain, wnHeld, wordNetHeldout)
	if err := os.WriteFile(filepath.Join(out, "SOURCES.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(b.String())
	return nil
}

func writeJSONL(path string, docs []Doc) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func hash(s string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, s)
	return h.Sum64()
}

// shuffle is a Fisher-Yates shuffle driven by splitmix64, so the order is the same on every
// Go version (math/rand's streams are not promised to stay fixed).
func shuffle(d []Doc, seed uint64) {
	s := seed
	next := func() uint64 {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		return z ^ z>>31
	}
	for i := len(d) - 1; i > 0; i-- {
		j := int(next() % uint64(i+1))
		d[i], d[j] = d[j], d[i]
	}
}

var asciiFold = strings.NewReplacer("“", `"`, "”", `"`, "‘", "'", "’", "'", "—", " -- ", "–", "-", "…", "...",
	"\u00a0", " ", "`", "'", "\t", " ")

var spaces = regexp.MustCompile(` {2,}`)

// normalise folds typographic punctuation to ASCII, drops control characters, collapses runs
// of spaces and keeps at most one blank line between paragraphs.
func normalise(s string) string {
	s = asciiFold.Replace(s)
	s = strings.Map(func(r rune) rune {
		if r == '\n' || (unicode.IsPrint(r) && r < 0x250) {
			return r
		}
		if unicode.IsSpace(r) {
			return ' '
		}
		return -1
	}, s)
	var paras []string
	for _, p := range strings.Split(s, "\n\n") {
		var lines []string
		for _, l := range strings.Split(p, "\n") {
			if l = strings.TrimSpace(spaces.ReplaceAllString(l, " ")); l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			paras = append(paras, strings.Join(lines, "\n"))
		}
	}
	return strings.Join(paras, "\n\n")
}

// joinLines turns hard-wrapped prose into one line per paragraph.
func joinLines(p string) string { return strings.Join(strings.Fields(p), " ") }

var kjvBooks = map[string]string{"Ge": "Genesis", "Exo": "Exodus", "Lev": "Leviticus", "Num": "Numbers",
	"Deu": "Deuteronomy", "Josh": "Joshua", "Jdgs": "Judges", "Ruth": "Ruth", "1Sm": "1 Samuel", "2Sm": "2 Samuel",
	"1Ki": "1 Kings", "2Ki": "2 Kings", "1Chr": "1 Chronicles", "2Chr": "2 Chronicles", "Ezra": "Ezra",
	"Neh": "Nehemiah", "Est": "Esther", "Job": "Job", "Psa": "Psalms", "Prv": "Proverbs", "Eccl": "Ecclesiastes",
	"SSol": "Song of Solomon", "Isa": "Isaiah", "Jer": "Jeremiah", "Lam": "Lamentations", "Eze": "Ezekiel",
	"Dan": "Daniel", "Hos": "Hosea", "Joel": "Joel", "Amos": "Amos", "Obad": "Obadiah", "Jonah": "Jonah",
	"Mic": "Micah", "Nahum": "Nahum", "Hab": "Habakkuk", "Zep": "Zephaniah", "Hag": "Haggai", "Zec": "Zechariah",
	"Mal": "Malachi", "Mat": "Matthew", "Mark": "Mark", "Luke": "Luke", "John": "John", "Acts": "Acts",
	"Rom": "Romans", "1Cor": "1 Corinthians", "2Cor": "2 Corinthians", "Gal": "Galatians", "Eph": "Ephesians",
	"Phi": "Philippians", "Col": "Colossians", "1Th": "1 Thessalonians", "2Th": "2 Thessalonians",
	"1Tim": "1 Timothy", "2Tim": "2 Timothy", "Titus": "Titus", "Phmn": "Philemon", "Heb": "Hebrews",
	"Jas": "James", "1Pet": "1 Peter", "2Pet": "2 Peter", "1Jn": "1 John", "2Jn": "2 John", "3Jn": "3 John",
	"Jude": "Jude", "Rev": "Revelation"}

var verseRef = regexp.MustCompile(`^([0-9]?[A-Za-z]+)([0-9]+):[0-9]+ (.*)$`)

// readKJV makes one document per chapter, titled "Book chapter", verse numbers stripped.
func readKJV() ([]Doc, error) {
	out, err := exec.Command("bible", "-f", "gen1:1-rev22:21").Output()
	if err != nil {
		return nil, fmt.Errorf("bible -f: %w", err)
	}
	var docs []Doc
	var cur, title string
	var verses []string
	flush := func() {
		if len(verses) > 0 {
			docs = append(docs, Doc{Text: "Title: " + title + "\n\n" + strings.Join(verses, " ")})
		}
		verses = nil
	}
	for _, line := range strings.Split(string(out), "\n") {
		m := verseRef.FindStringSubmatch(line)
		if m == nil {
			if strings.TrimSpace(line) != "" && len(verses) > 0 { // a wrapped verse
				verses[len(verses)-1] += " " + strings.TrimSpace(line)
			}
			continue
		}
		if key := m[1] + ":" + m[2]; key != cur {
			flush()
			cur = key
			book, ok := kjvBooks[m[1]]
			if !ok {
				book = m[1]
			}
			title = book + " " + m[2]
		}
		verses = append(verses, strings.TrimSpace(m[3]))
	}
	flush()
	if len(docs) < 1000 {
		return nil, fmt.Errorf("only %d chapters read", len(docs))
	}
	return docs, nil
}

// dictEntries reads a dictd database through its index: headword and entry text, in index order.
func dictEntries(index, dict string) ([][2]string, error) {
	f, err := os.Open(dict)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f) // dictzip files are gzip files with a random-access table
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	idx, err := os.ReadFile(index)
	if err != nil {
		return nil, err
	}
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	num := func(s string) int {
		n := 0
		for _, c := range s {
			n = n*64 + strings.IndexRune(b64, c)
		}
		return n
	}
	var out [][2]string
	for _, line := range strings.Split(string(idx), "\n") {
		parts := strings.Split(line, "\t")
		if len(parts) != 3 || strings.HasPrefix(parts[0], "00-database") || strings.HasPrefix(parts[0], "00database") {
			continue
		}
		off, n := num(parts[1]), num(parts[2])
		if off < 0 || n < 0 || off+n > len(data) {
			continue
		}
		out = append(out, [2]string{parts[0], string(data[off : off+n])})
	}
	return out, nil
}

var (
	wnSense   = regexp.MustCompile(`^\s*(?:(?:n|v|adj|adv)\s+)?\d+:\s*|^\s*(?:n|v|adj|adv)\s+`)
	wnSyn     = regexp.MustCompile(`\[(?:syn|ant|also):[^\]]*\]`)
	wnQuote   = regexp.MustCompile(`"([^"]+)"`)
	wnBracket = regexp.MustCompile(`[{}]`)
)

// Sense is one WordNet sense of a headword: its gloss and example sentences.
type Sense struct {
	Gloss    string   `json:"gloss,omitempty"`
	Examples []string `json:"examples,omitempty"`
}

// Headword is a WordNet entry as wordnet.jsonl holds it, for the embedding model's contrastive
// training and retrieval evaluation (engine/cmd/embedtrain). Split is "train" or "heldout",
// chosen by a hash of the headword so every sense of a held-out headword stays unseen.
type Headword struct {
	Headword string  `json:"headword"`
	Split    string  `json:"split"`
	Senses   []Sense `json:"senses"`
}

// wordNetHeadwords reads every WordNet entry that has a sense, its senses in order.
func wordNetHeadwords() ([]Headword, error) {
	entries, err := dictEntries("/usr/share/dictd/wn.index", "/usr/share/dictd/wn.dict.dz")
	if err != nil {
		return nil, err
	}
	var out []Headword
	for _, e := range entries {
		lines := strings.Split(e[1], "\n")
		if len(lines) < 2 {
			continue
		}
		// Senses start with "n 1:", "2:", "adj 1:"; their text runs over wrapped lines.
		var raw []string
		for _, l := range lines[1:] {
			if wnSense.MatchString(l) {
				raw = append(raw, wnSense.ReplaceAllString(l, ""))
			} else if len(raw) > 0 {
				raw[len(raw)-1] += " " + strings.TrimSpace(l)
			}
		}
		h := Headword{Headword: e[0]}
		for _, s := range raw {
			s = wnBracket.ReplaceAllString(wnSyn.ReplaceAllString(joinLines(s), ""), "")
			quotes := wnQuote.FindAllStringSubmatch(s, -1)
			gloss := strings.TrimSpace(strings.SplitN(s, ";", 2)[0])
			if i := strings.IndexByte(gloss, '"'); i >= 0 {
				gloss = strings.TrimSpace(gloss[:i])
			}
			// A sense without a gloss keeps its examples (the training documents have them).
			sense := Sense{Gloss: sentence(gloss)}
			for _, q := range quotes {
				sense.Examples = append(sense.Examples, sentence(q[1]))
			}
			if sense.Gloss != "" || len(sense.Examples) > 0 {
				h.Senses = append(h.Senses, sense)
			}
		}
		if len(h.Senses) > 0 {
			out = append(out, h)
		}
	}
	return out, nil
}

// readWordNet makes one document per headword that has example sentences: each sense's gloss
// as a sentence followed by its examples.
func readWordNet() ([]Doc, error) {
	heads, err := wordNetHeadwords()
	if err != nil {
		return nil, err
	}
	var docs []Doc
	for _, h := range heads {
		var sents []string
		examples := 0
		for _, s := range h.Senses {
			if s.Gloss != "" {
				sents = append(sents, s.Gloss)
			}
			sents = append(sents, s.Examples...)
			examples += len(s.Examples)
		}
		if examples == 0 {
			continue
		}
		docs = append(docs, Doc{Text: "Title: " + h.Headword + "\n\n" + strings.Join(sents, " ")})
	}
	return docs, nil
}

// writeWordNet writes DIR/wordnet.jsonl: every headword with its senses, one in heldout held
// out by a hash of the headword.
func writeWordNet(path string, heldout int) (train, held int, err error) {
	heads, err := wordNetHeadwords()
	if err != nil {
		return 0, 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, h := range heads {
		h.Split = "train"
		if hash(strings.ToLower(h.Headword))%uint64(heldout) == 0 {
			h.Split = "heldout"
			held++
		} else {
			train++
		}
		if err := enc.Encode(h); err != nil {
			f.Close()
			return 0, 0, err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, 0, err
	}
	return train, held, f.Close()
}

// sentence capitalises s and ends it with a full stop unless it ends in punctuation.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	s = string(r)
	if !strings.ContainsAny(s[len(s)-1:], ".!?") {
		s += "."
	}
	return s
}

var devilHead = regexp.MustCompile(`^([A-Z][A-Z' -]+), ([a-z.]+ ?[a-z.]*)\s+`)

// readDevil makes one document per entry of The Devil's Dictionary, titled by the word.
func readDevil() ([]Doc, error) {
	entries, err := dictEntries("/usr/share/dictd/devil.index", "/usr/share/dictd/devil.dict.dz")
	if err != nil {
		return nil, err
	}
	var docs []Doc
	for _, e := range entries {
		body := strings.TrimSpace(e[1])
		// The entry text begins with its own headword line ("ABSURDITY, n.  A statement ...").
		m := devilHead.FindStringSubmatch(body)
		if m == nil {
			continue
		}
		word := strings.ToUpper(m[1][:1]) + strings.ToLower(m[1][1:])
		text := body[len(m[0]):]
		var paras []string
		for _, p := range strings.Split(text, "\n\n") {
			if strings.HasPrefix(p, "    ") { // verse: keep its lines
				paras = append(paras, p)
			} else {
				paras = append(paras, joinLines(p))
			}
		}
		docs = append(docs, Doc{Text: "Title: " + word + "\n\n" + strings.Join(paras, "\n\n")})
	}
	return docs, nil
}

var (
	jargonHead  = regexp.MustCompile(`^   :([^:]+):(.*)$`)
	jargonBrace = regexp.MustCompile(`[{}]`)
)

// readJargon makes one document per Jargon File entry, titled by the headword.
func readJargon() ([]Doc, error) {
	f, err := os.Open("/usr/share/doc/jargon-text/jargon.txt.gz")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var docs []Doc
	var title string
	var paras []string
	var cur []string
	endPara := func() {
		if len(cur) > 0 {
			paras = append(paras, joinLines(strings.Join(cur, " ")))
		}
		cur = nil
	}
	flush := func() {
		endPara()
		if title != "" && len(paras) > 0 {
			docs = append(docs, Doc{Text: "Title: " + title + "\n\n" + jargonBrace.ReplaceAllString(strings.Join(paras, "\n\n"), "")})
		}
		title, paras = "", nil
	}
	for _, line := range strings.Split(string(data), "\n") {
		if m := jargonHead.FindStringSubmatch(line); m != nil {
			flush()
			title = strings.TrimSpace(m[1])
			continue
		}
		if title == "" {
			continue
		}
		if strings.TrimSpace(line) == "" {
			endPara()
			continue
		}
		cur = append(cur, strings.TrimSpace(line))
	}
	flush()
	return docs, nil
}

// readFortunes makes one document per fortune from every non-offensive, non-ASCII-art file.
func readFortunes() ([]Doc, error) {
	dir := "/usr/share/games/fortunes"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	skip := map[string]bool{"art": true, "ascii-art": true}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || strings.Contains(n, ".") || skip[n] {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var docs []Doc
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		for _, fo := range strings.Split(string(data), "\n%\n") {
			fo = strings.TrimSpace(strings.TrimSuffix(fo, "%"))
			if fo == "" || strings.Count(fo, "\n") > 30 {
				continue
			}
			docs = append(docs, Doc{Text: fo})
		}
	}
	return docs, nil
}
