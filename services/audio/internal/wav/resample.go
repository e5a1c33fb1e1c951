package wav

import (
	"math"
	"sync"
)

// Windowed-sinc resampling: each output sample is the input convolved with
// a Blackman-windowed sinc low-pass filter centred on its position in the
// input, cut off at the lower of the two Nyquist frequencies so that
// downsampling does not alias. The kernel is tabulated once and linearly
// interpolated.
const (
	zeroCrossings = 16  // kernel half-width, in zero crossings of the sinc
	tableRes      = 512 // table entries per zero crossing
)

var kernel = sync.OnceValue(func() []float64 {
	t := make([]float64, zeroCrossings*tableRes+2)
	for i := range t {
		x := float64(i) / tableRes
		if x >= zeroCrossings {
			continue
		}
		u := x / zeroCrossings
		window := 0.42 + 0.5*math.Cos(math.Pi*u) + 0.08*math.Cos(2*math.Pi*u)
		sinc := 1.0
		if x > 0 {
			sinc = math.Sin(math.Pi*x) / (math.Pi * x)
		}
		t[i] = sinc * window
	}
	return t
})

// Resample converts a to rate Hz. Audio already at that rate is returned
// as is.
func Resample(a Audio, rate int) Audio {
	if rate <= 0 || a.Rate <= 0 || rate == a.Rate || len(a.Samples) == 0 {
		if rate > 0 && len(a.Samples) == 0 {
			a.Rate = rate
		}
		return a
	}
	k := kernel()
	ratio := float64(a.Rate) / float64(rate) // input samples per output sample
	cutoff := 1.0                            // of the input's Nyquist frequency
	if ratio > 1 {
		cutoff = 1 / ratio
	}
	half := zeroCrossings / cutoff // kernel half-width in input samples
	outLen := int(int64(len(a.Samples)) * int64(rate) / int64(a.Rate))
	out := make([]int16, outLen)
	in := a.Samples
	for n := range out {
		t := float64(n) * ratio
		lo := max(int(math.Ceil(t-half)), 0)
		hi := min(int(math.Floor(t+half)), len(in)-1)
		var sum, weights float64
		for i := lo; i <= hi; i++ {
			x := math.Abs(t-float64(i)) * cutoff * tableRes
			j := int(x)
			if j >= len(k)-1 {
				continue
			}
			f := x - float64(j)
			w := k[j] + f*(k[j+1]-k[j])
			sum += w * float64(in[i])
			weights += w
		}
		// Normalising by the weights keeps unity gain at DC, also near the
		// edges where the kernel is cut short.
		if weights != 0 {
			sum /= weights
		}
		out[n] = clamp16(sum)
	}
	return Audio{Rate: rate, Samples: out}
}

func clamp16(x float64) int16 {
	switch {
	case x >= math.MaxInt16:
		return math.MaxInt16
	case x <= math.MinInt16:
		return math.MinInt16
	}
	return int16(math.Round(x))
}
