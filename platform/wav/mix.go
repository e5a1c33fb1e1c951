package wav

import (
	"math"
	"time"
)

// Underlay returns voice with bed (music, say) mixed under it: bed is
// resampled to the voice's rate, repeated (crossfading at each seam) or cut
// to the voice's length, faded in and out over fade, and scaled so that its
// RMS level sits levelDB below the voice's (levelDB is negative, -15 a
// background level). The result has the voice's rate and length exactly; a
// silent or empty voice or bed gives the voice unchanged.
func Underlay(voice, bed Audio, levelDB float64, fade time.Duration) Audio {
	n := len(voice.Samples)
	out := Audio{Rate: voice.Rate, Samples: append([]int16(nil), voice.Samples...)}
	bed = Resample(bed, voice.Rate)
	voiceRMS := rms(voice.Samples)
	if n == 0 || len(bed.Samples) == 0 || voiceRMS == 0 || voice.Rate <= 0 {
		return out
	}
	track := make([]float64, n)
	seam := min(len(bed.Samples)/4, voice.Rate/2) // crossfade samples at each repeat
	for start := 0; start < n; start += len(bed.Samples) - seam {
		next := start + len(bed.Samples) - seam // where the following pass begins
		for i, s := range bed.Samples {
			at := start + i
			if at >= n {
				break
			}
			w := 1.0
			switch {
			case start > 0 && i < seam: // fading in over the previous pass's tail
				w = float64(i) / float64(seam)
			case next < n && i >= len(bed.Samples)-seam: // fading out under the next pass
				w = float64(len(bed.Samples)-i) / float64(seam)
			}
			track[at] += w * float64(s)
		}
	}
	ramp := min(int(fade.Seconds()*float64(voice.Rate)), n/2)
	for i := range ramp {
		w := float64(i) / float64(ramp)
		track[i] *= w
		track[n-1-i] *= w
	}
	bedRMS := rmsFloat(track)
	if bedRMS == 0 {
		return out
	}
	g := voiceRMS * math.Pow(10, levelDB/20) / bedRMS
	for i, v := range voice.Samples {
		out.Samples[i] = clamp16(float64(v) + g*track[i])
	}
	return out
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	if len(s) == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(len(s)))
}

func rmsFloat(s []float64) float64 {
	var sum float64
	for _, v := range s {
		sum += v * v
	}
	if len(s) == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(len(s)))
}
