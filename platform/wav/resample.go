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

// maxPhases bounds the precomputed filter bank: rates whose ratio reduces
// to more output phases than this (22050 to 47999 Hz, say) use the direct
// form, which evaluates the kernel per tap.
const maxPhases = 2048

// Resample converts a to rate Hz. Audio already at that rate is returned
// as is.
func Resample(a Audio, rate int) Audio {
	if rate <= 0 || a.Rate <= 0 || rate == a.Rate || len(a.Samples) == 0 {
		if rate > 0 && len(a.Samples) == 0 {
			a.Rate = rate
		}
		return a
	}
	g := gcd(a.Rate, rate)
	up, down := rate/g, a.Rate/g
	ratio := float64(down) / float64(up) // input samples per output sample
	cutoff := 1.0                        // of the input's Nyquist frequency
	if ratio > 1 {
		cutoff = 1 / ratio
	}
	half := zeroCrossings / cutoff // kernel half-width in input samples
	outLen := int(int64(len(a.Samples)) * int64(up) / int64(down))
	out := Audio{Rate: rate, Samples: make([]int16, outLen)}
	if up > maxPhases {
		resampleDirect(a.Samples, out.Samples, ratio, cutoff, half)
		return out
	}

	// Output sample n sits at input position (n*down)/up + p/up with phase
	// p = (n*down) mod up: one filter per phase, taps at offsets -h..h.
	h := int(math.Ceil(half))
	taps := 2*h + 1
	bank := make([]float64, up*taps)
	for p := range up {
		w := bank[p*taps : (p+1)*taps]
		var sum float64
		for d := -h; d <= h; d++ {
			w[d+h] = kernelAt(math.Abs(float64(p)/float64(up)-float64(d)) * cutoff)
			sum += w[d+h]
		}
		for i := range w {
			w[i] /= sum // unity gain at DC
		}
	}
	in := a.Samples
	for n := range out.Samples {
		pos := int64(n) * int64(down)
		base, p := int(pos/int64(up)), int(pos%int64(up))
		w := bank[p*taps : (p+1)*taps]
		lo := base - h
		if lo >= 0 && base+h < len(in) {
			window := in[lo : lo+taps]
			var sum float64
			for i, x := range window {
				sum += w[i] * float64(x)
			}
			out.Samples[n] = clamp16(sum)
			continue
		}
		// Near the ends the filter runs off the audio; renormalise over
		// the taps that remain.
		var sum, weights float64
		for i := max(lo, 0); i <= min(base+h, len(in)-1); i++ {
			sum += w[i-lo] * float64(in[i])
			weights += w[i-lo]
		}
		if weights != 0 {
			sum /= weights
		}
		out.Samples[n] = clamp16(sum)
	}
	return out
}

func resampleDirect(in, out []int16, ratio, cutoff, half float64) {
	for n := range out {
		t := float64(n) * ratio
		lo := max(int(math.Ceil(t-half)), 0)
		hi := min(int(math.Floor(t+half)), len(in)-1)
		var sum, weights float64
		for i := lo; i <= hi; i++ {
			w := kernelAt(math.Abs(t-float64(i)) * cutoff)
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
}

// kernelAt evaluates the tabulated kernel at x zero crossings from its
// centre.
func kernelAt(x float64) float64 {
	k := kernel()
	x *= tableRes
	j := int(x)
	if j >= len(k)-1 {
		return 0
	}
	f := x - float64(j)
	return k[j] + f*(k[j+1]-k[j])
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
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
