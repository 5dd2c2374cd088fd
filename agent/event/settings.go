package event

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidSettings is wrapped by the errors of Settings.Validate and
// ParseMode.
var ErrInvalidSettings = errors.New("event: invalid settings")

// Mode selects how observations become messages.
type Mode string

const (
	// ModeFrame treats every observation on its own: each
	// out-of-distribution observation yields one alert message. It suits
	// sources whose inputs are unrelated, such as a directory of files.
	ModeFrame Mode = "frame"
	// ModeStream groups consecutive observations of one scene into
	// events (event_start, event_update, event_end). It suits cameras.
	ModeStream Mode = "stream"
)

// ParseMode returns the mode named s ("frame" or "stream"), ignoring case
// and surrounding spaces.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeFrame, ModeStream:
		return m, nil
	}
	return "", fmt.Errorf("%w: mode %q: want frame or stream", ErrInvalidSettings, s)
}

// Settings configures a Decider. The stream fields matter only in
// ModeStream, and are checked only then.
type Settings struct {
	Mode Mode
	// K and N: an event starts at an out-of-distribution observation
	// when at least K of the last N observations, that one included,
	// are out of distribution. 1 <= K <= N.
	K, N int
	// EndAfter is the number of consecutive in-distribution observations
	// that ends an event. At least 1.
	EndAfter int
	// Timeout ends an event when no out-of-distribution observation has
	// arrived for that long; it is checked by Tick and by Observe. It
	// must be positive, so that a camera that stops sending frames does
	// not leave an event open for ever.
	Timeout time.Duration
	// UpdateInterval is the least time between two messages of an open
	// event (event_start or event_update); event_update is sent on the
	// first observation after it has passed. 0 disables event_update.
	UpdateInterval time.Duration
	// Cooldown is how long after an event_end no new event starts. 0
	// means none.
	Cooldown time.Duration
}

// Validate reports every invalid field at once, in an error wrapping
// ErrInvalidSettings.
func (s Settings) Validate() error {
	var errs []string
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	switch s.Mode {
	case ModeFrame:
	case ModeStream:
		if s.N < 1 {
			bad("n must be at least 1, got %d", s.N)
		}
		if s.K < 1 || (s.N >= 1 && s.K > s.N) {
			bad("k must be between 1 and n (%d), got %d", s.N, s.K)
		}
		if s.EndAfter < 1 {
			bad("end_after must be at least 1, got %d", s.EndAfter)
		}
		if s.Timeout <= 0 {
			bad("timeout must be positive, got %v", s.Timeout)
		}
		if s.UpdateInterval < 0 {
			bad("update_interval must not be negative, got %v", s.UpdateInterval)
		}
		if s.Cooldown < 0 {
			bad("cooldown must not be negative, got %v", s.Cooldown)
		}
	default:
		bad("mode %q: want frame or stream", s.Mode)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidSettings, strings.Join(errs, "; "))
}
