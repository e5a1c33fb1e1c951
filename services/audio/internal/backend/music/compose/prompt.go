// Package compose writes a short piece of music from a prompt by rule:
// a seeded, algorithmic composer (chord progressions, voice leading, a
// melody walking the scale), not a trained model. The prompt's words set
// its duration, tempo, key, mood and instruments.
package compose

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Defaults and bounds of what a prompt may ask.
const (
	DefaultSeconds = 20
	MinSeconds     = 2
	// MaxSeconds is five minutes: about 29 MB of mono WAV at 48 kHz,
	// which StreamGenerate sends in parts (a unary response carries about
	// 36 s), within what a client reassembles by default
	// (genai.MaxArtifactBytes), and about half a minute to render.
	MaxSeconds = 300
	MinBPM     = 40
	MaxBPM     = 220
)

// Mood is the character a prompt asks for.
type Mood string

// The moods a prompt's words select; Neutral when none is named.
const (
	Neutral   Mood = "neutral"
	Calm      Mood = "calm"
	Energetic Mood = "energetic"
	Happy     Mood = "happy"
	Sad       Mood = "sad"
)

// moodWords maps words of a prompt to moods; the first found wins.
var moodWords = []struct {
	mood  Mood
	words []string
}{
	{Calm, []string{"calm", "peaceful", "gentle", "relaxing", "relaxed", "soothing", "quiet", "ambient", "serene", "soft", "slow", "lullaby", "dreamy"}},
	{Energetic, []string{"energetic", "upbeat", "fast", "lively", "driving", "exciting", "intense", "powerful", "dance", "action", "epic", "rock"}},
	{Sad, []string{"sad", "melancholy", "melancholic", "dark", "somber", "sombre", "mournful", "gloomy", "tragic"}},
	{Happy, []string{"happy", "joyful", "bright", "cheerful", "playful", "sunny", "festive"}},
}

// style is what a mood sets unless the prompt says otherwise.
type style struct {
	bpm     float64
	minor   bool
	density float64 // melody notes a beat, roughly: 0.5 to 2
	drums   bool
	vel     int // base velocity
}

var styles = map[Mood]style{
	Neutral:   {bpm: 100, density: 1, drums: true, vel: 80},
	Calm:      {bpm: 70, density: 0.6, drums: false, vel: 60},
	Energetic: {bpm: 140, density: 2, drums: true, vel: 100},
	Happy:     {bpm: 120, density: 1.3, drums: true, vel: 88},
	Sad:       {bpm: 72, minor: true, density: 0.7, drums: false, vel: 62},
}

// Instrument is a General MIDI program a prompt can name.
type Instrument struct {
	Name    string
	Program uint8
}

// instruments are matched in this order, so "electric piano" is found
// before "piano" and "bass guitar" before "guitar".
var instruments = []struct {
	words []string
	inst  Instrument
}{
	{[]string{"electric piano", "rhodes"}, Instrument{"electric piano", 4}},
	{[]string{"electric guitar"}, Instrument{"electric guitar", 27}},
	{[]string{"bass guitar"}, Instrument{"bass guitar", 33}},
	{[]string{"piano"}, Instrument{"piano", 0}},
	{[]string{"organ"}, Instrument{"organ", 19}},
	{[]string{"guitar"}, Instrument{"guitar", 24}},
	{[]string{"strings", "string"}, Instrument{"strings", 48}},
	{[]string{"violin"}, Instrument{"violin", 40}},
	{[]string{"cello"}, Instrument{"cello", 42}},
	{[]string{"harp"}, Instrument{"harp", 46}},
	{[]string{"choir", "voices"}, Instrument{"choir", 52}},
	{[]string{"trumpet", "brass"}, Instrument{"trumpet", 56}},
	{[]string{"saxophone", "sax"}, Instrument{"saxophone", 65}},
	{[]string{"clarinet"}, Instrument{"clarinet", 71}},
	{[]string{"flute"}, Instrument{"flute", 73}},
	{[]string{"synth", "synthesizer"}, Instrument{"synth", 81}},
	{[]string{"marimba"}, Instrument{"marimba", 12}},
	{[]string{"vibraphone", "bells"}, Instrument{"vibraphone", 11}},
	{[]string{"music box"}, Instrument{"music box", 10}},
}

// Instruments lists the instrument names a prompt may use.
func Instruments() []string {
	names := make([]string, 0, len(instruments))
	for _, i := range instruments {
		names = append(names, i.inst.Name)
	}
	return names
}

// Params are the choices a prompt makes, with defaults filled in.
type Params struct {
	// Seed drives every random choice: "seed N" in the prompt, else a
	// hash of the prompt text.
	Seed int64
	// Seconds is how long the piece plays.
	Seconds float64
	// BPM is the tempo, speed already applied.
	BPM float64
	// Tonic is the key's pitch class, 0 (C) to 11 (B).
	Tonic int
	// Minor is the mode.
	Minor bool
	Mood  Mood
	// Lead plays the melody, Harmony the chords.
	Lead, Harmony Instrument
	// Drums says whether a drum kit plays.
	Drums bool
	// Density is melody notes a beat, roughly.
	Density float64
}

// Key names the key, "D minor".
func (p Params) Key() string {
	mode := "major"
	if p.Minor {
		mode = "minor"
	}
	return pitchNames[p.Tonic] + " " + mode
}

var pitchNames = []string{"C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"}

var (
	secondsRE = regexp.MustCompile(`\b(\d+(?:\.\d+)?|` + numberAlternatives() + `)\s*-?\s*(secs?|seconds?|mins?|minutes?)\b`)
	bpmRE     = regexp.MustCompile(`(\d+(?:\.\d+)?)\s*-?\s*bpm\b`)
	// "in D minor", "in F# major", "key of E flat": after "in" the mode
	// must follow, or "in a calm mood" would be A.
	keyRE     = regexp.MustCompile(`(?:\bkey of\s+([a-g])(#|♯|b\b|♭|\s+sharp|\s+flat)?(?:\s+(major|minor))?|\bin\s+([a-g])(#|♯|b|♭|\s+sharp|\s+flat)?\s+(major|minor)\b)`)
	seedRE    = regexp.MustCompile(`\bseed\s*[:=]?\s*(\d{1,18})\b`)
	noDrumsRE = regexp.MustCompile(`\b(no|without)\s+(drums|percussion|beat)\b`)
	wordRE    = regexp.MustCompile(`[a-z]+`)
)

// numberWords are the durations a prompt may spell out: "thirty seconds",
// "a minute".
var numberWords = map[string]float64{
	"a": 1, "one": 1, "half a": 0.5, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
	"nine": 9, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "twenty-five": 25, "thirty": 30,
	"thirty-five": 35, "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90,
}

// numberAlternatives is numberWords as a regexp alternation, longest
// first, so "twenty-five" is not read as "twenty".
func numberAlternatives() string {
	words := make([]string, 0, len(numberWords))
	for w := range numberWords {
		words = append(words, w)
	}
	slices.SortFunc(words, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b)) })
	return strings.Join(words, "|")
}

// Invalid is a prompt that asks for something out of bounds.
type Invalid struct{ Msg string }

func (e *Invalid) Error() string { return "compose: " + e.Msg }

// Parse reads a prompt's choices. speed (0 for 1) multiplies the tempo.
func Parse(prompt string, speed float64) (Params, error) {
	text := strings.ToLower(prompt)
	words := map[string]bool{}
	for _, w := range wordRE.FindAllString(text, -1) {
		words[w] = true
	}
	p := Params{Seconds: DefaultSeconds, Mood: Neutral}

	if m := seedRE.FindStringSubmatch(text); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		p.Seed = n
	} else {
		h := fnv.New64a()
		h.Write([]byte(prompt))
		p.Seed = int64(h.Sum64() >> 1)
	}

	if m := secondsRE.FindStringSubmatch(text); m != nil {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			v = numberWords[m[1]]
		}
		if strings.HasPrefix(m[2], "m") {
			v *= 60
		}
		if v < MinSeconds || v > MaxSeconds {
			return Params{}, &Invalid{fmt.Sprintf("asks for %v seconds; a piece is %d to %d seconds", v, MinSeconds, MaxSeconds)}
		}
		p.Seconds = v
	}

	for _, mw := range moodWords {
		if anyWord(words, mw.words) {
			p.Mood = mw.mood
			break
		}
	}
	st := styles[p.Mood]
	p.BPM, p.Minor, p.Density, p.Drums = st.bpm, st.minor, st.density, st.drums
	if m := bpmRE.FindStringSubmatch(text); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		if v < MinBPM || v > MaxBPM {
			return Params{}, &Invalid{fmt.Sprintf("asks for %v bpm; the tempo is %d to %d bpm", v, MinBPM, MaxBPM)}
		}
		p.BPM = v
	}
	if speed > 0 {
		p.BPM = math.Round(min(max(p.BPM*speed, MinBPM), MaxBPM)*10) / 10
	}

	if m := keyRE.FindStringSubmatch(text); m != nil {
		if m[1] == "" {
			m = append(m[:1], m[4:]...)
		}
		p.Tonic = map[byte]int{'c': 0, 'd': 2, 'e': 4, 'f': 5, 'g': 7, 'a': 9, 'b': 11}[m[1][0]]
		switch strings.TrimSpace(m[2]) {
		case "#", "♯", "sharp":
			p.Tonic = (p.Tonic + 1) % 12
		case "b", "♭", "flat":
			p.Tonic = (p.Tonic + 11) % 12
		}
		switch m[3] {
		case "minor", "min":
			p.Minor = true
		case "major", "maj":
			p.Minor = false
		}
	} else if p.Minor {
		p.Tonic = 9 // A minor, C major's relative
	}
	if words["minor"] {
		p.Minor = true
	} else if words["major"] {
		p.Minor = false
	}

	var named []Instrument
	for _, in := range instruments {
		for _, w := range in.words {
			if containsPhrase(text, w) && !containsInst(named, in.inst) {
				named = append(named, in.inst)
				break
			}
		}
	}
	// Mention order decides lead and harmony: sort by first position.
	pos := func(i Instrument) int {
		for _, in := range instruments {
			if in.inst == i {
				best := len(text)
				for _, w := range in.words {
					if j := indexPhrase(text, w); j >= 0 && j < best {
						best = j
					}
				}
				return best
			}
		}
		return len(text)
	}
	for i := 1; i < len(named); i++ {
		for j := i; j > 0 && pos(named[j]) < pos(named[j-1]); j-- {
			named[j], named[j-1] = named[j-1], named[j]
		}
	}
	p.Lead = Instrument{"piano", 0}
	p.Harmony = Instrument{"piano", 0}
	if p.Mood == Calm || p.Mood == Sad {
		p.Harmony = Instrument{"strings", 48}
	}
	if len(named) > 0 {
		p.Lead = named[0]
		p.Harmony = named[0]
	}
	if len(named) > 1 {
		p.Harmony = named[1]
	}

	if words["drums"] || words["percussion"] || words["beat"] {
		p.Drums = true
	}
	if noDrumsRE.MatchString(text) {
		p.Drums = false
	}
	return p, nil
}

func anyWord(words map[string]bool, list []string) bool {
	for _, w := range list {
		if words[w] {
			return true
		}
	}
	return false
}

func containsInst(list []Instrument, i Instrument) bool {
	for _, x := range list {
		if x == i {
			return true
		}
	}
	return false
}

// indexPhrase finds phrase in text at word boundaries, or -1.
func indexPhrase(text, phrase string) int {
	for off := 0; ; {
		j := strings.Index(text[off:], phrase)
		if j < 0 {
			return -1
		}
		j += off
		end := j + len(phrase)
		if (j == 0 || !isLetter(text[j-1])) && (end == len(text) || !isLetter(text[end]) || (end < len(text) && text[end] == 's' && (end+1 == len(text) || !isLetter(text[end+1])))) {
			return j
		}
		off = j + 1
	}
}

func containsPhrase(text, phrase string) bool { return indexPhrase(text, phrase) >= 0 }

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' }

// InstrumentNamed finds an instrument by the name Instruments lists.
func InstrumentNamed(name string) (Instrument, bool) {
	for _, in := range instruments {
		if in.inst.Name == strings.ToLower(name) {
			return in.inst, true
		}
	}
	return Instrument{}, false
}
