package command

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// isTerminal reports whether stdout is a terminal that takes ANSI codes:
// live status lines go there, plain lines anywhere else.
func (e Env) isTerminal() bool {
	if e.terminal {
		return true
	}
	if e.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := e.Stdout.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type stepState int

const (
	stepRunning stepState = iota
	stepDone
	stepFailed
)

// stepStatus is one step's line.
type stepStatus struct {
	name    string
	state   stepState
	detail  string
	started time.Time
	ended   time.Duration
	text    string // the tail of a text step's output
}

// statusLines keeps one line per step on a terminal and redraws them in
// place (cursor up, clear line) as events arrive and, for the elapsed
// times, a few times a second. A dozen lines of ANSI codes do this; a
// progress-bar library would add a dependency for no more.
type statusLines struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	steps []*stepStatus
	drawn int
	tick  int

	stop chan struct{}
	done chan struct{}
}

const redrawEvery = 100 * time.Millisecond

func newStatusLines(w io.Writer, start time.Time) *statusLines {
	s := &statusLines{w: w, start: start, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(redrawEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				s.tick++
				s.redraw()
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// set updates a step's line, adding it when new.
func (s *statusLines) set(name string, state stepState, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.step(name)
	if st.state == stepRunning && state != stepRunning {
		st.ended = time.Since(st.started)
	}
	st.state, st.detail = state, detail
	st.text = ""
	s.redraw()
}

// appendText shows the end of a text step's output as it is written.
func (s *statusLines) appendText(name, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.step(name)
	st.text = lastRunes(strings.Join(strings.Fields(st.text+" "+text), " "), 38)
	s.redraw()
}

func (s *statusLines) step(name string) *stepStatus {
	for _, st := range s.steps {
		if st.name == name {
			return st
		}
	}
	st := &stepStatus{name: name, started: time.Now()}
	s.steps = append(s.steps, st)
	return st
}

// close stops the redraws and draws the final state.
func (s *statusLines) close() {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redraw()
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// redraw rewrites every step's line; the caller holds mu.
func (s *statusLines) redraw() {
	var b strings.Builder
	if s.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", s.drawn)
	}
	for _, st := range s.steps {
		mark, state, took := spinner[s.tick%len(spinner)], "running", time.Since(st.started)
		switch st.state {
		case stepDone:
			mark, state, took = "✓", "completed", st.ended
		case stepFailed:
			mark, state, took = "✗", "failed", st.ended
		}
		detail := st.detail
		if st.text != "" {
			detail = "…" + st.text
		}
		fmt.Fprintf(&b, "\r\x1b[2K  %s %-12s %-9s %6.1fs  %s\n", mark, st.name, state, took.Seconds(), rpcerr.Clip(detail, 40))
	}
	s.drawn = len(s.steps)
	io.WriteString(s.w, b.String())
}

// lastRunes returns the last n runes of s.
func lastRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[len(r)-n:])
}
