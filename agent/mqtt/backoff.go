package mqtt

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff computes delays between connection attempts: capped exponential
// growth with full jitter. The n-th delay (from 0) is drawn uniformly from
// [0, min(Max, Initial·2ⁿ)), so that many agents restarted together by a
// broker outage do not reconnect in lockstep.
//
// The zero value is not usable: Initial and Max must be positive. A
// Backoff is not safe for concurrent use.
type Backoff struct {
	// Initial is the upper bound of the first delay.
	Initial time.Duration
	// Max caps the upper bound of every delay.
	Max time.Duration
	// Rand returns a number in [0, 1). Nil means math/rand/v2.Float64.
	// Tests inject a fixed source to get exact delays.
	Rand func() float64

	attempt int
}

// Ceiling returns the upper bound for the next delay without consuming an
// attempt.
func (b *Backoff) Ceiling() time.Duration {
	c := b.Initial
	for i := 0; i < b.attempt && c < b.Max; i++ {
		c *= 2
	}
	if c > b.Max || c <= 0 {
		c = b.Max
	}
	return c
}

// Next returns the next delay and advances the sequence.
func (b *Backoff) Next() time.Duration {
	c := b.Ceiling()
	// Stop counting once the cap is reached so that the doubling loop in
	// Ceiling stays short however long the broker is away.
	if c < b.Max {
		b.attempt++
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	f := r()
	if !(f >= 0 && f < 1) { // also catches NaN
		f = 0
	}
	return time.Duration(f * float64(c))
}

// Reset starts the sequence again from Initial.
func (b *Backoff) Reset() {
	b.attempt = 0
}

// Wait sleeps for Next() or until ctx is done, in which case it returns
// ctx.Err().
func (b *Backoff) Wait(ctx context.Context) error {
	return sleep(ctx, b.Next())
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
