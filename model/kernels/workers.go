package kernels

import (
	"runtime"
	"sync/atomic"
	"time"
)

// The worker pool behind Context.ParallelFor. An Invoke of a camera-size
// model hands the pool a hundred or more jobs of 20–200 µs each, one after
// another. Parked goroutines take tens of microseconds to wake (a futex
// round trip, more inside a VM), which ate all of a second thread's gain
// when the pool handed tasks over a channel. So workers spin on the job
// slot for a while after each job, as XNNPACK's pthreadpool does, and
// park only when no job has come for workerSpin; the caller runs the first
// chunk itself and spins (yielding) until the others are done.

// workerSpin is how long an idle worker polls for the next job before it
// parks: longer than the gap between two operators of one Invoke, far
// shorter than the gap between frames.
const workerSpin = 200 * time.Microsecond

type pool struct {
	workers []*worker
	pending atomic.Int32 // chunks of the current job still running
	closed  atomic.Bool
}

// worker is one pool goroutine and its slot: ParallelFor writes fn, lo
// and hi while the worker is idle, then bumps seq.
type worker struct {
	seq    atomic.Uint64
	fn     func(lo, hi int)
	lo, hi int
	// sleeping is set while the worker is parked, or about to park, on
	// wake; whoever clears it owes the worker one token on wake.
	sleeping atomic.Bool
	wake     chan struct{}
}

func newPool(workers int) *pool {
	p := &pool{workers: make([]*worker, workers)}
	for i := range p.workers {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers[i] = w
		go p.work(w)
	}
	return p
}

// close stops the workers.
func (p *pool) close() {
	p.closed.Store(true)
	for _, w := range p.workers {
		p.rouse(w)
	}
}

// rouse wakes w if it is parked.
func (p *pool) rouse(w *worker) {
	if w.sleeping.CompareAndSwap(true, false) {
		w.wake <- struct{}{}
	}
}

// work runs the chunks handed to w until the pool closes.
func (p *pool) work(w *worker) {
	var seen uint64
	for p.next(w, seen) {
		seen = w.seq.Load()
		w.fn(w.lo, w.hi)
		w.fn = nil // let the closure go
		p.pending.Add(-1)
	}
}

// next waits for w's job after seen, and reports false when the pool
// closes instead.
func (p *pool) next(w *worker, seen uint64) bool {
	deadline := time.Now().Add(workerSpin)
	for spin := 1; ; spin++ {
		if p.closed.Load() {
			return false
		}
		if w.seq.Load() != seen {
			return true
		}
		if spin%64 != 0 {
			continue
		}
		// Let other goroutines of this P run; on a machine with fewer
		// cores than threads they include the ones doing the work.
		runtime.Gosched()
		if spin%1024 != 0 || time.Now().Before(deadline) {
			continue
		}
		w.sleeping.Store(true)
		if w.seq.Load() != seen || p.closed.Load() {
			// Something came in between: take back the flag, or the
			// token of whoever took it first.
			if !w.sleeping.CompareAndSwap(true, false) {
				<-w.wake
			}
		} else {
			<-w.wake
		}
		deadline = time.Now().Add(workerSpin)
	}
}

// ParallelFor splits [0,n) into at most Threads contiguous chunks and calls fn
// for each, waiting for all. With one thread it calls fn(0, n) directly.
// Chunk 0 runs on the calling goroutine. Calls on one context must not
// overlap (the interpreter runs one operator at a time).
func (c *Context) ParallelFor(n int, fn func(lo, hi int)) {
	if c == nil || c.pool == nil || n < 2 {
		fn(0, n)
		return
	}
	p := c.pool
	parts := min(c.Threads, n)
	chunk := (n + parts - 1) / parts
	others := (n+chunk-1)/chunk - 1
	p.pending.Store(int32(others))
	for i, w := range p.workers[:others] {
		w.fn, w.lo, w.hi = fn, (i+1)*chunk, min((i+2)*chunk, n)
		w.seq.Add(1)
		p.rouse(w)
	}
	fn(0, chunk)
	for spin := 1; p.pending.Load() != 0; spin++ {
		if spin%16 == 0 {
			runtime.Gosched()
		}
	}
}
