package openai

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// maxEvent bounds one SSE line and one event's data, so a misbehaving
// upstream cannot make the service buffer without limit.
const maxEvent = 1 << 20

// errEventTooLarge reports an SSE line or event over maxEvent.
var errEventTooLarge = errors.New("openai: server-sent event too large")

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	Event string
	Data  string
}

// sseReader parses a text/event-stream body as the HTML standard defines it:
// lines end in CRLF, LF or CR; lines starting with ':' are comments; "data"
// fields accumulate, joined by LF; a blank line dispatches the event. Only
// what a chat-completions client needs is kept (event and data).
type sseReader struct {
	sc *bufio.Scanner
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxEvent)
	sc.Split(scanSSELines)
	return &sseReader{sc: sc}
}

// Next returns the next event with data. At the end of the body it returns
// io.EOF, or io.ErrUnexpectedEOF when the body ended inside an event (which,
// as the standard says, is discarded).
func (r *sseReader) Next() (sseEvent, error) {
	var (
		ev      sseEvent
		data    strings.Builder
		hasData bool
		pending bool
	)
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if hasData {
				ev.Data = data.String()
				return ev, nil
			}
			// An event without data is not dispatched.
			ev, pending = sseEvent{}, false
			continue
		}
		if line[0] == ':' {
			continue
		}
		pending = true
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "data":
			if data.Len()+len(value)+1 > maxEvent {
				return sseEvent{}, errEventTooLarge
			}
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "event":
			ev.Event = string(value)
		}
		// id, retry and unknown fields are ignored.
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return sseEvent{}, errEventTooLarge
		}
		return sseEvent{}, err
	}
	if pending {
		return sseEvent{}, io.ErrUnexpectedEOF
	}
	return sseEvent{}, io.EOF
}

// scanSSELines is a bufio.SplitFunc for SSE line endings: CRLF, LF or a lone
// CR. A final line without an ending is returned too.
func scanSSELines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if !atEOF {
			// A CR at the end of the buffer may be half of a CRLF.
			return 0, nil, nil
		}
		return i + 1, data[:i], nil
	}
	if atEOF {
		// Unterminated: the caller discards the event it belongs to, so
		// mark it as a non-blank line.
		return len(data), data, nil
	}
	return 0, nil, nil
}
