package midi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestVLQ(t *testing.T) {
	tests := []struct {
		in   uint32
		want []byte
	}{
		{in: 0, want: []byte{0}},
		{in: 0x7f, want: []byte{0x7f}},
		{in: 0x80, want: []byte{0x81, 0}},
		{in: 0x2000, want: []byte{0xc0, 0}},
		{in: 0x0fffffff, want: []byte{0xff, 0xff, 0xff, 0x7f}},
	}
	for _, tt := range tests {
		if got := vlq(tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("vlq(%#x) = % x, want % x", tt.in, got, tt.want)
		}
	}
}

func TestEncode(t *testing.T) {
	f := File{Division: 480, BPM: 120, Tracks: []Track{
		{Name: "lead", Channel: 0, Program: 0, Notes: []Note{{Start: 480, Duration: 480, Key: 62, Velocity: 90}, {Start: 0, Duration: 480, Key: 60, Velocity: 100}}},
		{Name: "drums", Channel: DrumChannel, Notes: []Note{{Start: 0, Duration: 120, Key: 36, Velocity: 100}}},
	}}
	b, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := []byte{'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1, 0, 3, 0x01, 0xe0}
	if !bytes.Equal(b[:14], wantHeader) {
		t.Fatalf("header % x, want % x", b[:14], wantHeader)
	}
	// Walk the chunks: three tracks, each ending with End of Track.
	var tracks [][]byte
	for rest := b[14:]; len(rest) > 0; {
		if len(rest) < 8 || string(rest[:4]) != "MTrk" {
			t.Fatalf("not a track chunk: % x", rest[:min(8, len(rest))])
		}
		n := binary.BigEndian.Uint32(rest[4:8])
		tracks = append(tracks, rest[8:8+n])
		rest = rest[8+n:]
	}
	if len(tracks) != 3 {
		t.Fatalf("%d tracks, want 3", len(tracks))
	}
	for i, tr := range tracks {
		if !bytes.HasSuffix(tr, []byte{0xff, 0x2f, 0}) {
			t.Errorf("track %d does not end with End of Track: % x", i, tr)
		}
	}
	// 120 bpm is 500000 µs a quarter.
	if !bytes.Contains(tracks[0], []byte{0xff, 0x51, 3, 0x07, 0xa1, 0x20}) {
		t.Errorf("conductor has no 120 bpm tempo: % x", tracks[0])
	}
	// The lead: name, program 0, then the notes in time order whatever
	// their order in Notes: on 60, (480 later) off 60, on 62, (480) off 62.
	wantLead := []byte{0, 0xff, 3, 4, 'l', 'e', 'a', 'd', 0, 0xc0, 0, 0, 0x90, 60, 100, 0x83, 0x60, 0x80, 60, 64, 0, 0x90, 62, 90, 0x83, 0x60, 0x80, 62, 64, 0, 0xff, 0x2f, 0}
	if !bytes.Equal(tracks[1], wantLead) {
		t.Errorf("lead track\n got % x\nwant % x", tracks[1], wantLead)
	}
	if bytes.Contains(tracks[2], []byte{0xc9}) {
		t.Errorf("drum track has a program change: % x", tracks[2])
	}
	again, _ := Encode(f)
	if !bytes.Equal(b, again) {
		t.Error("the same file encoded twice differs")
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		f    File
	}{
		{name: "no division", f: File{BPM: 120}},
		{name: "no tempo", f: File{Division: 480}},
		{name: "channel 16", f: File{Division: 480, BPM: 120, Tracks: []Track{{Channel: 16}}}},
		{name: "key 128", f: File{Division: 480, BPM: 120, Tracks: []Track{{Notes: []Note{{Duration: 1, Key: 128, Velocity: 1}}}}}},
		{name: "empty note", f: File{Division: 480, BPM: 120, Tracks: []Track{{Notes: []Note{{Key: 60, Velocity: 1}}}}}},
	}
	for _, tt := range tests {
		if _, err := Encode(tt.f); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", tt.name, err)
		}
	}
}
