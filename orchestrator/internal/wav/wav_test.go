package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func pcm(rate, channels int, samples ...int16) []byte {
	data := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(s))
	}
	return Encode(Audio{Format: Format{SampleRate: rate, Channels: channels, BitsPerSample: 16}, Data: data})
}

func TestJoin(t *testing.T) {
	a, b := pcm(16000, 1, 1, 2, 3), pcm(16000, 1, 4, 5)
	got, err := Join([][]byte{a, b})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if want := pcm(16000, 1, 1, 2, 3, 4, 5); !bytes.Equal(Encode(got), want) {
		t.Errorf("Join = % x\nwant % x", Encode(got), want)
	}
	one := Audio{Format: Format{SampleRate: 8000, Channels: 1, BitsPerSample: 16}, Data: make([]byte, 16000)}
	if d := one.Duration(); d != time.Second {
		t.Errorf("Duration = %v, want 1s", d)
	}
}

func TestJoinRejects(t *testing.T) {
	// A float WAV: format tag 3.
	float := pcm(16000, 1, 1)
	binary.LittleEndian.PutUint16(float[20:], 3)
	for _, tc := range []struct {
		name     string
		segments [][]byte
		want     error
	}{
		{name: "rate differs", segments: [][]byte{pcm(16000, 1, 1), pcm(22050, 1, 1)}, want: ErrMismatch},
		{name: "channels differ", segments: [][]byte{pcm(16000, 1, 1, 2), pcm(16000, 2, 1, 2)}, want: ErrMismatch},
		{name: "not a wav", segments: [][]byte{[]byte("ID3 mp3 data...")}, want: ErrNotWAV},
		{name: "truncated", segments: [][]byte{pcm(16000, 1, 1)[:30]}, want: ErrNotWAV},
		{name: "float", segments: [][]byte{float}, want: ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Join(tc.segments); !errors.Is(err, tc.want) {
				t.Errorf("Join error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseSkipsChunksAndToleratesStreamingSize(t *testing.T) {
	w := pcm(24000, 1, 7, 8, 9)
	// Insert an odd-sized LIST chunk (padded) between fmt and data.
	list := []byte("LIST\x03\x00\x00\x00abc\x00")
	withList := append(append(append([]byte{}, w[:36]...), list...), w[36:]...)
	// A streaming encoder writes 0xFFFFFFFF as the data size.
	binary.LittleEndian.PutUint32(withList[36+len(list)+4:], 0xFFFFFFFF)
	a, err := Parse(withList)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if a.Format.SampleRate != 24000 || len(a.Data) != 6 {
		t.Errorf("Parse = %v with %d bytes", a.Format, len(a.Data))
	}
}

func FuzzParse(f *testing.F) {
	f.Add(pcm(16000, 1, 1, 2, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse(b)
		if err == nil && len(a.Data)%(2*a.Format.Channels) != 0 {
			t.Errorf("partial frame kept")
		}
	})
}
