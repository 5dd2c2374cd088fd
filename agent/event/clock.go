package event

import "time"

// Clock tells the current time. The Decider uses it only where no time is
// passed in (SetSettings); everything else takes the time as an argument.
// clock.Real and clock.Fake (package agent/clock) implement it.
type Clock interface {
	Now() time.Time
}
