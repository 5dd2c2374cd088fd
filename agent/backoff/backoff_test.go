package backoff

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/clock"
)

func TestDelays(t *testing.T) {
	for _, tc := range []struct {
		name string
		rand float64
		want []time.Duration
	}{
		{"lowest", 0, []time.Duration{50, 100, 200, 400, 500, 500}},
		{"highest", 0.999999999, []time.Duration{100, 200, 400, 800, 1000, 1000}},
		{"nan is lowest", -1, []time.Duration{50, 100, 200, 400, 500, 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return tc.rand }}
			for i, w := range tc.want {
				w *= time.Millisecond
				got := b.Next().Round(time.Millisecond)
				if got != w {
					t.Errorf("delay %d = %v, want %v", i, got, w)
				}
			}
			b.Reset()
			if c := b.Ceiling(); c != 100*time.Millisecond {
				t.Errorf("ceiling after Reset = %v", c)
			}
		})
	}
}

func TestDelaysStayBelowMax(t *testing.T) {
	b := Backoff{Initial: time.Millisecond, Max: 3 * time.Millisecond}
	for i := range 1000 {
		if d := b.Next(); d < 0 || d >= 3*time.Millisecond {
			t.Fatalf("delay %d = %v, want in [0, 3ms)", i, d)
		}
	}
	// Max below Initial: Initial is the cap.
	b = Backoff{Initial: time.Second, Max: time.Millisecond}
	if d := b.Next(); d < 500*time.Millisecond || d >= time.Second {
		t.Fatalf("delay = %v with Max below Initial", d)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	f := clock.NewFake(time.Unix(0, 0))
	b := Backoff{Initial: time.Hour, Max: time.Hour, Clock: f}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := b.Wait(ctx); done <- err }()
	for f.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	go func() { _, err := b.Wait(context.Background()); done <- err }()
	for f.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.Advance(time.Hour)
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v", err)
	}
}
