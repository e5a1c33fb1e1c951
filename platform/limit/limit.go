// Package limit bounds how many requests a backend serves at once and how
// many may wait for a turn.
package limit

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrQueueFull is returned by Acquire when every slot is busy and the queue
// holds as many waiters as it may.
var ErrQueueFull = errors.New("limit: queue full")

// Limiter admits at most Concurrency holders at once and lets at most Queue
// more wait. The zero value is not usable; call New.
type Limiter struct {
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
}

// New returns a Limiter with the given concurrency (at least 1) and queue
// length (0 means callers never wait).
func New(concurrency, queue int) *Limiter {
	if concurrency < 1 {
		concurrency = 1
	}
	if queue < 0 {
		queue = 0
	}
	return &Limiter{slots: make(chan struct{}, concurrency), queue: int64(queue)}
}

// Acquire takes a slot, waiting in the queue if there is room. It returns
// ErrQueueFull at once when there is not, and ctx's error if ctx ends while
// waiting. The returned release must be called exactly once.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	default:
	}
	if l.waiting.Add(1) > l.queue {
		l.waiting.Add(-1)
		return nil, ErrQueueFull
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Limiter) release() { <-l.slots }

// InUse reports how many slots are held now.
func (l *Limiter) InUse() int { return len(l.slots) }

// Waiting reports how many callers wait for a slot now.
func (l *Limiter) Waiting() int { return int(l.waiting.Load()) }
