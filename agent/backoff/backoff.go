package backoff

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/ood-agent/ood-agent/agent/clock"
)

// Backoff computes delays between attempts. The n-th delay (from 0) is
// drawn uniformly from [c/2, c) where c = min(Max, Initial·2ⁿ): half the
// delay is fixed, so retries never collapse into a busy loop, and the
// random half keeps many agents restarted by one outage from retrying in
// lockstep. Every delay is below Max.
//
// A Backoff is not safe for concurrent use.
type Backoff struct {
	// Initial bounds the first delay; Max bounds every delay. Both must
	// be positive; Max below Initial is raised to Initial.
	Initial, Max time.Duration
	// Rand returns a number in [0, 1); nil means math/rand/v2.Float64.
	// Tests inject it to get exact delays.
	Rand func() float64
	// Clock waits in Wait; nil means the system clock.
	Clock clock.Clock

	attempt int
}

// Ceiling returns the upper bound of the next delay without consuming an
// attempt.
func (b *Backoff) Ceiling() time.Duration {
	maxd := max(b.Max, b.Initial)
	c := b.Initial
	for i := 0; i < b.attempt && c < maxd; i++ {
		c *= 2
	}
	if c > maxd || c <= 0 {
		c = maxd
	}
	return c
}

// Next returns the next delay and advances the sequence.
func (b *Backoff) Next() time.Duration {
	c := b.Ceiling()
	// Stop counting at the cap so the doubling in Ceiling stays short
	// however long the outage lasts.
	if c < max(b.Max, b.Initial) {
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
	return c/2 + time.Duration(f*float64(c-c/2))
}

// Reset starts the sequence again from Initial, after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Wait sleeps for Next() or until ctx is done, in which case it returns
// ctx.Err(); it returns the delay it chose.
func (b *Backoff) Wait(ctx context.Context) (time.Duration, error) {
	d := b.Next()
	return d, clock.Sleep(ctx, b.Clock, d)
}
