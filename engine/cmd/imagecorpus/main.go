// Command imagecorpus builds the captioned pictures the image model trains on, from Debian
// packages: Noto Color Emoji's bitmaps (read from the font's CBDT/CBLC tables) named by the
// English CLDR annotations, and the Open Clip Art Library's PNGs titled by their SVGs'
// metadata.
//
//	go run ./engine/cmd/imagecorpus -o out/imagecorpus
//
// Every picture is composited over white, shrunk to imagetok.Grid×Grid and mapped to a
// palette that k-means learns from the training split. It writes DIR/train.jsonl and
// DIR/heldout.jsonl (one record a line, sorted by id; one picture in 50 is held out by a hash
// of its id), DIR/palette.json and DIR/SOURCES.md (counts and licences). The output is byte for
// byte reproducible; the command prints each file's sha256.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/chorus-ai/chorus/engine/imagetok"
)

// Record is one captioned picture of the corpus.
type Record struct {
	ID       string   `json:"id"`
	Source   string   `json:"source"`
	Caption  string   `json:"caption"`  // the emoji's name or the clip art's title
	Keywords []string `json:"keywords"` // CLDR keywords, or the clip art's category and subjects
	Text     string   `json:"text"`     // what the model reads: caption, then new keywords
	Pixels   string   `json:"pixels"`   // Grid×Grid palette indices, hex, raster order
	rgb      []imagetok.RGB
}

const (
	emojiFont   = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
	cldrNames   = "/usr/share/unicode/cldr/common/annotations/en.xml"
	cldrDerived = "/usr/share/unicode/cldr/common/annotationsDerived/en.xml"
	clipartDir  = "/usr/share/openclipart"
	// Palette size and k-means settings.
	paletteSize = 256
	kmeansIters = 25
	kmeansSeed  = 1
	heldoutOne  = 50
	maxKeywords = 6
)

type source struct {
	name, pkgs, licence string
	files               []string
}

var sources = []source{
	{name: "noto-emoji", pkgs: "fonts-noto-color-emoji", files: []string{emojiFont},
		licence: "Noto Color Emoji: the font file is under the SIL Open Font License 1.1, the emoji images and sources under Apache-2.0 (Debian's copyright file)"},
	{name: "cldr", pkgs: "unicode-cldr-core", files: []string{cldrNames, cldrDerived},
		licence: "Unicode CLDR 41 annotations: Unicode-DFS-2016 (Unicode data files licence; keep the notice)"},
	{name: "openclipart", pkgs: "openclipart-png openclipart-svg", files: []string{clipartDir + "/png", clipartDir + "/svg"},
		licence: "Open Clip Art Library 0.18: public domain (every work carries a Creative Commons public domain dedication)"},
}

func main() {
	out := flag.String("o", "out/imagecorpus", "output directory")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "imagecorpus:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	var missing []string
	for _, s := range sources {
		for _, f := range s.files {
			if _, err := os.Stat(f); err != nil {
				missing = append(missing, s.pkgs)
				break
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing Debian packages; install them with: apt-get install -y %s", strings.Join(missing, " "))
	}
	start := time.Now()
	emoji, err := readEmoji()
	if err != nil {
		return err
	}
	fmt.Printf("emoji: %d captioned pictures (%v)\n", len(emoji), time.Since(start).Round(time.Millisecond))
	clip, err := readClipart()
	if err != nil {
		return err
	}
	fmt.Printf("clip art: %d captioned pictures (%v)\n", len(clip), time.Since(start).Round(time.Millisecond))
	all := append(emoji, clip...)
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	var train, held []*Record
	for _, r := range all {
		h := fnv.New64a()
		h.Write([]byte(r.ID))
		if h.Sum64()%heldoutOne == 0 {
			held = append(held, r)
		} else {
			train = append(train, r)
		}
	}
	var hist imagetok.Histogram
	for _, r := range train {
		hist.Add(r.rgb)
	}
	pal, err := hist.KMeans(paletteSize, kmeansIters, kmeansSeed)
	if err != nil {
		return err
	}
	var sqErr float64
	for _, r := range all {
		idx := pal.Quantize(r.rgb)
		r.Pixels = imagetok.Hex(idx)
		for i, c := range r.rgb {
			q := pal[idx[i]]
			for ch := range 3 {
				d := float64(c[ch]) - float64(q[ch])
				sqErr += d * d
			}
		}
	}
	fmt.Printf("palette: %d colours, RMS quantisation error %.2f (0-255 scale)\n", len(pal),
		sqrt(sqErr/float64(3*imagetok.Pixels*len(all))))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{}
	for name, recs := range map[string][]*Record{"train.jsonl": train, "heldout.jsonl": held} {
		var b bytes.Buffer
		for _, r := range recs {
			line, err := json.Marshal(r)
			if err != nil {
				return err
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		files[name] = b.Bytes()
	}
	pj, err := json.Marshal(pal)
	if err != nil {
		return err
	}
	files["palette.json"] = append(pj, '\n')
	files["SOURCES.md"] = sourcesMD(emoji, clip, train, held)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(out, n), files[n], 0o644); err != nil {
			return err
		}
		fmt.Printf("%x  %s\n", sha256.Sum256(files[n]), filepath.Join(out, n))
	}
	fmt.Printf("%d pictures: %d train, %d held out, in %v\n", len(all), len(train), len(held), time.Since(start).Round(time.Millisecond))
	return nil
}

func sqrt(x float64) float64 {
	if x <= 0 {
		return 0
	}
	z := x
	for range 60 {
		z = (z + x/z) / 2
	}
	return z
}

func sourcesMD(emoji, clip, train, held []*Record) []byte {
	var b strings.Builder
	b.WriteString("# Image corpus sources\n\n")
	fmt.Fprintf(&b, "%d pictures: %d train, %d held out (one in %d by an FNV-1a hash of the id).\n\n",
		len(train)+len(held), len(train), len(held), heldoutOne)
	b.WriteString("| source | Debian packages | pictures | licence |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| Noto Color Emoji bitmaps, named by CLDR | %s, %s | %d | %s; %s |\n", sources[0].pkgs, sources[1].pkgs,
		len(emoji), sources[0].licence, sources[1].licence)
	fmt.Fprintf(&b, "| Open Clip Art Library | %s | %d | %s |\n", sources[2].pkgs, len(clip), sources[2].licence)
	return []byte(b.String())
}

// parallel runs f(i) for i in [0, n) on GOMAXPROCS goroutines; results go by index, so the
// output does not depend on scheduling.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// annotations reads CLDR's English names ("tts") and keywords, keyed by the emoji without
// variation selectors.
type annotation struct {
	name     string
	keywords []string
}

func readAnnotations(paths ...string) (map[string]*annotation, error) {
	type ann struct {
		CP   string `xml:"cp,attr"`
		Type string `xml:"type,attr"`
		Text string `xml:",chardata"`
	}
	var doc struct {
		Annotations []ann `xml:"annotations>annotation"`
	}
	out := map[string]*annotation{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		doc.Annotations = nil
		if err := xml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, a := range doc.Annotations {
			k := stripVS(a.CP)
			e := out[k]
			if e == nil {
				e = &annotation{}
				out[k] = e
			}
			if a.Type == "tts" {
				if e.name == "" {
					e.name = strings.TrimSpace(a.Text)
				}
			} else if len(e.keywords) == 0 {
				for _, kw := range strings.Split(a.Text, "|") {
					if kw = strings.TrimSpace(kw); kw != "" {
						e.keywords = append(e.keywords, kw)
					}
				}
			}
		}
	}
	return out, nil
}

func stripVS(s string) string { return strings.ReplaceAll(s, "\uFE0F", "") }

func readEmoji() ([]*Record, error) {
	data, err := os.ReadFile(emojiFont)
	if err != nil {
		return nil, err
	}
	f, err := parseFont(data)
	if err != nil {
		return nil, err
	}
	bm, err := f.bitmaps()
	if err != nil {
		return nil, err
	}
	seqs, err := f.sequences()
	if err != nil {
		return nil, err
	}
	ann, err := readAnnotations(cldrNames, cldrDerived)
	if err != nil {
		return nil, err
	}
	var recs []*Record
	var pngs [][]byte
	seen := map[string]bool{}
	for _, g := range sortedGlyphs(bm) {
		rs, ok := seqs[g]
		if !ok {
			continue
		}
		key := stripVS(string(rs))
		a := ann[key]
		for _, alt := range f.alternatives[g] {
			if a != nil {
				break
			}
			key = stripVS(string(alt))
			a = ann[key]
		}
		if a == nil || a.name == "" || seen[key] {
			continue
		}
		seen[key] = true
		var id []string
		for _, r := range key {
			id = append(id, fmt.Sprintf("%04x", r))
		}
		name := strings.ToLower(a.name)
		recs = append(recs, &Record{ID: "emoji/" + strings.Join(id, "_"), Source: "noto-emoji", Caption: name,
			Keywords: a.keywords, Text: captionText(name, a.keywords)})
		pngs = append(pngs, bm[g])
	}
	errs := make([]error, len(recs))
	parallel(len(recs), func(i int) {
		img, err := png.Decode(bytes.NewReader(pngs[i]))
		if err != nil {
			errs[i] = fmt.Errorf("%s: %w", recs[i].ID, err)
			return
		}
		recs[i].rgb = imagetok.Shrink(img)
	})
	return recs, errors.Join(errs...)
}

// captionText is the caption the model reads: the name, then up to maxKeywords keywords whose
// words the name does not already hold.
func captionText(name string, keywords []string) string {
	have := map[string]bool{}
	for _, w := range words(name) {
		have[w] = true
	}
	parts := []string{name}
	for _, kw := range keywords {
		if len(parts) > maxKeywords {
			break
		}
		kw = strings.ToLower(kw)
		fresh := false
		for _, w := range words(kw) {
			if !have[w] {
				fresh = true
			}
			have[w] = true
		}
		if fresh {
			parts = append(parts, kw)
		}
	}
	return strings.Join(parts, ", ")
}

// words splits s into lowercase letter-or-digit words.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

var (
	reWork    = regexp.MustCompile(`(?s)<cc:Work.*?</cc:Work>`)
	reTitle   = regexp.MustCompile(`(?s)<dc:title>\s*([^<]*?)\s*</dc:title>`)
	reSubject = regexp.MustCompile(`(?s)<dc:subject>(.*?)</dc:subject>`)
	reLi      = regexp.MustCompile(`(?s)<rdf:li>\s*([^<]*?)\s*</rdf:li>`)
)

// junkKeywords are subjects that describe the file, not the picture.
var junkKeywords = map[string]bool{"unsorted": true, "clip art": true, "clipart": true, "image": true, "media": true,
	"public domain": true, "svg": true, "png": true, "externalsource": true, "": true, "jpg": true, "pd": true,
	"openclipart": true, "drawing": true, "picture": true, "color": true, "colour": true, "inkscape": true}

func readClipart() ([]*Record, error) {
	var svgs []string
	root := filepath.Join(clipartDir, "svg")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".svg") {
			svgs = append(svgs, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(svgs)
	recs := make([]*Record, len(svgs))
	errs := make([]error, len(svgs))
	parallel(len(svgs), func(i int) {
		rel, _ := filepath.Rel(root, svgs[i])
		rel = strings.TrimSuffix(rel, ".svg")
		pngPath := filepath.Join(clipartDir, "png", rel+".png")
		data, err := os.ReadFile(svgs[i])
		if err != nil {
			errs[i] = err
			return
		}
		meta := data
		if w := reWork.Find(data); w != nil {
			meta = w
		}
		title := ""
		if m := reTitle.FindSubmatch(meta); m != nil {
			title = cleanText(string(m[1]))
		}
		if title == "" || strings.EqualFold(title, "Open Clip Art Library") {
			title = fileTitle(rel)
		}
		var kws []string
		for _, dir := range strings.Split(filepath.Dir(rel), string(filepath.Separator)) {
			if dir != "." {
				kws = append(kws, strings.ReplaceAll(dir, "_", " "))
			}
		}
		if m := reSubject.FindSubmatch(meta); m != nil {
			for _, li := range reLi.FindAllSubmatch(m[1], -1) {
				if kw := cleanText(string(li[1])); !junkKeywords[kw] && len(kw) < 40 {
					kws = append(kws, kw)
				}
			}
		}
		f, err := os.Open(pngPath)
		if err != nil {
			return // a few SVGs have no rendered PNG; skip them
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			return // skip an unreadable PNG
		}
		if title == "" {
			return
		}
		recs[i] = &Record{ID: "clipart/" + rel, Source: "openclipart", Caption: title, Keywords: kws,
			Text: captionText(title, kws), rgb: imagetok.Shrink(img)}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A title that several files share names a collection ("part of the flat icon
	// collection", "clipart by ..."), not the picture: those take their file's name.
	shared := map[string]int{}
	for _, r := range recs {
		if r != nil {
			shared[r.Caption]++
		}
	}
	var out []*Record
	for _, r := range recs {
		if r == nil {
			continue
		}
		if shared[r.Caption] >= sharedTitle {
			if name := fileTitle(r.ID); name != "" {
				r.Caption = name
				r.Text = captionText(name, r.Keywords)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// sharedTitle is how many files must share a title for it to count as a collection's.
const sharedTitle = 3

// fileTitle makes a caption of a clip art file's name: "contour_bat_01" is "contour bat".
func fileTitle(id string) string {
	base := filepath.Base(id)
	return cleanText(strings.NewReplacer("_", " ", "-", " ", ".", " ").Replace(strings.TrimRight(base, "0123456789_-")))
}

var xmlEntities = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&#39;", "'")

// cleanText unescapes entities, lowercases and folds whitespace.
func cleanText(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(xmlEntities.Replace(s))), " ")
}
