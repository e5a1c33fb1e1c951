package llama

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// job is one parallel step. Workers call run with chunk indices taken from a
// shared counter until n chunks are done, so a worker slowed by a busy core
// simply takes fewer chunks.
type job interface {
	run(worker, chunk int)
}

// spinIters is how long an idle worker polls for the next step before it
// parks (tens of microseconds): a token runs about 150 steps separated by
// a few microseconds of serial work, and waking a parked goroutine costs
// more than that, so short polling is what makes two threads pay off.
const spinIters = 1 << 15

// pool is a set of persistent workers; the caller of do works too, so a
// pool of size n starts n-1 goroutines once, and a step costs an atomic
// store, not a goroutine.
type pool struct {
	n   int
	gen atomic.Uint64 // bumped by every step
	// closed is the last step whose chunks are all taken: a helper that
	// wakes for it only then leaves it alone, so the caller waits only for
	// the helpers that joined the step in time, not for one its core
	// descheduled before it could start.
	closed   atomic.Uint64
	inflight atomic.Int32 // helpers inside a step
	next     atomic.Int64
	cur      job
	total    int
	workers  []*worker
	mu       sync.Mutex // one step at a time per pool
	quit     atomic.Bool
	wg       sync.WaitGroup // running worker goroutines
	// The caller of do parks on done, after polling, when helpers are slow
	// (their core busy with other work); the last helper wakes it.
	callerSleeping atomic.Bool
	done           chan struct{}
	// panicked holds the first panic of the current step, recovered on
	// whichever worker raised it; do raises it again on its caller.
	panicked atomic.Pointer[WorkerPanic]
}

// WorkerPanic is what pool.do panics with when a chunk of its step panicked on any worker:
// the step is abandoned (no worker takes another chunk), every helper is idle again, and the
// caller of the forward pass (engine.Generate) recovers it and fails that one call. Value is
// what the chunk panicked with: a runtime.Error with Addr for a read of a model file that
// shrank while mapped (gguf.Fault), since workers run with debug.SetPanicOnFault.
type WorkerPanic struct {
	Value any
	Stack []byte
}

func (p *WorkerPanic) String() string { return fmt.Sprintf("llama worker panicked: %v", p.Value) }

type worker struct {
	sleeping atomic.Bool
	wake     chan struct{}
}

func newPool(n int) *pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &pool{n: n, done: make(chan struct{}, 1)}
	for i := 1; i < n; i++ {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		p.wg.Add(1)
		go p.loop(i, w)
	}
	return p
}

func (p *pool) loop(id int, w *worker) {
	defer p.wg.Done()
	// The weights are a file mapping: a file truncated under us faults,
	// and that must be a panic drain recovers, not a SIGBUS.
	debug.SetPanicOnFault(true)
	seen := uint64(0)
	for {
		g := p.wait(w, seen)
		if p.quit.Load() {
			return
		}
		seen = g
		// Join, then check the step is still open: do closes it before it
		// counts the helpers inside, so either it sees this one or this one
		// sees the step closed (and, then, touches none of its state).
		p.inflight.Add(1)
		if p.gen.Load() == g && p.closed.Load() != g {
			p.drain(id)
		}
		if p.inflight.Add(-1) == 0 && p.callerSleeping.CompareAndSwap(true, false) {
			p.done <- struct{}{}
		}
	}
}

// wait returns the next step's generation once it differs from seen,
// polling first and then parking.
func (p *pool) wait(w *worker, seen uint64) uint64 {
	for range spinIters {
		if g := p.gen.Load(); g != seen || p.quit.Load() {
			return g
		}
	}
	for {
		w.sleeping.Store(true)
		if g := p.gen.Load(); g != seen || p.quit.Load() {
			if !w.sleeping.CompareAndSwap(true, false) {
				<-w.wake // a waker saw us asleep and sent; take it
			}
			return g
		}
		<-w.wake
		if g := p.gen.Load(); g != seen || p.quit.Load() {
			return g
		}
	}
}

// drain runs chunks of the current step until none is left. A chunk that
// panics ends the step for every worker (the counter is pushed past the
// end) and is kept for do to raise again once all helpers are done with
// the step's buffers.
func (p *pool) drain(w int) {
	defer func() {
		if v := recover(); v != nil {
			p.next.Store(int64(p.total))
			p.panicked.CompareAndSwap(nil, &WorkerPanic{Value: v, Stack: debug.Stack()})
		}
	}()
	for {
		i := int(p.next.Add(1) - 1)
		if i >= p.total {
			return
		}
		p.cur.run(w, i)
	}
}

// do runs j over chunks [0, n) on all workers and returns when all are done.
// If a chunk panicked, do panics with a *WorkerPanic after the helpers have
// stopped, and the pool stays usable.
func (p *pool) do(j job, n int) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	p.cur, p.total = j, n
	p.next.Store(0)
	g := p.gen.Add(1)
	for _, w := range p.workers {
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.drain(0)
	p.closed.Store(g)
	p.waitHelpers()
	p.cur = nil
	if wp := p.panicked.Swap(nil); wp != nil {
		panic(wp)
	}
}

// waitHelpers returns once every helper that joined the current step has
// left it, polling first and then parking.
func (p *pool) waitHelpers() {
	for range spinIters {
		if p.inflight.Load() == 0 {
			return
		}
	}
	p.callerSleeping.Store(true)
	if p.inflight.Load() == 0 {
		if !p.callerSleeping.CompareAndSwap(true, false) {
			<-p.done // the last helper saw us asleep and sent; take it
		}
		return
	}
	<-p.done
}

// close stops the workers and waits for them to exit.
func (p *pool) close() {
	if p.quit.Swap(true) {
		return
	}
	p.gen.Add(1)
	for _, w := range p.workers {
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.wg.Wait()
}
