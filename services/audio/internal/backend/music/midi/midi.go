// Package midi writes Standard MIDI Files: format 1, a conductor track
// with the tempo and time signature, then one track per part.
package midi

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// MimeType is the type of a Standard MIDI File.
const MimeType = "audio/midi"

// DrumChannel is General MIDI's percussion channel (10, counted from 1).
const DrumChannel = 9

// Note is one note: a key held from Start for Duration ticks.
type Note struct {
	Start, Duration int
	Key, Velocity   uint8
}

// Track is one part on one channel.
type Track struct {
	// Name is written as the track's name meta event.
	Name string
	// Channel is 0 to 15; DrumChannel for percussion.
	Channel uint8
	// Program is the General MIDI program (0 to 127); ignored on
	// DrumChannel.
	Program uint8
	Notes   []Note
}

// File is a whole piece in 4/4.
type File struct {
	// Division is ticks per quarter note.
	Division int
	// BPM is the tempo in quarter notes per minute.
	BPM    float64
	Tracks []Track
}

// ErrInvalid means a File that cannot be written as a Standard MIDI File.
var ErrInvalid = errors.New("midi: invalid file")

// Encode writes f as a format 1 Standard MIDI File. The same File always
// gives the same bytes.
func Encode(f File) ([]byte, error) {
	if f.Division <= 0 || f.Division > 0x7fff || f.BPM <= 0 || len(f.Tracks) > 0xfffe {
		return nil, fmt.Errorf("%w: division %d, %v bpm, %d tracks", ErrInvalid, f.Division, f.BPM, len(f.Tracks))
	}
	var out bytes.Buffer
	out.WriteString("MThd")
	_ = binary.Write(&out, binary.BigEndian, struct {
		Length                   uint32
		Format, Tracks, Division uint16
	}{6, 1, uint16(len(f.Tracks) + 1), uint16(f.Division)})

	usPerQuarter := uint32(math.Round(60e6 / f.BPM))
	if usPerQuarter > 0xffffff {
		return nil, fmt.Errorf("%w: %v bpm is too slow", ErrInvalid, f.BPM)
	}
	var conductor track
	conductor.meta(0, 0x58, []byte{4, 2, 24, 8}) // 4/4, 24 clocks a click, 8 32nds a quarter
	conductor.meta(0, 0x51, []byte{byte(usPerQuarter >> 16), byte(usPerQuarter >> 8), byte(usPerQuarter)})
	conductor.end(0)
	conductor.writeTo(&out)

	for i, t := range f.Tracks {
		if t.Channel > 15 || t.Program > 127 {
			return nil, fmt.Errorf("%w: track %d: channel %d, program %d", ErrInvalid, i, t.Channel, t.Program)
		}
		var tr track
		tr.meta(0, 0x03, []byte(t.Name))
		if t.Channel != DrumChannel {
			tr.event(0, 0xC0|t.Channel, t.Program)
		}
		type ev struct {
			tick     int
			on       bool
			key, vel uint8
		}
		evs := make([]ev, 0, 2*len(t.Notes))
		last := 0
		for _, n := range t.Notes {
			if n.Start < 0 || n.Duration <= 0 || n.Key > 127 || n.Velocity > 127 || n.Velocity == 0 {
				return nil, fmt.Errorf("%w: track %d: note %+v", ErrInvalid, i, n)
			}
			evs = append(evs, ev{n.Start, true, n.Key, n.Velocity}, ev{n.Start + n.Duration, false, n.Key, 0})
			last = max(last, n.Start+n.Duration)
		}
		// Offs before ons at the same tick, so a repeated key sounds
		// again; then by key, for bytes that do not depend on input order.
		slices.SortStableFunc(evs, func(a, b ev) int {
			if c := cmp.Compare(a.tick, b.tick); c != 0 {
				return c
			}
			if a.on != b.on {
				if a.on {
					return 1
				}
				return -1
			}
			return cmp.Compare(a.key, b.key)
		})
		for _, e := range evs {
			if e.on {
				tr.event(e.tick, 0x90|t.Channel, e.key, e.vel)
			} else {
				tr.event(e.tick, 0x80|t.Channel, e.key, 64)
			}
		}
		tr.end(last)
		tr.writeTo(&out)
	}
	return out.Bytes(), nil
}

// track accumulates one MTrk chunk's events with delta times.
type track struct {
	buf  bytes.Buffer
	tick int
}

func (t *track) delta(tick int) {
	d := max(tick-t.tick, 0)
	t.tick = max(tick, t.tick)
	t.buf.Write(vlq(uint32(d)))
}

func (t *track) event(tick int, status byte, data ...byte) {
	t.delta(tick)
	t.buf.WriteByte(status)
	t.buf.Write(data)
}

func (t *track) meta(tick int, kind byte, data []byte) {
	t.delta(tick)
	t.buf.Write([]byte{0xFF, kind})
	t.buf.Write(vlq(uint32(len(data))))
	t.buf.Write(data)
}

func (t *track) end(tick int) { t.meta(tick, 0x2F, nil) }

func (t *track) writeTo(out *bytes.Buffer) {
	out.WriteString("MTrk")
	_ = binary.Write(out, binary.BigEndian, uint32(t.buf.Len()))
	out.Write(t.buf.Bytes())
}

// vlq is MIDI's variable-length quantity: 7 bits a byte, most significant
// first, the high bit set on all but the last.
func vlq(v uint32) []byte {
	b := []byte{byte(v & 0x7f)}
	for v >>= 7; v > 0; v >>= 7 {
		b = append([]byte{byte(v&0x7f) | 0x80}, b...)
	}
	return b
}
