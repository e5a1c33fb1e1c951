package wav

import (
	"math"
	"testing"
	"time"
)

func tone(rate int, seconds, hz, amp float64) Audio {
	a := Audio{Rate: rate, Samples: make([]int16, int(seconds*float64(rate)))}
	for i := range a.Samples {
		a.Samples[i] = int16(amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return a
}

// level is the amplitude of the hz component of s (a Goertzel filter).
func level(s []int16, rate int, hz float64) float64 {
	w := 2 * math.Pi * hz / float64(rate)
	c := 2 * math.Cos(w)
	var p1, p2 float64
	for _, v := range s {
		p1, p2 = float64(v)+c*p1-p2, p1
	}
	re, im := p1-p2*math.Cos(w), p2*math.Sin(w)
	return 2 * math.Hypot(re, im) / float64(len(s))
}

func TestUnderlay(t *testing.T) {
	voice := tone(16000, 3, 440, 8000)
	// A loud, short bed at another rate: it must be resampled, repeated
	// three times and more, and brought down under the voice.
	bed := tone(22050, 0.8, 1000, 30000)
	got := Underlay(voice, bed, -15, 500*time.Millisecond)
	if got.Rate != voice.Rate || len(got.Samples) != len(voice.Samples) {
		t.Fatalf("got %d Hz, %d samples; want the voice's %d Hz, %d samples", got.Rate, len(got.Samples), voice.Rate, len(voice.Samples))
	}
	mid := got.Samples[len(got.Samples)/4 : 3*len(got.Samples)/4]
	v, m := level(mid, got.Rate, 440), level(mid, got.Rate, 1000)
	if v < 7800 || v > 8200 {
		t.Errorf("the voice's level moved: %.0f, want 8000", v)
	}
	// -15 dB of the voice's RMS; the fades lower the bed's mean a little,
	// so its full level sits a little higher in the middle.
	if db := 20 * math.Log10(m/v); db < -16 || db > -12 {
		t.Errorf("the bed sits %.1f dB under the voice, want about -15", db)
	}
	// What was added is the bed alone: faded in, the first 20 ms hold
	// almost none of it, and the last 20 ms too.
	added := make([]int16, len(got.Samples))
	for i := range added {
		added[i] = got.Samples[i] - voice.Samples[i]
	}
	full := rms(added[len(added)/4 : 3*len(added)/4])
	if h, tail := rms(added[:320]), rms(added[len(added)-320:]); h > 0.05*full || tail > 0.05*full {
		t.Errorf("the bed's first and last 20 ms are at RMS %.0f and %.0f, not faded (full %.0f)", h, tail, full)
	}
	// No seam drops out: every 50 ms window of the middle holds the bed.
	for at := len(got.Samples) / 4; at+800 < 3*len(got.Samples)/4; at += 800 {
		if l := level(got.Samples[at:at+800], got.Rate, 1000); l < 0.7*m {
			t.Errorf("the bed dips to %.0f at %.2f s (full level %.0f)", l, float64(at)/float64(got.Rate), m)
		}
	}
}

func TestUnderlayLeavesTheVoiceWhenNothingToMix(t *testing.T) {
	voice := tone(16000, 0.5, 440, 8000)
	for name, bed := range map[string]Audio{"empty": {Rate: 16000}, "silent": {Rate: 8000, Samples: make([]int16, 4000)}} {
		got := Underlay(voice, bed, -15, time.Second)
		for i := range voice.Samples {
			if got.Samples[i] != voice.Samples[i] {
				t.Fatalf("%s bed changed sample %d", name, i)
			}
		}
	}
	if got := Underlay(Audio{Rate: 16000}, tone(16000, 1, 440, 100), -15, time.Second); len(got.Samples) != 0 {
		t.Errorf("an empty voice grew to %d samples", len(got.Samples))
	}
}
