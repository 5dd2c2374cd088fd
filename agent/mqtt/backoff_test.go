package mqtt

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestBackoffCeilings(t *testing.T) {
	tests := []struct {
		name         string
		initial, max time.Duration
		want         []time.Duration
	}{
		{
			name:    "doubles up to the cap",
			initial: 100 * time.Millisecond, max: time.Second,
			want: []time.Duration{100e6, 200e6, 400e6, 800e6, 1000e6, 1000e6, 1000e6},
		},
		{
			name:    "initial equals max",
			initial: time.Second, max: time.Second,
			want: []time.Duration{1e9, 1e9, 1e9},
		},
		{
			name:    "cap not a power of two multiple",
			initial: 3 * time.Second, max: 10 * time.Second,
			want: []time.Duration{3e9, 6e9, 10e9, 10e9},
		},
		{
			name:    "no overflow near the duration limit",
			initial: time.Duration(math.MaxInt64 / 3), max: time.Duration(math.MaxInt64),
			want: []time.Duration{math.MaxInt64 / 3, math.MaxInt64 / 3 * 2, math.MaxInt64, math.MaxInt64, math.MaxInt64},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fixed source makes each delay an exact fraction of its
			// ceiling.
			b := Backoff{Initial: tt.initial, Max: tt.max, Rand: func() float64 { return 0.5 }}
			for i, want := range tt.want {
				if got := b.Ceiling(); got != want {
					t.Fatalf("attempt %d: Ceiling() = %v, want %v", i, got, want)
				}
				if got, wantNext := b.Next(), time.Duration(0.5*float64(want)); got != wantNext {
					t.Fatalf("attempt %d: Next() = %v, want %v", i, got, wantNext)
				}
			}
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	b := Backoff{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	seen := make(map[time.Duration]bool)
	for i := range 2000 {
		ceiling := b.Ceiling()
		d := b.Next()
		if d < 0 || d >= ceiling {
			t.Fatalf("draw %d: Next() = %v, want in [0, %v)", i, d, ceiling)
		}
		seen[d] = true
	}
	// Full jitter spreads delays over the whole range; a constant or
	// nearly constant delay would mean the jitter is missing.
	if len(seen) < 100 {
		t.Errorf("2000 draws gave %d distinct delays, want at least 100", len(seen))
	}
}

func TestBackoffRandOutOfRange(t *testing.T) {
	for _, r := range []float64{-0.5, 1, 1.5, math.NaN()} {
		b := Backoff{Initial: time.Second, Max: time.Second, Rand: func() float64 { return r }}
		if got := b.Next(); got < 0 || got >= time.Second {
			t.Errorf("Next() with Rand = %v: %v, want in [0, 1s)", r, got)
		}
	}
}

func TestBackoffReset(t *testing.T) {
	b := Backoff{Initial: time.Millisecond, Max: time.Second, Rand: func() float64 { return 0 }}
	for range 5 {
		b.Next()
	}
	if got := b.Ceiling(); got != 32*time.Millisecond {
		t.Fatalf("Ceiling() after 5 attempts = %v, want 32ms", got)
	}
	b.Reset()
	if got := b.Ceiling(); got != time.Millisecond {
		t.Errorf("Ceiling() after Reset = %v, want 1ms", got)
	}
}

func TestBackoffWait(t *testing.T) {
	t.Run("sleeps", func(t *testing.T) {
		b := Backoff{Initial: 40 * time.Millisecond, Max: 40 * time.Millisecond, Rand: func() float64 { return 0.5 }}
		start := time.Now()
		if err := b.Wait(context.Background()); err != nil {
			t.Fatalf("Wait() = %v, want nil", err)
		}
		if el := time.Since(start); el < 20*time.Millisecond {
			t.Errorf("Wait() returned after %v, want at least 20ms", el)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		b := Backoff{Initial: time.Hour, Max: time.Hour, Rand: func() float64 { return 0.9 }}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		err := b.Wait(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait() = %v, want context.Canceled", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("Wait() took %v after cancel, want prompt return", el)
		}
	})
	t.Run("context already done with zero delay", func(t *testing.T) {
		b := Backoff{Initial: time.Second, Max: time.Second, Rand: func() float64 { return 0 }}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait() = %v, want context.Canceled", err)
		}
	})
}

func BenchmarkBackoffNext(b *testing.B) {
	b.ReportAllocs()
	bo := Backoff{Initial: time.Millisecond, Max: time.Minute}
	for b.Loop() {
		if bo.Next() >= time.Minute {
			b.Fatal("delay above cap")
		}
	}
}
