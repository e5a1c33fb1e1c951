// Package wav reads and joins 16-bit PCM WAV files, the audio service's
// output format.
package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Errors returned by Parse and Join.
var (
	// ErrNotWAV means the bytes are not a RIFF/WAVE file with fmt and data
	// chunks.
	ErrNotWAV = errors.New("wav: not a RIFF WAVE file")
	// ErrUnsupported means a format other than 16-bit PCM.
	ErrUnsupported = errors.New("wav: only 16-bit PCM is supported")
	// ErrMismatch means segments to join differ in sample rate or channels.
	ErrMismatch = errors.New("wav: segments differ in format")
)

// Format describes PCM audio.
type Format struct {
	SampleRate int
	Channels   int
	// BitsPerSample is always 16 for what Parse accepts.
	BitsPerSample int
}

// Audio is a parsed WAV file: its format and its sample bytes.
type Audio struct {
	Format Format
	// Data is the content of the data chunk (little-endian samples).
	Data []byte
}

// Duration returns how long the audio plays.
func (a Audio) Duration() time.Duration {
	bytesPerSec := a.Format.SampleRate * a.Format.Channels * a.Format.BitsPerSample / 8
	if bytesPerSec <= 0 {
		return 0
	}
	return time.Duration(float64(len(a.Data)) / float64(bytesPerSec) * float64(time.Second))
}

const (
	formatPCM        = 1
	formatExtensible = 0xFFFE
	headerLen        = 44
)

// Parse reads a WAV file. It accepts 16-bit PCM (plain or
// WAVE_FORMAT_EXTENSIBLE with a PCM subformat), skips other chunks, and
// tolerates a data chunk whose size overstates the bytes present (as
// written by streaming encoders).
func Parse(b []byte) (Audio, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return Audio{}, ErrNotWAV
	}
	var (
		f       Format
		haveFmt bool
	)
	for rest := b[12:]; len(rest) >= 8; {
		id := string(rest[0:4])
		size := int64(binary.LittleEndian.Uint32(rest[4:8]))
		rest = rest[8:]
		if size > int64(len(rest)) {
			if id != "data" {
				return Audio{}, fmt.Errorf("%w: chunk %q overruns the file", ErrNotWAV, id)
			}
			size = int64(len(rest))
		}
		body := rest[:size]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return Audio{}, fmt.Errorf("%w: short fmt chunk", ErrNotWAV)
			}
			tag := binary.LittleEndian.Uint16(body[0:2])
			if tag == formatExtensible && len(body) >= 26 {
				tag = binary.LittleEndian.Uint16(body[24:26])
			}
			f = Format{
				Channels:      int(binary.LittleEndian.Uint16(body[2:4])),
				SampleRate:    int(binary.LittleEndian.Uint32(body[4:8])),
				BitsPerSample: int(binary.LittleEndian.Uint16(body[14:16])),
			}
			if tag != formatPCM || f.BitsPerSample != 16 {
				return Audio{}, fmt.Errorf("%w (format tag %d, %d bits)", ErrUnsupported, tag, f.BitsPerSample)
			}
			if f.Channels < 1 || f.SampleRate < 1 {
				return Audio{}, fmt.Errorf("%w: %d channels at %d Hz", ErrNotWAV, f.Channels, f.SampleRate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return Audio{}, fmt.Errorf("%w: data before fmt", ErrNotWAV)
			}
			// Drop a trailing partial sample frame.
			frame := int64(f.Channels * 2)
			return Audio{Format: f, Data: body[:size-size%frame]}, nil
		}
		// Chunks are padded to an even size.
		if size%2 == 1 && size < int64(len(rest)) {
			size++
		}
		rest = rest[size:]
	}
	return Audio{}, fmt.Errorf("%w: no data chunk", ErrNotWAV)
}

// Encode writes audio as a canonical 44-byte-header WAV file.
func Encode(a Audio) []byte {
	out := make([]byte, headerLen+len(a.Data))
	writeHeader(out, a.Format, len(a.Data))
	copy(out[headerLen:], a.Data)
	return out
}

// Join concatenates WAV files, in order, into one. Every segment must be
// 16-bit PCM with the same sample rate and channel count; the error names
// the first segment that differs from the first.
func Join(segments [][]byte) (Audio, error) {
	if len(segments) == 0 {
		return Audio{}, errors.New("wav: nothing to join")
	}
	parsed := make([]Audio, len(segments))
	total := 0
	for i, s := range segments {
		a, err := Parse(s)
		if err != nil {
			return Audio{}, fmt.Errorf("segment %d: %w", i, err)
		}
		if i > 0 && a.Format != parsed[0].Format {
			return Audio{}, fmt.Errorf("%w: segment %d is %s but segment 0 is %s", ErrMismatch, i, a.Format, parsed[0].Format)
		}
		parsed[i] = a
		total += len(a.Data)
	}
	data := make([]byte, 0, total)
	for _, a := range parsed {
		data = append(data, a.Data...)
	}
	return Audio{Format: parsed[0].Format, Data: data}, nil
}

// EncodedSize is the size of a canonical WAV file holding n data bytes.
func EncodedSize(n int) int { return headerLen + n }

func (f Format) String() string {
	return fmt.Sprintf("%d Hz, %d channel(s), %d-bit", f.SampleRate, f.Channels, f.BitsPerSample)
}

func writeHeader(b []byte, f Format, dataLen int) {
	le := binary.LittleEndian
	blockAlign := f.Channels * f.BitsPerSample / 8
	copy(b[0:4], "RIFF")
	le.PutUint32(b[4:8], uint32(36+dataLen))
	copy(b[8:12], "WAVE")
	copy(b[12:16], "fmt ")
	le.PutUint32(b[16:20], 16)
	le.PutUint16(b[20:22], formatPCM)
	le.PutUint16(b[22:24], uint16(f.Channels))
	le.PutUint32(b[24:28], uint32(f.SampleRate))
	le.PutUint32(b[28:32], uint32(f.SampleRate*blockAlign))
	le.PutUint16(b[32:34], uint16(blockAlign))
	le.PutUint16(b[34:36], uint16(f.BitsPerSample))
	copy(b[36:40], "data")
	le.PutUint32(b[40:44], uint32(dataLen))
}
