package source

import (
	"math/rand/v2"
	"time"
)

// backoff computes capped exponential delays with "equal jitter": the n-th
// delay (from 0) is drawn from [c/2, c) where c = min(max, min·2ⁿ). Half
// the delay is fixed so that retries never collapse to a busy loop; the
// random half keeps many agents from retrying in lockstep.
type backoff struct {
	min, max time.Duration
	rand     func() float64 // in [0, 1); nil means math/rand/v2
	n        int
}

func (b *backoff) next() time.Duration {
	c := b.min
	for range b.n {
		if c >= b.max/2 {
			c = b.max
			break
		}
		c *= 2
	}
	c = min(c, b.max)
	b.n++
	r := rand.Float64
	if b.rand != nil {
		r = b.rand
	}
	return c/2 + time.Duration(r()*float64(c/2))
}

func (b *backoff) reset() { b.n = 0 }
