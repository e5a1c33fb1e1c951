package e2e

import (
	"time"

	"github.com/chorus-ai/chorus/platform/wav"
)

// wavInfo is what the tests check of a WAV file.
type wavInfo struct {
	rate    int
	samples int
	peak    int // largest absolute sample
}

func (w wavInfo) duration() time.Duration {
	return time.Duration(float64(w.samples) / float64(w.rate) * float64(time.Second))
}

// parseWAV decodes a 16-bit PCM WAV file and measures it.
func parseWAV(b []byte) (wavInfo, error) {
	a, err := wav.Decode(b)
	if err != nil {
		return wavInfo{}, err
	}
	w := wavInfo{rate: a.Rate, samples: len(a.Samples)}
	for _, s := range a.Samples {
		w.peak = max(w.peak, int(s), -int(s))
	}
	return w, nil
}
