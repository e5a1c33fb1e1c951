// Package wav encodes, decodes, joins and resamples 16-bit PCM mono WAV
// audio: the audio service's output format, which the orchestrator joins
// into voiceovers.
package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Errors Decode reports; each is wrapped with detail.
var (
	// ErrFormat means the bytes are not a RIFF/WAVE file.
	ErrFormat = errors.New("wav: not a RIFF WAVE file")
	// ErrUnsupported means a WAV this package does not read: anything but
	// 16-bit integer PCM.
	ErrUnsupported = errors.New("wav: unsupported encoding")
	// ErrRateMismatch means audio of different sample rates was joined.
	ErrRateMismatch = errors.New("wav: sample rates differ")
)

// MaxChannels bounds the channel count Decode accepts, so a hostile header
// cannot make it allocate or loop absurdly.
const MaxChannels = 16

// headerSize is the size of the canonical 44-byte header Encode writes.
const headerSize = 44

// Audio is mono 16-bit PCM.
type Audio struct {
	// Rate is the sample rate in Hz.
	Rate int
	// Samples are the signed 16-bit samples.
	Samples []int16
}

// Duration returns how long the audio plays.
func (a Audio) Duration() time.Duration { return duration(a.Rate, len(a.Samples)) }

// duration is how long n samples at rate Hz play.
func duration(rate, n int) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(int64(n) * int64(time.Second) / int64(rate))
}

// Seconds returns the duration in seconds, for metadata.
func (a Audio) Seconds() float64 {
	if a.Rate <= 0 {
		return 0
	}
	return float64(len(a.Samples)) / float64(a.Rate)
}

// Encode returns a canonical WAV file (44-byte header, fmt and data chunks)
// holding the audio.
func Encode(a Audio) []byte {
	b := make([]byte, EncodedSize(len(a.Samples)))
	putHeader(b, a.Rate, len(a.Samples))
	for i, s := range a.Samples {
		binary.LittleEndian.PutUint16(b[headerSize+2*i:], uint16(s))
	}
	return b
}

// putHeader writes the canonical header of mono audio (samples at rate Hz) into
// b[:headerSize].
func putHeader(b []byte, rate, samples int) {
	n := 2 * samples
	copy(b[0:4], "RIFF")
	binary.LittleEndian.PutUint32(b[4:8], uint32(36+n))
	copy(b[8:12], "WAVE")
	copy(b[12:16], "fmt ")
	binary.LittleEndian.PutUint32(b[16:20], 16)
	binary.LittleEndian.PutUint16(b[20:22], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:24], 1) // mono
	binary.LittleEndian.PutUint32(b[24:28], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:32], uint32(rate*2))
	binary.LittleEndian.PutUint16(b[32:34], 2)
	binary.LittleEndian.PutUint16(b[34:36], 16)
	copy(b[36:40], "data")
	binary.LittleEndian.PutUint32(b[40:44], uint32(n))
}

// Info describes a WAV file's audio as Decode would return it, read from
// the header alone: Inspect allocates nothing and converts no sample.
type Info struct {
	// Rate is the sample rate in Hz.
	Rate int
	// Channels is how many channels the file has; Decode mixes them down.
	Channels int
	// Frames is how many samples Decode returns (one per frame).
	Frames int
}

// Duration returns how long the audio plays; the same as Decode's
// Audio.Duration.
func (i Info) Duration() time.Duration { return duration(i.Rate, i.Frames) }

// Decode reads a 16-bit PCM WAV file. Several channels are mixed down to
// mono. It tolerates what streaming writers produce: RIFF and data sizes
// that are zero, 0xFFFFFFFF or simply larger than the file (the data then
// runs to the end of the input), and a trailing odd byte. It never panics
// and allocates no more than the input's size, so it is safe on untrusted
// input.
func Decode(b []byte) (Audio, error) {
	info, data, err := parse(b)
	if err != nil {
		return Audio{}, err
	}
	return Audio{Rate: info.Rate, Samples: mix(data, info.Channels)}, nil
}

// Inspect reads what Decode would return about b (its rate and sample
// count), with the same checks and errors, without decoding the samples.
func Inspect(b []byte) (Info, error) {
	info, _, err := parse(b)
	return info, err
}

// parse checks a WAV file's header and finds its sample data.
func parse(b []byte) (Info, []byte, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return Info{}, nil, ErrFormat
	}
	var (
		haveFmt  bool
		channels int
		rate     int
	)
	for off := 12; off+8 <= len(b); {
		id := string(b[off : off+4])
		size := int64(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		body := b[off+8:]
		switch id {
		case "fmt ":
			if size < 16 || int64(len(body)) < 16 {
				return Info{}, nil, fmt.Errorf("%w: fmt chunk of %d bytes", ErrFormat, size)
			}
			format := binary.LittleEndian.Uint16(body[0:2])
			channels = int(binary.LittleEndian.Uint16(body[2:4]))
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits := binary.LittleEndian.Uint16(body[14:16])
			const extensible = 0xFFFE
			if format == extensible && size >= 26 && len(body) >= 26 {
				// The sub-format GUID starts with the plain format code.
				format = binary.LittleEndian.Uint16(body[24:26])
			}
			if format != 1 || bits != 16 {
				return Info{}, nil, fmt.Errorf("%w: format %d, %d bits (want PCM, 16 bits)", ErrUnsupported, format, bits)
			}
			if channels < 1 || channels > MaxChannels {
				return Info{}, nil, fmt.Errorf("%w: %d channels", ErrUnsupported, channels)
			}
			if rate <= 0 || rate > 1<<20 {
				return Info{}, nil, fmt.Errorf("%w: sample rate %d", ErrUnsupported, rate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return Info{}, nil, fmt.Errorf("%w: data before fmt", ErrFormat)
			}
			// Streaming writers cannot know the size: take what is there.
			if size == 0 || size > int64(len(body)) {
				size = int64(len(body))
			}
			data := body[:size]
			return Info{Rate: rate, Channels: channels, Frames: len(data) / (2 * channels)}, data, nil
		}
		// Chunks are padded to even sizes.
		next := int64(off) + 8 + size + size&1
		if next > int64(len(b)) {
			break
		}
		off = int(next)
	}
	if !haveFmt {
		return Info{}, nil, fmt.Errorf("%w: no fmt chunk", ErrFormat)
	}
	return Info{}, nil, fmt.Errorf("%w: no data chunk", ErrFormat)
}

// mix decodes little-endian frames of channels samples into mono.
func mix(data []byte, channels int) []int16 {
	frames := len(data) / (2 * channels)
	out := make([]int16, frames)
	for f := range out {
		sum := 0
		for c := range channels {
			i := 2 * (f*channels + c)
			sum += int(int16(binary.LittleEndian.Uint16(data[i:])))
		}
		out[f] = int16(sum / channels)
	}
	return out
}

// Concat joins audio of one sample rate end to end.
func Concat(parts ...Audio) (Audio, error) {
	if len(parts) == 0 {
		return Audio{}, nil
	}
	n := 0
	for _, p := range parts {
		if p.Rate != parts[0].Rate {
			return Audio{}, fmt.Errorf("%w: %d and %d Hz", ErrRateMismatch, parts[0].Rate, p.Rate)
		}
		n += len(p.Samples)
	}
	out := Audio{Rate: parts[0].Rate, Samples: make([]int16, 0, n)}
	for _, p := range parts {
		out.Samples = append(out.Samples, p.Samples...)
	}
	return out, nil
}

// EncodedSize is the size of the WAV file Encode writes for n samples.
func EncodedSize(n int) int { return headerSize + 2*n }

// Join decodes WAV files and concatenates them, in order, into one audio.
// Every file must have the sample rate of the first; an error names the
// first segment that cannot be used.
func Join(segments [][]byte) (Audio, error) {
	if len(segments) == 0 {
		return Audio{}, errors.New("wav: nothing to join")
	}
	parts := make([]Audio, len(segments))
	for i, s := range segments {
		a, err := Decode(s)
		if err != nil {
			return Audio{}, fmt.Errorf("segment %d: %w", i, err)
		}
		if a.Rate != parts[0].Rate && i > 0 {
			return Audio{}, fmt.Errorf("%w: segment %d is %d Hz but segment 0 is %d Hz", ErrRateMismatch, i, a.Rate, parts[0].Rate)
		}
		parts[i] = a
	}
	return Concat(parts...)
}

// JoinEncoded joins WAV files as Join does, with the same checks and
// errors, and returns the result encoded: the same bytes as
// Encode(Join(segments)), and the Info of the joined audio. It copies the
// samples of mono segments as they are (only others are decoded, to be
// mixed down), so for those it allocates nothing but the file it returns.
func JoinEncoded(segments [][]byte) ([]byte, Info, error) {
	if len(segments) == 0 {
		return nil, Info{}, errors.New("wav: nothing to join")
	}
	joined := Info{Channels: 1}
	for i, s := range segments {
		info, err := Inspect(s)
		if err != nil {
			return nil, Info{}, fmt.Errorf("segment %d: %w", i, err)
		}
		if i == 0 {
			joined.Rate = info.Rate
		} else if info.Rate != joined.Rate {
			return nil, Info{}, fmt.Errorf("%w: segment %d is %d Hz but segment 0 is %d Hz", ErrRateMismatch, i, info.Rate, joined.Rate)
		}
		joined.Frames += info.Frames
	}
	b := make([]byte, headerSize, EncodedSize(joined.Frames))
	putHeader(b, joined.Rate, joined.Frames)
	for _, s := range segments {
		info, data, _ := parse(s) // checked above
		if info.Channels == 1 {
			b = append(b, data[:2*info.Frames]...)
			continue
		}
		for _, v := range mix(data, info.Channels) {
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		}
	}
	return b, joined, nil
}
