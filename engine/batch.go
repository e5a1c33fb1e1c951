package engine

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/chorus-ai/chorus/engine/llama"
)

// Continuous batching: every generation of a Model runs its forward passes
// through the model's scheduler, which gathers the sequences waiting for
// one into a single llama.Batch step, so a step reads each weight once for
// all of them. A generation joins at the next step after it asks and leaves
// when it stops asking; sampling, stop strings and masks stay in its own
// goroutine, between its steps.
const (
	// A step waits, after its first request, for the other running sequences to ask for theirs
	// (they are sampling or emitting meanwhile) for half the last step's time, within these
	// bounds: missing the step costs a late sequence a whole step, waiting costs the others
	// the wait. One that is later still takes the next step.
	minGatherWait = time.Millisecond
	maxGatherWait = 20 * time.Millisecond
	// prefillChunk caps the prompt tokens a step takes while sequences
	// decode in it, so a long prompt delays their next token by a chunk,
	// not by the whole prompt. Without decoders a prompt runs MaxBatch
	// tokens a step.
	prefillChunk = 32
)

// stepReq is a sequence's request for a forward pass: tokens to feed its
// session, and the logits after the last of them once done.
type stepReq struct {
	s      *llama.Session
	toks   []int32 // still to feed
	logits []float32
	err    error
	n      int           // tokens of toks in the step now running; 0 when not in one
	done   chan struct{} // receives once the request is answered
}

func newStepReq(s *llama.Session) *stepReq {
	return &stepReq{s: s, done: make(chan struct{}, 1)}
}

type scheduler struct {
	b     *llama.Batch
	vocab int

	mu      sync.Mutex
	pending []*stepReq // requests not yet answered, in arrival order
	live    int        // sequences running: each has a request pending or is about to
	widest  int        // the most sequences one step has run (tests read it)
	steps   int        // steps run, and sequences in them (the benchmark reads them)
	seqsRun int
	last    time.Duration // how long the last step took (the scheduler goroutine's)
	wake    chan struct{}
	quit    chan struct{}
	stopped chan struct{}

	seqs []llama.BatchSeq // scratch of the scheduler goroutine
	reqs []*stepReq
}

func newScheduler(net *llama.Model) *scheduler {
	sc := &scheduler{b: net.NewBatch(), vocab: net.Config().Vocab, wake: make(chan struct{}, 1),
		quit: make(chan struct{}), stopped: make(chan struct{})}
	go sc.loop()
	return sc
}

// close stops the scheduler; no request may be pending.
func (sc *scheduler) close() {
	close(sc.quit)
	<-sc.stopped
	sc.b.Close()
}

// join counts n more running sequences (a generation's, from when it holds
// a session until it is done), so steps wait briefly for them.
func (sc *scheduler) join(n int) {
	sc.mu.Lock()
	sc.live += n
	sc.mu.Unlock()
}

// leave undoes join.
func (sc *scheduler) leave(n int) {
	sc.mu.Lock()
	sc.live -= n
	sc.mu.Unlock()
	sc.signal()
}

func (sc *scheduler) signal() {
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

// decode feeds each request's tokens to its session in the coming steps
// and returns once every one has its logits. When ctx ends first it
// returns ctx.Err() at once for requests still waiting (their sessions
// hold the tokens fed so far) and after the running step for a request in
// one.
func (sc *scheduler) decode(ctx context.Context, reqs ...*stepReq) error {
	for _, r := range reqs {
		s := r.s
		if len(r.toks) == 0 {
			return fmt.Errorf("%w: no tokens", llama.ErrToken)
		}
		if s.Len()+len(r.toks) > s.Cap() {
			return fmt.Errorf("%w: %d + %d tokens > %d", llama.ErrContextFull, s.Len(), len(r.toks), s.Cap())
		}
		for _, t := range r.toks {
			if t < 0 || int(t) >= sc.vocab {
				return fmt.Errorf("%w: %d (vocabulary %d)", llama.ErrToken, t, sc.vocab)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	sc.mu.Lock()
	for _, r := range reqs {
		r.err, r.n = nil, 0
		sc.pending = append(sc.pending, r)
	}
	sc.mu.Unlock()
	sc.signal()
	var err error
	for i, r := range reqs {
		select {
		case <-r.done:
			err = cmpErr(err, r.err)
			continue
		case <-ctx.Done():
		}
		// Withdraw what has not been answered; wait out a running step.
		sc.mu.Lock()
		for _, r := range reqs[i:] {
			if j := slices.Index(sc.pending, r); j >= 0 && r.n == 0 {
				sc.pending = slices.Delete(sc.pending, j, j+1)
				continue
			}
			sc.mu.Unlock()
			<-r.done
			sc.mu.Lock()
		}
		sc.mu.Unlock()
		return ctx.Err()
	}
	return err
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (sc *scheduler) loop() {
	defer close(sc.stopped)
	// The forward pass reads the file mapping: a file that shrank while mapped faults, which
	// run turns into an error.
	debug.SetPanicOnFault(true)
	for {
		if !sc.gather() {
			return
		}
		sc.step()
	}
}

// gather waits for a request, then a while (see minGatherWait) for every
// running sequence to have one; it reports false when the scheduler stops.
func (sc *scheduler) gather() bool {
	var timer <-chan time.Time
	for {
		sc.mu.Lock()
		n, live := len(sc.pending), sc.live
		sc.mu.Unlock()
		if n > 0 && n >= live {
			return true
		}
		if n > 0 && timer == nil {
			timer = time.After(min(max(sc.last/2, minGatherWait), maxGatherWait))
		}
		select {
		case <-sc.wake:
		case <-timer:
			return true
		case <-sc.quit:
			return false
		}
	}
}

// step runs one batch: every decoding sequence's token, then prompt tokens
// of the others, in arrival order, up to MaxBatch rows.
func (sc *scheduler) step() {
	sc.mu.Lock()
	sc.seqs, sc.reqs = sc.seqs[:0], sc.reqs[:0]
	budget := llama.MaxBatch
	decoding := false
	for _, r := range sc.pending {
		if len(r.toks) == 1 && budget > 0 {
			decoding = true
			sc.take(r, 1)
			budget--
		}
	}
	for _, r := range sc.pending {
		if len(r.toks) > 1 && budget > 0 {
			n := min(len(r.toks), budget)
			if decoding {
				n = min(n, prefillChunk)
			}
			sc.take(r, n)
			budget -= n
		}
	}
	sc.widest = max(sc.widest, len(sc.seqs))
	sc.steps++
	sc.seqsRun += len(sc.seqs)
	sc.mu.Unlock()
	if len(sc.seqs) == 0 {
		return
	}
	start := time.Now()
	logits, err := sc.run()
	sc.last = time.Since(start)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	k := 0
	for i, r := range sc.reqs {
		n := r.n
		r.n = 0
		switch {
		case err != nil:
			r.err = err
		case len(r.toks) > n:
			r.toks = r.toks[n:]
			continue
		default:
			r.toks = nil
			r.logits = append(r.logits[:0], logits[k*sc.vocab:(k+1)*sc.vocab]...)
		}
		if sc.seqs[i].Logits {
			k++
		}
		sc.pending = slices.DeleteFunc(sc.pending, func(p *stepReq) bool { return p == r })
		r.done <- struct{}{}
	}
}

// run is one Batch step. A panic in it (a worker's, re-raised by the pool once its helpers are
// idle, or a fault reading the mapping) fails the step's requests with ErrInternal; the
// sessions keep what they held before the step.
func (sc *scheduler) run() (logits []float32, err error) {
	defer func() {
		if p := recover(); p != nil {
			logits, err = nil, panicError(p)
		}
	}()
	return sc.b.Step(sc.seqs)
}

// take puts n of r's tokens in the coming step.
func (sc *scheduler) take(r *stepReq, n int) {
	r.n = n
	sc.seqs = append(sc.seqs, llama.BatchSeq{Session: r.s, Tokens: r.toks[:n], Logits: n == len(r.toks)})
	sc.reqs = append(sc.reqs, r)
}
