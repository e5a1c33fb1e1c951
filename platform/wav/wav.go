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
func (a Audio) Duration() time.Duration {
	if a.Rate <= 0 {
		return 0
	}
	return time.Duration(int64(len(a.Samples)) * int64(time.Second) / int64(a.Rate))
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
	n := len(a.Samples) * 2
	b := make([]byte, headerSize+n)
	copy(b[0:4], "RIFF")
	binary.LittleEndian.PutUint32(b[4:8], uint32(36+n))
	copy(b[8:12], "WAVE")
	copy(b[12:16], "fmt ")
	binary.LittleEndian.PutUint32(b[16:20], 16)
	binary.LittleEndian.PutUint16(b[20:22], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:24], 1) // mono
	binary.LittleEndian.PutUint32(b[24:28], uint32(a.Rate))
	binary.LittleEndian.PutUint32(b[28:32], uint32(a.Rate*2))
	binary.LittleEndian.PutUint16(b[32:34], 2)
	binary.LittleEndian.PutUint16(b[34:36], 16)
	copy(b[36:40], "data")
	binary.LittleEndian.PutUint32(b[40:44], uint32(n))
	for i, s := range a.Samples {
		binary.LittleEndian.PutUint16(b[headerSize+2*i:], uint16(s))
	}
	return b
}

// Decode reads a 16-bit PCM WAV file. Several channels are mixed down to
// mono. It tolerates what streaming writers produce: RIFF and data sizes
// that are zero, 0xFFFFFFFF or simply larger than the file (the data then
// runs to the end of the input), and a trailing odd byte. It never panics
// and allocates no more than the input's size, so it is safe on untrusted
// input.
func Decode(b []byte) (Audio, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return Audio{}, ErrFormat
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
				return Audio{}, fmt.Errorf("%w: fmt chunk of %d bytes", ErrFormat, size)
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
				return Audio{}, fmt.Errorf("%w: format %d, %d bits (want PCM, 16 bits)", ErrUnsupported, format, bits)
			}
			if channels < 1 || channels > MaxChannels {
				return Audio{}, fmt.Errorf("%w: %d channels", ErrUnsupported, channels)
			}
			if rate <= 0 || rate > 1<<20 {
				return Audio{}, fmt.Errorf("%w: sample rate %d", ErrUnsupported, rate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return Audio{}, fmt.Errorf("%w: data before fmt", ErrFormat)
			}
			// Streaming writers cannot know the size: take what is there.
			if size == 0 || size > int64(len(body)) {
				size = int64(len(body))
			}
			return Audio{Rate: rate, Samples: mix(body[:size], channels)}, nil
		}
		// Chunks are padded to even sizes.
		next := int64(off) + 8 + size + size&1
		if next > int64(len(b)) {
			break
		}
		off = int(next)
	}
	if !haveFmt {
		return Audio{}, fmt.Errorf("%w: no fmt chunk", ErrFormat)
	}
	return Audio{}, fmt.Errorf("%w: no data chunk", ErrFormat)
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
