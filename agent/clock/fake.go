package clock

import (
	"sync"
	"time"
)

// Fake is a Clock for tests whose time moves only when Advance or Set
// says so; timers and tickers fire as time passes their deadlines. It is
// safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeTimer
}

// NewFake returns a Fake reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d, fires what fell due, and returns
// the new time.
func (f *Fake) Advance(d time.Duration) time.Time {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	f.fireLocked()
	f.mu.Unlock()
	return now
}

// Set sets the clock to t, which may be earlier than its current time,
// and fires what fell due.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.fireLocked()
	f.mu.Unlock()
}

// Waiters returns the number of pending timers and tickers, so a test can
// wait until the code under test has started waiting before it advances.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// NewTimer returns a timer on the fake clock.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// NewTicker returns a ticker on the fake clock. Like time.Ticker it drops
// ticks a slow receiver misses.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	t := &fakeTimer{f: f, c: make(chan time.Time, 1), period: d}
	t.Reset(d)
	return fakeTicker{t}
}

type fakeTicker struct{ t *fakeTimer }

func (t fakeTicker) C() <-chan time.Time { return t.t.c }
func (t fakeTicker) Stop()               { t.t.Stop() }

// fireLocked sends on every waiter whose deadline has passed; f.mu is held.
func (f *Fake) fireLocked() {
	kept := f.waiters[:0]
	for _, t := range f.waiters {
		if t.when.After(f.now) {
			kept = append(kept, t)
			continue
		}
		select {
		case t.c <- f.now:
		default:
		}
		if t.period > 0 {
			for !t.when.After(f.now) {
				t.when = t.when.Add(t.period)
			}
			kept = append(kept, t)
		}
	}
	clear(f.waiters[len(kept):])
	f.waiters = kept
}

func (f *Fake) removeLocked(t *fakeTimer) bool {
	for i, w := range f.waiters {
		if w == t {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return true
		}
	}
	return false
}

type fakeTimer struct {
	f      *Fake
	c      chan time.Time
	when   time.Time
	period time.Duration // ticker interval; 0 for a timer
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	return t.f.removeLocked(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.f.removeLocked(t)
	t.when = t.f.now.Add(d)
	t.f.waiters = append(t.f.waiters, t)
	t.f.fireLocked()
	return was
}
