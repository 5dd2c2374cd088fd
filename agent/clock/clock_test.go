package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

var epoch = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func fired(c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestFakeTimer(t *testing.T) {
	f := NewFake(epoch)
	tm := f.NewTimer(time.Second)
	f.Advance(999 * time.Millisecond)
	if fired(tm.C()) {
		t.Fatal("timer fired early")
	}
	f.Advance(time.Millisecond)
	if !fired(tm.C()) {
		t.Fatal("timer did not fire at its deadline")
	}
	if tm.Stop() {
		t.Error("Stop of a fired timer reported it pending")
	}
	tm.Reset(time.Second)
	if !tm.Stop() {
		t.Error("Stop of a reset timer reported it not pending")
	}
	f.Advance(time.Hour)
	if fired(tm.C()) {
		t.Error("stopped timer fired")
	}
	if n := f.Waiters(); n != 0 {
		t.Errorf("%d waiters left", n)
	}
}

func TestFakeTicker(t *testing.T) {
	f := NewFake(epoch)
	tk := f.NewTicker(time.Second)
	defer tk.Stop()
	for i := range 3 {
		f.Advance(time.Second)
		if !fired(tk.C()) {
			t.Fatalf("tick %d missing", i)
		}
	}
	// A receiver that misses ticks gets one, like time.Ticker.
	f.Advance(5 * time.Second)
	if !fired(tk.C()) || fired(tk.C()) {
		t.Error("want exactly one pending tick after a long advance")
	}
}

func TestSleep(t *testing.T) {
	f := NewFake(epoch)
	done := make(chan error, 1)
	go func() { done <- Sleep(context.Background(), f, time.Minute) }()
	for f.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("Sleep = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, f, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep with a done context = %v", err)
	}
	if err := Sleep(context.Background(), Real{}, time.Millisecond); err != nil {
		t.Fatalf("real Sleep = %v", err)
	}
}
