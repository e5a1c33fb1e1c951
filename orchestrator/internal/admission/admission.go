// Package admission bounds how many runs an orchestrator executes at once
// and how many more may wait for a turn.
package admission

import (
	"context"
	"errors"
	"sync"
)

// ErrFull is returned by Reserve when every run slot and queue place is
// taken.
var ErrFull = errors.New("admission: every run slot and queue place is taken")

// Gate admits at most Runs holders at once and lets at most Queue more wait.
// Unlike platform/limit's Limiter, a place is reserved first (Reserve, which
// never blocks) and waited for later (Ticket.Wait): a job is refused or
// accepted when it is created, and waits for its turn in the background.
type Gate struct {
	slots chan struct{}
	queue int

	mu   sync.Mutex
	held int // reserved tickets not yet released or cancelled
}

// New returns a Gate with runs slots (at least 1) and queue places (at
// least 0).
func New(runs, queue int) *Gate {
	return &Gate{slots: make(chan struct{}, max(runs, 1)), queue: max(queue, 0)}
}

// Ticket is a reserved place: call Wait for the slot, or Cancel to give the
// place back without running.
type Ticket struct {
	g    *Gate
	once sync.Once
}

// Reserve takes a place (running or queued), or returns ErrFull at once.
func (g *Gate) Reserve() (*Ticket, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held >= cap(g.slots)+g.queue {
		return nil, ErrFull
	}
	g.held++
	return &Ticket{g: g}, nil
}

// Wait blocks until a slot is free and takes it; release gives it back
// (and the ticket's place with it). If ctx ends first, Wait gives the place
// back and returns ctx's error.
func (t *Ticket) Wait(ctx context.Context) (release func(), err error) {
	select {
	case t.g.slots <- struct{}{}:
		return func() {
			<-t.g.slots
			t.Cancel()
		}, nil
	case <-ctx.Done():
		t.Cancel()
		return nil, ctx.Err()
	}
}

// Cancel gives the ticket's place back; later calls do nothing.
func (t *Ticket) Cancel() {
	t.once.Do(func() {
		t.g.mu.Lock()
		t.g.held--
		t.g.mu.Unlock()
	})
}

// Running reports how many slots are taken; Held how many places (running
// or waiting) are.
func (g *Gate) Running() int { return len(g.slots) }

// Held reports how many places, running or waiting, are taken.
func (g *Gate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}
