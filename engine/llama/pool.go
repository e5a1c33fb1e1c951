package llama

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// job is one parallel step. Workers call run with chunk indices taken from a
// shared counter until n chunks are done, so a worker slowed by a busy core
// simply takes fewer chunks.
type job interface {
	run(worker, chunk int)
}

// pool is a set of persistent workers; the caller of do works too, so a
// pool of size n starts n-1 goroutines once, and a step costs a channel
// send per helper, not a goroutine.
type pool struct {
	n     int
	start []chan struct{}
	wg    sync.WaitGroup
	cur   job
	total int
	next  atomic.Int64
	mu    sync.Mutex // one step at a time per pool
	quit  chan struct{}
}

func newPool(n int) *pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &pool{n: n, quit: make(chan struct{})}
	for w := 1; w < n; w++ {
		c := make(chan struct{}, 1)
		p.start = append(p.start, c)
		go p.worker(w, c)
	}
	return p
}

func (p *pool) worker(w int, c chan struct{}) {
	for {
		select {
		case <-c:
			p.drain(w)
			p.wg.Done()
		case <-p.quit:
			return
		}
	}
}

func (p *pool) drain(w int) {
	for {
		i := int(p.next.Add(1) - 1)
		if i >= p.total {
			return
		}
		p.cur.run(w, i)
	}
}

// do runs j over chunks [0, n) on all workers and returns when all are done.
func (p *pool) do(j job, n int) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur, p.total = j, n
	p.next.Store(0)
	helpers := min(len(p.start), n-1)
	p.wg.Add(helpers)
	for _, c := range p.start[:helpers] {
		c <- struct{}{}
	}
	p.drain(0)
	p.wg.Wait()
	p.cur = nil
}

// close stops the workers.
func (p *pool) close() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
}
