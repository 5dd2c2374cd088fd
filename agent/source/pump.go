package source

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/ood-agent/ood-agent/agent/clock"
)

// PumpOptions configures a Pump.
type PumpOptions struct {
	// FPS is the maximum rate of frames delivered; 0 is unlimited. Frames
	// of a live source arriving faster are dropped; a non-live source is
	// read more slowly.
	FPS float64
	// Queue is the capacity of the frame channel. Less than 1 means 1.
	Queue int
	// Clock is for tests; nil means the system clock.
	Clock clock.Clock
}

// Stats are a Pump's counts.
type Stats struct {
	// Frames counts frames read from the source, including the dropped
	// ones: those delivered are Frames − Dropped, less any still queued.
	Frames uint64
	// Dropped counts frames of a live source discarded by the rate limit
	// or because the queue was full.
	Dropped uint64
	// Errors counts the errors the source recovered from (see Counter),
	// plus one if it failed.
	Errors uint64
	// Skipped counts the inputs the source skipped (see Counter).
	Skipped uint64
}

// A Pump reads a source in its own goroutine and delivers the frames on a
// bounded channel.
//
// When the channel is full, a live source's oldest queued frame is dropped
// (and released) to make room, so that the consumer always gets the most
// recent frames; a non-live source waits. The channel is closed when the
// source ends (io.EOF), fails, is closed, or the context given to
// StartPump is done. The Pump does not close the source.
//
// Frames the pump drops are released (see Frame.Release); consumers should
// release the frames they receive once done with them.
type Pump struct {
	src    Source
	live   bool
	every  time.Duration // minimum time between frames; 0 is unlimited
	clock  clock.Clock
	frames chan Frame
	done   chan struct{}
	err    error // written before done is closed

	read    atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
}

// StartPump starts reading src and returns the Pump delivering its frames.
func StartPump(ctx context.Context, src Source, opts PumpOptions) *Pump {
	p := &Pump{
		src:    src,
		live:   src.Live(),
		frames: make(chan Frame, max(opts.Queue, 1)),
		done:   make(chan struct{}),
		clock:  clock.OrReal(opts.Clock),
	}
	if opts.FPS > 0 {
		p.every = time.Duration(float64(time.Second) / opts.FPS)
	}
	go p.run(ctx)
	return p
}

// Frames returns the channel the frames are delivered on.
func (p *Pump) Frames() <-chan Frame { return p.frames }

// Done returns a channel closed once the pump has stopped reading the
// source, just before Frames is closed.
func (p *Pump) Done() <-chan struct{} { return p.done }

// Err returns why the source failed, once Frames (or Done) is closed. It
// is nil when the source ended with io.EOF, was closed, or the context was
// done, and while the pump is running.
func (p *Pump) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Stats returns the current counts.
func (p *Pump) Stats() Stats {
	s := Stats{Frames: p.read.Load(), Dropped: p.dropped.Load(), Errors: p.failed.Load()}
	if c, ok := p.src.(Counter); ok {
		n := c.Counts()
		s.Errors += n.Errors
		s.Skipped = n.Skipped
	}
	return s
}

func (p *Pump) run(ctx context.Context) {
	defer func() {
		// Done first: once a consumer sees Frames closed, Err is final.
		close(p.done)
		close(p.frames)
	}()
	var (
		next  time.Time // earliest time for the next frame
		timer clock.Timer
	)
	for {
		f, err := p.src.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
				p.err = err
				p.failed.Add(1)
			}
			return
		}
		p.read.Add(1)
		if p.every > 0 {
			now := p.clock.Now()
			if wait := next.Sub(now); wait > 0 {
				if p.live {
					f.Release()
					p.dropped.Add(1)
					continue
				}
				if timer == nil {
					timer = p.clock.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					timer.Stop()
					f.Release()
					return
				case now = <-timer.C():
				}
			}
			// Keep to the schedule, so that frames arriving with jitter
			// around the rate are not dropped, but do not catch up after
			// a pause with a burst.
			if next = next.Add(p.every); !next.After(now) {
				next = now.Add(p.every)
			}
		}
		if !p.deliver(ctx, f) {
			return
		}
	}
}

// deliver queues f, making room by dropping the oldest frame for a live
// source and waiting for room otherwise. It reports false if ctx ended
// the wait.
func (p *Pump) deliver(ctx context.Context, f Frame) bool {
	for {
		select {
		case p.frames <- f:
			return true
		default:
		}
		if !p.live {
			select {
			case p.frames <- f:
				return true
			case <-ctx.Done():
				f.Release()
				return false
			}
		}
		select {
		case old := <-p.frames:
			old.Release()
			p.dropped.Add(1)
		default:
			// The consumer took one meanwhile.
		}
	}
}
