package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// wavInfo is what the test checks of a WAV file.
type wavInfo struct {
	format, channels, bits int
	rate                   int
	samples                int // per channel
	peak                   int // largest absolute sample
}

func (w wavInfo) duration() time.Duration {
	return time.Duration(float64(w.samples) / float64(w.rate) * float64(time.Second))
}

// parseWAV reads a RIFF/WAVE file's fmt and data chunks.
func parseWAV(b []byte) (wavInfo, error) {
	var w wavInfo
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return w, errors.New("no RIFF/WAVE header")
	}
	var data []byte
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8:]
		if size > len(body) {
			return w, fmt.Errorf("chunk %q of %d bytes overruns the file", id, size)
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return w, errors.New("short fmt chunk")
			}
			w.format = int(binary.LittleEndian.Uint16(body[0:2]))
			w.channels = int(binary.LittleEndian.Uint16(body[2:4]))
			w.rate = int(binary.LittleEndian.Uint32(body[4:8]))
			w.bits = int(binary.LittleEndian.Uint16(body[14:16]))
		case "data":
			data = body
		}
		p += 8 + size + size%2
	}
	if w.format != 1 || w.bits != 16 || w.channels < 1 || w.rate <= 0 {
		return w, fmt.Errorf("not PCM16: format %d, %d bits, %d channels, %d Hz", w.format, w.bits, w.channels, w.rate)
	}
	if data == nil {
		return w, errors.New("no data chunk")
	}
	w.samples = len(data) / 2 / w.channels
	for i := 0; i+1 < len(data); i += 2 {
		s := int(int16(binary.LittleEndian.Uint16(data[i:])))
		w.peak = max(w.peak, s, -s)
	}
	return w, nil
}
