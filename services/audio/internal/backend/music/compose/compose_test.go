package compose

import (
	"bytes"
	"errors"
	"testing"

	"github.com/chorus-ai/chorus/services/audio/internal/backend/music/midi"
)

func TestParse(t *testing.T) {
	tests := []struct {
		prompt  string
		speed   float64
		seconds float64
		bpm     float64
		key     string
		mood    Mood
		lead    string
		harmony string
		drums   bool
	}{
		{prompt: "a tune", seconds: 20, bpm: 100, key: "C major", mood: Neutral, lead: "piano", harmony: "piano", drums: true},
		{prompt: "calm piano and strings, 30 seconds, in D minor", seconds: 30, bpm: 70, key: "D minor", mood: Calm, lead: "piano", harmony: "strings"},
		{prompt: "energetic guitar at 150 bpm in E flat major with drums", seconds: 20, bpm: 150, key: "Eb major", mood: Energetic, lead: "guitar", harmony: "guitar", drums: true},
		{prompt: "a sad cello theme", seconds: 20, bpm: 72, key: "A minor", mood: Sad, lead: "cello", harmony: "cello"},
		{prompt: "happy flute over electric piano, key of F#, no drums", seconds: 20, bpm: 120, key: "F# major", mood: Happy, lead: "flute", harmony: "electric piano"},
		{prompt: "music in a calm mood", speed: 2, seconds: 20, bpm: 140, key: "C major", mood: Calm, lead: "piano", harmony: "strings"},
		{prompt: "a 10 minute... no, 12.5 sec sketch at 90 BPM", seconds: 12.5, bpm: 90, key: "C major", mood: Neutral, lead: "piano", harmony: "piano", drums: true},
		{prompt: "thirty seconds of happy marimba", seconds: 30, bpm: 120, key: "C major", mood: Happy, lead: "marimba", harmony: "marimba", drums: true},
		{prompt: "half a minute of slow organ", seconds: 30, bpm: 70, key: "C major", mood: Calm, lead: "organ", harmony: "organ"},
		{prompt: "80s synth pop in B minor", seconds: 20, bpm: 100, key: "B minor", mood: Neutral, lead: "synth", harmony: "synth", drums: true},
	}
	for _, tt := range tests {
		p, err := Parse(tt.prompt, tt.speed)
		if tt.prompt == "a 10 minute... no, 12.5 sec sketch at 90 BPM" {
			// The first duration wins: ten minutes is 600 s, over MaxSeconds.
			var inv *Invalid
			if !errors.As(err, &inv) {
				t.Errorf("%q: err %v, want *Invalid", tt.prompt, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.prompt, err)
			continue
		}
		got := []any{p.Seconds, p.BPM, p.Key(), p.Mood, p.Lead.Name, p.Harmony.Name, p.Drums}
		want := []any{tt.seconds, tt.bpm, tt.key, tt.mood, tt.lead, tt.harmony, tt.drums}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%q: got seconds, bpm, key, mood, lead, harmony, drums = %v, want %v", tt.prompt, got, want)
				break
			}
		}
	}
}

func TestParseSeed(t *testing.T) {
	a, _ := Parse("a tune", 0)
	b, _ := Parse("a tune", 0)
	c, _ := Parse("another tune", 0)
	if a.Seed != b.Seed || a.Seed == c.Seed || a.Seed < 0 {
		t.Errorf("seeds from text: %d, %d, %d", a.Seed, b.Seed, c.Seed)
	}
	s, _ := Parse("a tune, seed 42", 0)
	if s.Seed != 42 {
		t.Errorf("seed 42 gave %d", s.Seed)
	}
}

func TestParseRejects(t *testing.T) {
	for _, prompt := range []string{"1 second of music", "400 seconds of music", "a tune at 20 bpm", "a tune at 400 bpm", "ten minutes of drone", "6 minutes of rain"} {
		var inv *Invalid
		if _, err := Parse(prompt, 1); !errors.As(err, &inv) {
			t.Errorf("%q: err %v, want *Invalid", prompt, err)
		}
	}
}

func compose(tb testing.TB, prompt string) Piece {
	tb.Helper()
	p, err := Parse(prompt, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return Compose(p)
}

func TestComposeDeterministic(t *testing.T) {
	for _, prompt := range []string{"a tune", "energetic guitar and drums in G major", "calm strings in C minor"} {
		a, err := compose(t, prompt).MIDI()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := compose(t, prompt).MIDI()
		if !bytes.Equal(a, b) {
			t.Errorf("%q: two compositions differ", prompt)
		}
		c, _ := compose(t, prompt+" again").MIDI()
		if bytes.Equal(a, c) {
			t.Errorf("%q: another prompt gave the same MIDI", prompt)
		}
	}
	// An explicit seed, not the wording, drives the choices.
	a, _ := compose(t, "calm strings, seed 7").MIDI()
	b, _ := compose(t, "calm strings please, seed 7").MIDI()
	c, _ := compose(t, "calm strings, seed 8").MIDI()
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Errorf("seed 7 twice equal: %v; seeds 7 and 8 equal: %v", bytes.Equal(a, b), bytes.Equal(a, c))
	}
}

// notesPerSecond counts the melody's notes a second of music.
func notesPerSecond(pc Piece) float64 {
	seconds := float64(pc.Bars*bar) / Division * 60 / pc.BPM
	return float64(len(pc.Part(PartMelody).Notes)) / seconds
}

func TestCalmAndEnergeticDiffer(t *testing.T) {
	for _, seed := range []string{"1", "2", "3", "4", "5"} {
		calm := compose(t, "calm piano, seed "+seed)
		lively := compose(t, "energetic piano, seed "+seed)
		if calm.BPM >= lively.BPM-40 {
			t.Errorf("seed %s: calm at %v bpm, energetic at %v", seed, calm.BPM, lively.BPM)
		}
		// Per beat and per second, energetic melodies are busier.
		cb := float64(len(calm.Part(PartMelody).Notes)) / float64(calm.Bars*4)
		eb := float64(len(lively.Part(PartMelody).Notes)) / float64(lively.Bars*4)
		if cb*1.6 >= eb {
			t.Errorf("seed %s: melody notes a beat: calm %.2f, energetic %.2f", seed, cb, eb)
		}
		t.Logf("seed %s: calm %v bpm, %.2f melody notes a beat, %.2f a second; energetic %v bpm, %.2f a beat, %.2f a second",
			seed, calm.BPM, cb, notesPerSecond(calm), lively.BPM, eb, notesPerSecond(lively))
		if c, e := notesPerSecond(calm), notesPerSecond(lively); c*2 >= e {
			t.Errorf("seed %s: melody notes a second: calm %.2f, energetic %.2f", seed, c, e)
		}
		if len(calm.Part(PartDrums).Notes) != 0 || len(lively.Part(PartDrums).Notes) == 0 {
			t.Errorf("seed %s: drums calm %d, energetic %d notes", seed, len(calm.Part(PartDrums).Notes), len(lively.Part(PartDrums).Notes))
		}
	}
}

func TestComposeShape(t *testing.T) {
	for _, prompt := range []string{"a tune", "calm harp in D minor, 30 seconds", "energetic trumpet at 180 bpm, 10 seconds", "sad violin, 2 seconds"} {
		pc := compose(t, prompt)
		length := pc.Bars * bar
		if covered := float64(length) / Division * 60 / pc.BPM; covered < pc.Seconds || covered > pc.Seconds+4*60/pc.BPM {
			t.Errorf("%q: %d bars at %v bpm last %.2f s for %v s asked", prompt, pc.Bars, pc.BPM, covered, pc.Seconds)
		}
		k := key{tonic: pc.Tonic, scale: majorScale, minor: pc.Minor}
		if pc.Minor {
			k.scale = minorScale
		}
		for _, part := range pc.Parts {
			if len(part.Notes) == 0 {
				t.Errorf("%q: part %s is empty", prompt, part.Name)
			}
			for _, n := range part.Notes {
				if n.Start+n.Duration > length {
					t.Errorf("%q: %s note %+v ends after the piece (%d ticks)", prompt, part.Name, n, length)
				}
				if part.Channel != midi.DrumChannel && !k.inScale(int(n.Key)) {
					t.Errorf("%q: %s note %d is out of %s", prompt, part.Name, n.Key, pc.Key())
				}
			}
		}
		mel := pc.Part(PartMelody).Notes
		if last := mel[len(mel)-1]; mod12(int(last.Key)-pc.Tonic) != 0 {
			t.Errorf("%q: the melody ends on %d, not the tonic of %s", prompt, last.Key, pc.Key())
		}
		if pc.Progression[pc.Bars-1] != 0 {
			t.Errorf("%q: the last chord is degree %d", prompt, pc.Progression[pc.Bars-1])
		}
	}
}

func TestVoiceLeading(t *testing.T) {
	// Every chord change moves the three harmony voices by at most a few
	// semitones in all, since the nearest voicing is chosen.
	k := key{tonic: 0, scale: majorScale}
	var prev []int
	for _, d := range []int{0, 4, 5, 3, 0, 5, 3, 4, 0} {
		v := voiceLead(prev, k.chordTones(d), 55, 79)
		if len(v) != 3 || v[2]-v[0] > 12 {
			t.Fatalf("degree %d voiced %v", d, v)
		}
		if prev != nil {
			moved := abs(v[0]-prev[0]) + abs(v[1]-prev[1]) + abs(v[2]-prev[2])
			if moved > 6 {
				t.Errorf("%v to %v moves %d semitones", prev, v, moved)
			}
		}
		prev = v
	}
}
