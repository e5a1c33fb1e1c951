package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	in := Audio{Rate: 16000, Samples: []int16{0, 1, -1, math.MaxInt16, math.MinInt16, 1234}}
	b := Encode(in)
	if len(b) != 44+2*len(in.Samples) {
		t.Fatalf("encoded %d bytes", len(b))
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Rate != in.Rate || !slices.Equal(out.Samples, in.Samples) {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
}

func TestDecode(t *testing.T) {
	samples := []int16{100, -200, 300, -400}
	canonical := Encode(Audio{Rate: 22050, Samples: samples})
	withSizes := func(riff, data uint32) []byte {
		b := slices.Clone(canonical)
		binary.LittleEndian.PutUint32(b[4:], riff)
		binary.LittleEndian.PutUint32(b[40:], data)
		return b
	}
	stereo := slices.Clone(canonical)
	binary.LittleEndian.PutUint16(stereo[22:], 2)
	// A LIST chunk of odd size (padded) before data, as some tools write.
	list := append(slices.Clone(canonical[:36]), "LIST\x03\x00\x00\x00abc\x00"...)
	list = append(list, canonical[36:]...)
	float := slices.Clone(canonical)
	binary.LittleEndian.PutUint16(float[20:], 3)

	tests := []struct {
		name    string
		in      []byte
		want    []int16
		wantErr error
	}{
		{name: "canonical", in: canonical, want: samples},
		{name: "streaming sizes 0xFFFFFFFF", in: withSizes(0xFFFFFFFF, 0xFFFFFFFF), want: samples},
		{name: "streaming sizes 0x7FFFFFFF", in: withSizes(0x7FFFFFFF, 0x7FFFFFFF), want: samples},
		{name: "zero sizes", in: withSizes(0, 0), want: samples},
		{name: "data size shorter than file", in: withSizes(0, 4), want: samples[:2]},
		{name: "odd trailing byte", in: append(withSizes(0, 0xFFFFFFFF), 7), want: samples},
		{name: "stereo mixed down", in: stereo, want: []int16{-50, -50}},
		{name: "extra chunk", in: list, want: samples},
		{name: "empty", in: nil, wantErr: ErrFormat},
		{name: "not riff", in: []byte("RIFX\x00\x00\x00\x00WAVEfmt "), wantErr: ErrFormat},
		{name: "no data", in: canonical[:36], wantErr: ErrFormat},
		{name: "truncated fmt", in: canonical[:30], wantErr: ErrFormat},
		{name: "float", in: float, wantErr: ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && (got.Rate != 22050 || !slices.Equal(got.Samples, tt.want)) {
				t.Errorf("got %d Hz %v, want 22050 Hz %v", got.Rate, got.Samples, tt.want)
			}
			info, ierr := Inspect(tt.in)
			if fmt.Sprint(ierr) != fmt.Sprint(err) {
				t.Errorf("Inspect error %v, Decode's %v", ierr, err)
			}
			if err == nil && (info.Rate != got.Rate || info.Frames != len(got.Samples) || info.Duration() != got.Duration()) {
				t.Errorf("Inspect = %+v (%v), Decode %d Hz, %d samples (%v)", info, info.Duration(), got.Rate, len(got.Samples), got.Duration())
			}
		})
	}
}

func TestConcatAndDuration(t *testing.T) {
	a := Audio{Rate: 8000, Samples: make([]int16, 8000)}
	b := Audio{Rate: 8000, Samples: make([]int16, 4000)}
	got, err := Concat(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Duration() != 1500*time.Millisecond || got.Seconds() != 1.5 {
		t.Errorf("duration %v (%v s), want 1.5s", got.Duration(), got.Seconds())
	}
	if _, err := Concat(a, Audio{Rate: 16000}); !errors.Is(err, ErrRateMismatch) {
		t.Errorf("mixed rates: error %v, want ErrRateMismatch", err)
	}
}

func TestResample(t *testing.T) {
	tests := []struct {
		name     string
		from, to int
		freq     float64
		wantGain float64 // output RMS relative to input RMS
	}{
		{name: "up 16k to 48k", from: 16000, to: 48000, freq: 1000, wantGain: 1},
		{name: "down 22050 to 16000", from: 22050, to: 16000, freq: 1000, wantGain: 1},
		{name: "down 48k to 8k", from: 48000, to: 8000, freq: 500, wantGain: 1},
		// 6 kHz is above 8 kHz audio's Nyquist frequency: it must be
		// filtered out, not folded back as a 2 kHz alias.
		{name: "anti-aliasing", from: 48000, to: 8000, freq: 6000, wantGain: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sine(tt.from, tt.freq, 1)
			out := Resample(in, tt.to)
			if out.Rate != tt.to || len(out.Samples) != tt.to {
				t.Fatalf("got %d samples at %d Hz, want %d at %d", len(out.Samples), out.Rate, tt.to, tt.to)
			}
			// Skip the edges, where the filter sees silence beyond the ends.
			mid := out.Samples[tt.to/10 : tt.to*9/10]
			gain := rms(mid) / rms(in.Samples)
			if math.Abs(gain-tt.wantGain) > 0.05 {
				t.Errorf("gain %.3f, want %.1f", gain, tt.wantGain)
			}
			if tt.wantGain > 0 {
				// Zero crossings per second give the frequency back.
				if f := crossings(mid) / 2 / (float64(len(mid)) / float64(tt.to)); math.Abs(f-tt.freq) > tt.freq*0.01 {
					t.Errorf("frequency %.1f Hz, want %.0f", f, tt.freq)
				}
			}
		})
	}
	same := sine(16000, 440, 0.1)
	if got := Resample(same, 16000); &got.Samples[0] != &same.Samples[0] {
		t.Errorf("resampling to the same rate copied the audio")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Audio{Rate: 16000, Samples: []int16{1, 2, 3}}))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x22\x56\x00\x00\x88\x58\x01\x00\x04\x00\x10\x00data\xff\xff\xff\xff\x01\x02\x03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(b)
		if err != nil {
			return
		}
		if len(a.Samples) > len(b)/2 || a.Rate <= 0 {
			t.Fatalf("decoded %d samples at %d Hz from %d bytes", len(a.Samples), a.Rate, len(b))
		}
		if info, err := Inspect(b); err != nil || info.Rate != a.Rate || info.Frames != len(a.Samples) {
			t.Fatalf("Inspect = %+v, %v; Decode %d Hz, %d samples", info, err, a.Rate, len(a.Samples))
		}
		joined, _, err := JoinEncoded([][]byte{b, b})
		if want := Encode(Audio{Rate: a.Rate, Samples: append(slices.Clone(a.Samples), a.Samples...)}); err != nil || !bytes.Equal(joined, want) {
			t.Fatalf("JoinEncoded of the input twice: %v, or not Encode of the samples twice", err)
		}
		again, err := Decode(Encode(a))
		if err != nil || !slices.Equal(again.Samples, a.Samples) {
			t.Fatalf("re-encoding failed: %v", err)
		}
	})
}

func sine(rate int, freq, seconds float64) Audio {
	s := make([]int16, int(float64(rate)*seconds))
	for i := range s {
		s[i] = int16(10000 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return Audio{Rate: rate, Samples: s}
}

func crossings(s []int16) float64 {
	n := 0
	for i := 1; i < len(s); i++ {
		if (s[i-1] < 0) != (s[i] < 0) {
			n++
		}
	}
	return float64(n)
}

// The filter-bank and direct forms compute the same filter.
func TestResampleForms(t *testing.T) {
	in := sine(22050, 700, 0.2)
	fast := Resample(in, 16000)
	slow := make([]int16, len(fast.Samples))
	ratio := 22050.0 / 16000
	resampleDirect(in.Samples, slow, ratio, 1/ratio, zeroCrossings*ratio)
	for i := range slow {
		if d := int(slow[i]) - int(fast.Samples[i]); d > 2 || d < -2 {
			t.Fatalf("sample %d: direct %d, filter bank %d", i, slow[i], fast.Samples[i])
		}
	}
	// A ratio with too many phases for a bank still resamples.
	odd := Resample(in, 47999)
	if odd.Rate != 47999 || len(odd.Samples) != len(in.Samples)*47999/22050 {
		t.Errorf("got %d samples at %d Hz", len(odd.Samples), odd.Rate)
	}
}

func TestJoin(t *testing.T) {
	a := Encode(Audio{Rate: 16000, Samples: []int16{1, 2, 3}})
	b := Encode(Audio{Rate: 16000, Samples: []int16{4, 5}})
	got, err := Join([][]byte{a, b})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if want := []int16{1, 2, 3, 4, 5}; got.Rate != 16000 || !slices.Equal(got.Samples, want) {
		t.Errorf("Join = %d Hz %v, want 16000 Hz %v", got.Rate, got.Samples, want)
	}
	if n := EncodedSize(len(got.Samples)); n != len(Encode(got)) {
		t.Errorf("EncodedSize = %d, Encode wrote %d bytes", n, len(Encode(got)))
	}
}

func TestJoinEncodedIsEncodeOfJoin(t *testing.T) {
	mono := Encode(Audio{Rate: 16000, Samples: []int16{1, -2, 3}})
	streaming := append(slices.Clone(mono), 9) // odd trailing byte
	binary.LittleEndian.PutUint32(streaming[40:], 0xFFFFFFFF)
	stereo := Encode(Audio{Rate: 16000, Samples: []int16{100, -200, 300, -400, 7}})
	binary.LittleEndian.PutUint16(stereo[22:], 2)
	list := append(slices.Clone(mono[:36]), "LIST\x03\x00\x00\x00abc\x00"...)
	list = append(list, mono[36:]...)
	for _, segments := range [][][]byte{{mono}, {mono, mono}, {streaming, mono}, {mono, stereo, list}, {stereo}} {
		audio, err := Join(segments)
		if err != nil {
			t.Fatal(err)
		}
		got, info, err := JoinEncoded(segments)
		if err != nil {
			t.Fatalf("JoinEncoded: %v", err)
		}
		if want := Encode(audio); !bytes.Equal(got, want) {
			t.Errorf("JoinEncoded = % x\nEncode(Join) = % x", got, want)
		}
		if info.Rate != audio.Rate || info.Frames != len(audio.Samples) || info.Channels != 1 || info.Duration() != audio.Duration() {
			t.Errorf("JoinEncoded info %+v, joined %d Hz, %d samples", info, audio.Rate, len(audio.Samples))
		}
	}
}

func TestJoinRejects(t *testing.T) {
	float := Encode(Audio{Rate: 16000, Samples: []int16{1}})
	binary.LittleEndian.PutUint16(float[20:], 3) // format tag 3: IEEE float
	for _, tc := range []struct {
		name     string
		segments [][]byte
		want     error
	}{
		{name: "nothing", segments: nil},
		{name: "rate differs", segments: [][]byte{Encode(Audio{Rate: 16000, Samples: []int16{1}}), Encode(Audio{Rate: 22050, Samples: []int16{1}})}, want: ErrRateMismatch},
		{name: "not a wav", segments: [][]byte{[]byte("ID3 mp3 data...")}, want: ErrFormat},
		{name: "truncated", segments: [][]byte{Encode(Audio{Rate: 16000, Samples: []int16{1}})[:30]}, want: ErrFormat},
		{name: "float", segments: [][]byte{float}, want: ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Join(tc.segments)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Join error %v, want %v", err, tc.want)
			}
			if _, _, eerr := JoinEncoded(tc.segments); fmt.Sprint(eerr) != fmt.Sprint(err) {
				t.Errorf("JoinEncoded error %v, Join's %v", eerr, err)
			}
		})
	}
}

// FuzzEncode: any mono audio Encode writes, Decode reads back sample for sample at its rate,
// in EncodedSize bytes; Resample to a service rate keeps the duration and never panics; Join
// of it with itself is both halves in order.
func FuzzEncode(f *testing.F) {
	f.Add(uint32(16000), uint32(22050), []byte{1, 0, 2, 0, 0xff, 0x7f, 0, 0x80})
	f.Add(uint32(1), uint32(48000), []byte{})
	f.Add(uint32(44100), uint32(8000), []byte{0x00})
	f.Fuzz(func(t *testing.T, rate, to uint32, raw []byte) {
		a := Audio{Rate: minFuzzRate + int(rate%(maxFuzzRate-minFuzzRate+1)), Samples: make([]int16, len(raw)/2)}
		for i := range a.Samples {
			a.Samples[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		b := Encode(a)
		if len(b) != EncodedSize(len(a.Samples)) {
			t.Fatalf("Encode wrote %d bytes, EncodedSize says %d", len(b), EncodedSize(len(a.Samples)))
		}
		got, err := Decode(b)
		if err != nil || got.Rate != a.Rate || !slices.Equal(got.Samples, a.Samples) {
			t.Fatalf("Decode(Encode(%d samples at %d Hz)) = %d samples at %d Hz, %v", len(a.Samples), a.Rate, len(got.Samples), got.Rate, err)
		}
		joined, err := Join([][]byte{b, b})
		if err != nil || len(joined.Samples) != 2*len(a.Samples) ||
			!slices.Equal(joined.Samples[:len(a.Samples)], a.Samples) || !slices.Equal(joined.Samples[len(a.Samples):], a.Samples) {
			t.Fatalf("Join of a file with itself: %d samples, %v", len(joined.Samples), err)
		}
		target := 8000 + int(to%40001) // the rates the audio backends and clients use
		r := Resample(a, target)
		if want := int64(len(a.Samples)) * int64(target) / int64(a.Rate); r.Rate != target || int64(len(r.Samples)) > want+1 || int64(len(r.Samples)) < want-1 {
			t.Fatalf("Resample(%d samples, %d Hz → %d Hz) = %d samples at %d Hz, want about %d", len(a.Samples), a.Rate, target, len(r.Samples), r.Rate, want)
		}
	})
}

// FuzzEncode's rates: up to the highest Decode reads (1 MHz); from 1 kHz, since resampling
// 1 Hz audio to 48 kHz multiplies its length by 48,000, which is right but slow to check.
const minFuzzRate, maxFuzzRate = 1000, 1 << 20
