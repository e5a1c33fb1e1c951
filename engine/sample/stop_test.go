package sample

import (
	"strings"
	"testing"
)

func TestStopMatcher(t *testing.T) {
	tests := []struct {
		name    string
		stops   []string
		pieces  []string
		emits   []string // per piece
		stopped bool
		matched string
		flush   string
	}{
		{name: "no stops", stops: nil, pieces: []string{"a", "b"}, emits: []string{"a", "b"}},
		{name: "stop inside one piece", stops: []string{"END"}, pieces: []string{"abcENDxyz", "more"},
			emits: []string{"abc", ""}, stopped: true, matched: "END"},
		{name: "stop split across pieces", stops: []string{"\nUser:"}, pieces: []string{"Hi there\n", "Us", "er: hello"},
			emits: []string{"Hi there", "", ""}, stopped: true, matched: "\nUser:"},
		{name: "false start is released", stops: []string{"\nUser:"}, pieces: []string{"a\n", "Use", "d it"},
			emits: []string{"a", "", "\nUsed it"}},
		{name: "held text flushed at end", stops: []string{"###"}, pieces: []string{"x #", "#"},
			emits: []string{"x ", ""}, flush: "##"},
		{name: "earliest of several", stops: []string{"bc", "ab"}, pieces: []string{"xabc"},
			emits: []string{"x"}, stopped: true, matched: "ab"},
		{name: "longest at same position", stops: []string{"ab", "abc"}, pieces: []string{"xa", "bcd"},
			emits: []string{"x", ""}, stopped: true, matched: "abc"},
		{name: "stop at very start", stops: []string{"<"}, pieces: []string{"<|end|>"},
			emits: []string{""}, stopped: true, matched: "<"},
		{name: "empty stop ignored", stops: []string{""}, pieces: []string{"abc"}, emits: []string{"abc"}},
		{name: "unicode stop", stops: []string{"🦙🦙"}, pieces: []string{"llama 🦙", "🦙 done"},
			emits: []string{"llama ", ""}, stopped: true, matched: "🦙🦙"},
		{name: "overlapping prefix", stops: []string{"aab"}, pieces: []string{"a", "a", "a", "b"},
			emits: []string{"", "", "a", ""}, stopped: true, matched: "aab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewStopMatcher(tt.stops)
			var stopped bool
			for i, p := range tt.pieces {
				var emit string
				emit, stopped = m.Push(p)
				if emit != tt.emits[i] {
					t.Errorf("piece %d %q: emitted %q, want %q", i, p, emit, tt.emits[i])
				}
			}
			if stopped != tt.stopped || m.Stopped() != tt.stopped || m.Matched() != tt.matched {
				t.Errorf("stopped %v matched %q, want %v %q", stopped, m.Matched(), tt.stopped, tt.matched)
			}
			if got := m.Flush(); got != tt.flush {
				t.Errorf("flush %q, want %q", got, tt.flush)
			}
		})
	}
}

// Whatever the split into pieces, the emitted text is the text up to the first stop string.
func TestStopMatcherAnySplit(t *testing.T) {
	text := "The answer is 42.\n\nUser: next question"
	stops := []string{"\n\nUser:", "Assistant:"}
	want := "The answer is 42."
	for size := 1; size <= len(text); size++ {
		m := NewStopMatcher(stops)
		var b strings.Builder
		stopped := false
		for i := 0; i < len(text) && !stopped; i += size {
			var emit string
			emit, stopped = m.Push(text[i:min(i+size, len(text))])
			b.WriteString(emit)
		}
		b.WriteString(m.Flush())
		if b.String() != want || !stopped {
			t.Fatalf("pieces of %d: got %q stopped=%v", size, b.String(), stopped)
		}
	}
}
