package sample

import "strings"

// StopMatcher cuts streamed text at the first stop string. Text that might be the start of a
// stop string is held back until the next piece settles it, so a stop string split across
// tokens is never partly emitted. Not safe for concurrent use.
type StopMatcher struct {
	stops   []string
	held    string
	matched string
	done    bool
}

// NewStopMatcher returns a matcher for stops; empty strings are ignored.
func NewStopMatcher(stops []string) *StopMatcher {
	m := &StopMatcher{}
	for _, s := range stops {
		if s != "" {
			m.stops = append(m.stops, s)
		}
	}
	return m
}

// Push adds the next piece of text. It returns the text that can be emitted now and whether a
// stop string has been completed; then emit is the text before the stop string, which is itself
// dropped, and every later Push returns ("", true).
func (m *StopMatcher) Push(piece string) (emit string, stopped bool) {
	if m.done {
		return "", true
	}
	buf := m.held + piece
	first, which := -1, ""
	for _, s := range m.stops {
		if i := strings.Index(buf, s); i >= 0 && (first < 0 || i < first || i == first && len(s) > len(which)) {
			first, which = i, s
		}
	}
	if first >= 0 {
		m.done, m.matched, m.held = true, which, ""
		return buf[:first], true
	}
	keep := m.partial(buf)
	m.held = buf[len(buf)-keep:]
	return buf[:len(buf)-keep], false
}

// partial returns the length of the longest suffix of buf that is a proper prefix of a stop
// string.
func (m *StopMatcher) partial(buf string) int {
	best := 0
	for _, s := range m.stops {
		for n := min(len(s)-1, len(buf)); n > best; n-- {
			if strings.HasSuffix(buf, s[:n]) {
				best = n
				break
			}
		}
	}
	return best
}

// Flush returns the held-back text at the end of generation (none once stopped).
func (m *StopMatcher) Flush() string {
	out := m.held
	m.held = ""
	return out
}

// Matched returns the stop string that ended the text, or "".
func (m *StopMatcher) Matched() string { return m.matched }

// Stopped reports whether a stop string has been completed.
func (m *StopMatcher) Stopped() bool { return m.done }
