package llama

import (
	"sync/atomic"
	"testing"
)

// countJob counts its chunks and panics on chunk bad (if >= 0).
type countJob struct {
	bad  int
	runs atomic.Int64
}

func (j *countJob) run(_, chunk int) {
	j.runs.Add(1)
	if chunk == j.bad {
		panic("chunk failed")
	}
}

// A panicking chunk, on a helper or on the caller, reaches the caller of do as a *WorkerPanic
// once every helper is idle; the process lives and the pool runs the next step whole.
func TestPoolRecoversPanics(t *testing.T) {
	p := newPool(4)
	defer p.close()
	for _, bad := range []int{0, 1, 7, 999} {
		j := &countJob{bad: bad}
		got := func() (wp *WorkerPanic) {
			defer func() {
				if v := recover(); v != nil {
					var ok bool
					if wp, ok = v.(*WorkerPanic); !ok {
						t.Fatalf("do panicked with %T %v, want *WorkerPanic", v, v)
					}
				}
			}()
			p.do(j, 1000)
			return nil
		}()
		if got == nil || got.Value != "chunk failed" || len(got.Stack) == 0 {
			t.Fatalf("chunk %d panicked: do raised %v", bad, got)
		}
		if p.inflight.Load() != 0 {
			t.Fatalf("do returned with %d helpers still running", p.inflight.Load())
		}
		ok := &countJob{bad: -1}
		p.do(ok, 1000)
		if n := ok.runs.Load(); n != 1000 {
			t.Fatalf("after a panic the next step ran %d of 1000 chunks", n)
		}
	}
}
