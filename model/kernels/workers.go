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
// park only when no job has come for workerSpin.
//
// Work is not split up front: every participant (the caller and the
// workers) claims chunks from a shared cursor until none are left, so a
// thread the OS has put aside (the camera decoder, another process) holds
// up at most one chunk, and a worker that has not even started when the
// caller runs out of chunks is called off instead of waited for.

// workerSpin is how long an idle worker polls for the next job before it
// parks: longer than the gap between two operators of one Invoke, far
// shorter than the gap between frames.
const workerSpin = 100 * time.Microsecond

type pool struct {
	workers []*worker
	job     job
	pending atomic.Int32 // workers the caller still waits for
	closed  atomic.Bool
}

// job is the work of one ParallelFor or ParallelParts call: [0, total)
// in chunks of grain, handed to lohi, or to parts with the participant's
// number (0 for the caller, i+1 for worker i) to pick its scratch.
type job struct {
	lohi         func(lo, hi int)
	parts        func(p, lo, hi int)
	total, grain int
	next         atomic.Int64
}

// Worker states: the caller sets assigned before waking a worker; the
// worker moves it to running, or the caller takes it back to idle when
// the chunks ran out first.
const (
	workerIdle int32 = iota
	workerAssigned
	workerRunning
)

// worker is one pool goroutine.
type worker struct {
	seq   atomic.Uint64 // bumped with each assignment
	state atomic.Int32
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
		go p.work(i+1, w)
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

// work joins the jobs w is assigned, as participant part, until the pool
// closes.
func (p *pool) work(part int, w *worker) {
	var seen uint64
	for p.next(w, seen) {
		seen = w.seq.Load()
		if w.state.CompareAndSwap(workerAssigned, workerRunning) {
			p.job.claim(part)
			w.state.Store(workerIdle)
			p.pending.Add(-1)
		}
	}
}

// claim runs chunks of j as participant part until none are left.
func (j *job) claim(part int) {
	for {
		lo := int(j.next.Add(int64(j.grain))) - j.grain
		if lo >= j.total {
			return
		}
		hi := min(lo+j.grain, j.total)
		if j.parts != nil {
			j.parts(part, lo, hi)
		} else {
			j.lohi(lo, hi)
		}
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
		// Let other goroutines, and other threads of this core, run: on
		// a machine with fewer free cores than threads they include the
		// ones doing the work.
		runtime.Gosched()
		osYield()
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

// chunksPerThread is how many chunks a job is cut into per participant:
// enough that a late thread does not hold the others up by much, few
// enough that each chunk still amortizes claiming it.
const chunksPerThread = 8

// ParallelFor calls fn over [0,n) in contiguous chunks spread over the
// context's threads, and waits for all. With one thread it calls fn(0, n)
// directly. Calls on one context must not overlap (the interpreter runs one
// operator at a time).
func (c *Context) ParallelFor(n int, fn func(lo, hi int)) {
	if c == nil || c.pool == nil || n < 2 {
		fn(0, n)
		return
	}
	c.run(c.Threads, n, (n+c.Threads*chunksPerThread-1)/(c.Threads*chunksPerThread), fn, nil)
}

// ParallelParts is ParallelFor for work with scratch per participant:
// parts participants (at most the context's threads; 1 runs fn(0, 0,
// total) here) claim chunks of grain (at least 1) of [0, total), and fn
// gets the participant's number in [0, parts) with each chunk.
func (c *Context) ParallelParts(parts, total, grain int, fn func(p, lo, hi int)) {
	if c == nil || c.pool == nil || parts < 2 || total <= grain {
		fn(0, 0, total)
		return
	}
	c.run(min(parts, c.Threads), total, grain, nil, fn)
}

// run hands [0, total) to participants (the caller and participants-1
// workers) and returns when it is done.
func (c *Context) run(participants, total, grain int, lohi func(lo, hi int), parts func(p, lo, hi int)) {
	p := c.pool
	j := &p.job
	j.lohi, j.parts, j.total, j.grain = lohi, parts, total, max(grain, 1)
	j.next.Store(0)
	helpers := p.workers[:min(participants-1, (total+j.grain-1)/j.grain-1, len(p.workers))]
	p.pending.Store(int32(len(helpers)))
	for _, w := range helpers {
		w.state.Store(workerAssigned)
		w.seq.Add(1)
		p.rouse(w)
	}
	j.claim(0)
	for _, w := range helpers {
		if w.state.CompareAndSwap(workerAssigned, workerIdle) {
			p.pending.Add(-1) // not started: called off
		}
	}
	for spin := 1; p.pending.Load() != 0; spin++ {
		if spin%16 == 0 {
			runtime.Gosched()
			osYield()
		}
	}
	j.lohi, j.parts = nil, nil
}
