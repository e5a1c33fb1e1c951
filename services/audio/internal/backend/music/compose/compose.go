package compose

import (
	"math"
	"math/rand/v2"

	"github.com/chorus-ai/chorus/services/audio/internal/backend/music/midi"
)

// Division is the ticks a quarter note lasts.
const Division = 480

const (
	beat = Division
	bar  = 4 * beat
)

// Piece is a composed piece: its parameters and its parts.
type Piece struct {
	Params
	// Bars is its length in 4/4 bars; they cover at least Params.Seconds.
	Bars int
	// Progression is the chord of each bar, as a scale degree from 0.
	Progression []int
	// Parts are melody, harmony, bass and, when Drums, drums.
	Parts []midi.Track
}

// Part names.
const (
	PartMelody  = "melody"
	PartHarmony = "harmony"
	PartBass    = "bass"
	PartDrums   = "drums"
)

// Part returns the named part, or a zero Track.
func (pc Piece) Part(name string) midi.Track {
	for _, t := range pc.Parts {
		if t.Name == name {
			return t
		}
	}
	return midi.Track{}
}

// MIDI is the piece as a Standard MIDI File.
func (pc Piece) MIDI() ([]byte, error) {
	return midi.Encode(midi.File{Division: Division, BPM: pc.BPM, Tracks: pc.Parts})
}

// Progressions by mode, each four bars of scale degrees ending where the
// next phrase can begin; the piece ends on the tonic.
var progressions = map[bool][][]int{
	false: {{0, 4, 5, 3}, {0, 5, 3, 4}, {0, 3, 4, 3}, {5, 3, 0, 4}, {0, 2, 3, 4}, {3, 4, 2, 5}},
	true:  {{0, 5, 2, 6}, {0, 3, 6, 2}, {0, 3, 4, 0}, {0, 5, 3, 4}, {5, 6, 0, 0}},
}

var (
	majorScale = []int{0, 2, 4, 5, 7, 9, 11}
	minorScale = []int{0, 2, 3, 5, 7, 8, 10}
)

// Compose writes the piece p describes. The same Params give the same
// piece.
func Compose(p Params) Piece {
	rng := rand.New(rand.NewPCG(uint64(p.Seed), 0x636f6d706f7365)) // "compose"
	st := styles[p.Mood]
	scale := majorScale
	if p.Minor {
		scale = minorScale
	}
	beats := p.Seconds * p.BPM / 60
	bars := max(int(math.Ceil(beats/4)), 1)

	prog := progressions[p.Minor][rng.IntN(len(progressions[p.Minor]))]
	chords := make([]int, bars)
	for i := range chords {
		chords[i] = prog[i%len(prog)]
	}
	chords[bars-1] = 0 // end on the tonic
	if p.Minor && bars >= 2 && chords[bars-2] != 0 {
		chords[bars-2] = 4 // a dominant before it
	}

	k := key{tonic: p.Tonic, scale: scale, minor: p.Minor}
	pc := Piece{Params: p, Bars: bars, Progression: chords}
	pc.Parts = append(pc.Parts,
		melody(rng, k, chords, p, st.vel),
		harmony(rng, k, chords, p, st.vel),
		bass(rng, k, chords, p, st.vel),
	)
	if p.Drums {
		pc.Parts = append(pc.Parts, drums(rng, bars, p.Mood, st.vel))
	}
	return pc
}

type key struct {
	tonic int
	scale []int
	minor bool
}

// pitch is the pitch class of scale degree d (any integer).
func (k key) pitch(d int) int {
	n := len(k.scale)
	o := floorDiv(d, n)
	return k.tonic + k.scale[d-o*n] + 12*o
}

// chordTones are the pitch classes (0 to 11) of the triad on degree d; a
// minor key's dominant (degree 4) takes the raised leading tone.
func (k key) chordTones(d int) []int {
	t := []int{mod12(k.pitch(d)), mod12(k.pitch(d + 2)), mod12(k.pitch(d + 4))}
	if k.minor && d == 4 {
		t[1] = mod12(t[1] + 1)
	}
	return t
}

// inScale reports whether MIDI note n is in the key (or is a minor key's
// leading tone).
func (k key) inScale(n int) bool {
	pc := mod12(n - k.tonic)
	for _, s := range k.scale {
		if s == pc {
			return true
		}
	}
	return k.minor && pc == 11
}

func mod12(n int) int { return ((n % 12) + 12) % 12 }

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func vel(rng *rand.Rand, base, spread int) uint8 {
	return uint8(min(max(base+rng.IntN(2*spread+1)-spread, 1), 127))
}

// harmony voices each chord in three parts between G3 and G5, choosing
// the voicing that moves the voices least from the last (voice leading),
// and plays it as held chords, on the beat, or as an arpeggio by mood.
func harmony(rng *rand.Rand, k key, chords []int, p Params, base int) midi.Track {
	t := midi.Track{Name: PartHarmony, Channel: 1, Program: p.Harmony.Program}
	var prev []int
	for i, d := range chords {
		v := voiceLead(prev, k.chordTones(d), 55, 79)
		prev = v
		start := i * bar
		last := i == len(chords)-1
		switch {
		case last || p.Mood == Calm || p.Mood == Sad:
			for _, n := range v {
				t.Notes = append(t.Notes, midi.Note{Start: start, Duration: bar, Key: uint8(n), Velocity: vel(rng, base-15, 4)})
			}
		case p.Mood == Energetic:
			for b := range 8 {
				if b%2 == 1 && rng.IntN(3) == 0 {
					continue
				}
				for _, n := range v {
					t.Notes = append(t.Notes, midi.Note{Start: start + b*beat/2, Duration: beat/2 - 30, Key: uint8(n), Velocity: vel(rng, base-10, 8)})
				}
			}
		default: // an arpeggio of eighths, up and down
			order := []int{0, 1, 2, 1, 0, 1, 2, 1}
			for b, j := range order {
				t.Notes = append(t.Notes, midi.Note{Start: start + b*beat/2, Duration: beat / 2, Key: uint8(v[j]), Velocity: vel(rng, base-18, 6)})
			}
		}
	}
	return t
}

// voiceLead picks one note for each chord tone in [lo, hi] so that the
// sorted voices move least from prev (the nearest voicing to middle
// register when there is no prev).
func voiceLead(prev, tones []int, lo, hi int) []int {
	if prev == nil {
		prev = []int{60, 64, 67}
	}
	var best []int
	bestCost := math.MaxInt
	var cands [][]int
	for _, pc := range tones {
		var c []int
		for n := lo; n <= hi; n++ {
			if mod12(n) == pc {
				c = append(c, n)
			}
		}
		cands = append(cands, c)
	}
	for _, a := range cands[0] {
		for _, b := range cands[1] {
			for _, c := range cands[2] {
				v := sort3(a, b, c)
				if v[2]-v[0] > 12 || v[0] == v[1] || v[1] == v[2] {
					continue // keep the chord within an octave
				}
				cost := 0
				for i := range v {
					cost += abs(v[i] - prev[i])
				}
				if cost < bestCost {
					best, bestCost = v, cost
				}
			}
		}
	}
	return best
}

func sort3(a, b, c int) []int {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b, c = c, b
	}
	if a > b {
		a, b = b, a
	}
	return []int{a, b, c}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// rhythm splits a bar into note lengths in eighths (summing to 8),
// denser as density grows.
func rhythm(rng *rand.Rand, density float64) []int {
	var r []int
	for left := 8; left > 0; {
		// The chance of an eighth, else a quarter, else a half.
		x := rng.Float64() * 2
		var n int
		switch {
		case x < density-1:
			n = 1
		case x < density:
			n = 2
		default:
			n = 4
		}
		if n > left || (n == 4 && left%4 != 0) {
			n = min(left, 2)
			if left%2 == 1 {
				n = 1
			}
		}
		r = append(r, n)
		left -= n
	}
	return r
}

// melody walks the scale between C4 and C6: chord tones on the beats that
// start a rhythm figure of two bars, steps in between; the second half of
// every four bars repeats the first's rhythm, so it is heard as a phrase.
func melody(rng *rand.Rand, k key, chords []int, p Params, base int) midi.Track {
	t := midi.Track{Name: PartMelody, Channel: 0, Program: p.Lead.Program}
	lo, hi := 60, 84
	cur := 60 + mod12(k.tonic) + 7 // start on the fifth above the tonic
	var motif [][]int
	for i, d := range chords {
		if i%4 == 0 || i%4 == 1 {
			if len(motif) < 2 {
				motif = append(motif, rhythm(rng, p.Density))
			} else {
				motif[i%2] = rhythm(rng, p.Density)
			}
		}
		figure := motif[i%2]
		tones := k.chordTones(d)
		pos := i * bar
		last := i == len(chords)-1
		if last {
			figure = []int{8}
		}
		for j, eighths := range figure {
			strong := (pos-i*bar)%beat == 0
			switch {
			case last:
				cur = nearestTone(cur, []int{mod12(k.tonic)}, lo, hi)
			case strong || j == 0:
				cur = nearestTone(cur+rng.IntN(5)-2, tones, lo, hi)
			default:
				cur = step(rng, k, cur, lo, hi)
			}
			dur := eighths*beat/2 - 20
			if rng.IntN(8) == 0 && !last && j > 0 {
				pos += eighths * beat / 2 // a rest
				continue
			}
			accent := 0
			if strong {
				accent = 8
			}
			t.Notes = append(t.Notes, midi.Note{Start: pos, Duration: dur, Key: uint8(cur), Velocity: vel(rng, base+accent, 6)})
			pos += eighths * beat / 2
		}
	}
	return t
}

// nearestTone is the note nearest n whose pitch class is one of tones.
func nearestTone(n int, tones []int, lo, hi int) int {
	best := -1
	for m := lo; m <= hi; m++ {
		for _, pc := range tones {
			if mod12(m) == pc && (best < 0 || abs(m-n) < abs(best-n)) {
				best = m
			}
		}
	}
	return best
}

// step moves one or two scale steps up or down, turning back at the edges.
func step(rng *rand.Rand, k key, n, lo, hi int) int {
	dir := 1
	if rng.IntN(2) == 0 {
		dir = -1
	}
	steps := 1 + rng.IntN(3)/2
	for range steps {
		m := n + dir
		for !k.inScale(m) {
			m += dir
		}
		if m < lo || m > hi {
			dir = -dir
			m = n + dir
			for !k.inScale(m) {
				m += dir
			}
		}
		n = m
	}
	return n
}

// bass plays each chord's root between E1 and E3: held in calm music,
// root and fifth otherwise, driving eighths when energetic.
func bass(rng *rand.Rand, k key, chords []int, p Params, base int) midi.Track {
	t := midi.Track{Name: PartBass, Channel: 2, Program: 32} // acoustic bass
	if p.Mood == Energetic {
		t.Program = 33 // electric bass, fingered
	}
	for i, d := range chords {
		root := nearestTone(40, []int{k.chordTones(d)[0]}, 33, 45)
		fifth := nearestTone(root+7, []int{k.chordTones(d)[2]}, 33, 52)
		start := i * bar
		switch {
		case i == len(chords)-1 || p.Mood == Calm || p.Mood == Sad:
			t.Notes = append(t.Notes, midi.Note{Start: start, Duration: bar - 20, Key: uint8(root), Velocity: vel(rng, base, 4)})
		case p.Mood == Energetic:
			for b := range 8 {
				n := root
				if b%4 == 3 {
					n = root + 12
				}
				t.Notes = append(t.Notes, midi.Note{Start: start + b*beat/2, Duration: beat/2 - 20, Key: uint8(n), Velocity: vel(rng, base+(1-b%2)*8, 5)})
			}
		default:
			t.Notes = append(t.Notes,
				midi.Note{Start: start, Duration: 2*beat - 20, Key: uint8(root), Velocity: vel(rng, base, 5)},
				midi.Note{Start: start + 2*beat, Duration: 2*beat - 20, Key: uint8(fifth), Velocity: vel(rng, base-6, 5)})
		}
	}
	return t
}

// General MIDI percussion keys.
const (
	kick      = 36
	snare     = 38
	closedHat = 42
	ride      = 51
	crash     = 49
)

// drums: a soft ride when calm, a backbeat otherwise, with eighth-note
// hats and a syncopated kick when energetic; a crash on the last bar.
func drums(rng *rand.Rand, bars int, mood Mood, base int) midi.Track {
	t := midi.Track{Name: PartDrums, Channel: midi.DrumChannel}
	hit := func(at int, k uint8, v uint8) {
		t.Notes = append(t.Notes, midi.Note{Start: at, Duration: beat / 4, Key: k, Velocity: v})
	}
	for i := range bars {
		start := i * bar
		if i == bars-1 {
			hit(start, crash, vel(rng, base, 4))
			hit(start, kick, vel(rng, base, 4))
			continue
		}
		switch mood {
		case Calm, Sad:
			for b := range 4 {
				hit(start+b*beat, ride, vel(rng, base-20, 5))
			}
			hit(start, kick, vel(rng, base-15, 4))
		case Energetic:
			for b := range 8 {
				hit(start+b*beat/2, closedHat, vel(rng, base-20+(1-b%2)*10, 5))
			}
			for _, b := range []int{0, 3, 4} { // beats 1, the and of 2, 3
				hit(start+b*beat/2, kick, vel(rng, base, 5))
			}
			hit(start+beat, snare, vel(rng, base, 5))
			hit(start+3*beat, snare, vel(rng, base, 5))
		default:
			for b := range 4 {
				hit(start+b*beat, closedHat, vel(rng, base-20, 5))
			}
			hit(start, kick, vel(rng, base, 5))
			hit(start+2*beat, kick, vel(rng, base-5, 5))
			hit(start+beat, snare, vel(rng, base-5, 5))
			hit(start+3*beat, snare, vel(rng, base-5, 5))
		}
	}
	return t
}
