package kernels

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelForCoversEveryIndexOnce runs jobs back to back (workers
// spinning) and after pauses (workers parked), for sizes around the
// thread count, and checks each index runs exactly once per job.
func TestParallelForCoversEveryIndexOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 5} {
		c := NewContext(threads)
		for round := 0; round < 300; round++ {
			n := round%9 + 1
			if round%7 == 0 {
				n = 1000 + round
			}
			counts := make([]atomic.Int32, n)
			c.ParallelFor(n, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					counts[i].Add(1)
				}
			})
			for i := range counts {
				if got := counts[i].Load(); got != 1 {
					t.Fatalf("threads=%d n=%d: index %d ran %d times", threads, n, i, got)
				}
			}
			if round%50 == 0 {
				time.Sleep(2 * workerSpin) // let the workers park
			}
		}
		c.Close()
	}
}

// TestParallelForUsesTheWorkers checks that a job's chunks do run on
// other goroutines (the pool is not silently serial).
func TestParallelForUsesTheWorkers(t *testing.T) {
	c := NewContext(2)
	defer c.Close()
	var other atomic.Bool
	started := make(chan struct{})
	c.ParallelFor(2, func(lo, hi int) {
		if lo == 0 {
			// Chunk 0 runs here; wait until chunk 1 has started
			// elsewhere, which it cannot if the pool ran serially.
			select {
			case <-started:
			case <-time.After(10 * time.Second):
			}
			return
		}
		other.Store(true)
		close(started)
	})
	if !other.Load() {
		t.Fatal("chunk 1 did not run while chunk 0 waited")
	}
}

// TestCloseStopsWorkers checks that Close ends the worker goroutines,
// parked or spinning.
func TestCloseStopsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, park := range []bool{false, true} {
		c := NewContext(4)
		c.ParallelFor(8, func(lo, hi int) {})
		if park {
			time.Sleep(2 * workerSpin)
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// BenchmarkParallelFor is the cost of handing out one job of two chunks
// that do nothing: back to back, and after the workers have parked.
func BenchmarkParallelFor(b *testing.B) {
	c := NewContext(2)
	defer c.Close()
	fn := func(lo, hi int) {}
	b.Run("hot", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c.ParallelFor(2, fn)
		}
	})
	b.Run("parked", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			time.Sleep(2 * workerSpin)
			b.StartTimer()
			c.ParallelFor(2, fn)
		}
	})
}

// TestParallelPartsGivesEachParticipantItsOwnPart checks that every row
// runs once and that no part number runs on two goroutines at a time.
func TestParallelPartsGivesEachParticipantItsOwnPart(t *testing.T) {
	c := NewContext(3)
	defer c.Close()
	for _, total := range []int{1, 2, 7, 64, 1001} {
		for _, parts := range []int{1, 2, 3} {
			counts := make([]atomic.Int32, total)
			busy := make([]atomic.Bool, parts)
			c.ParallelParts(parts, total, 3, func(p, lo, hi int) {
				if p < 0 || p >= parts {
					t.Errorf("part %d of %d", p, parts)
					return
				}
				if !busy[p].CompareAndSwap(false, true) {
					t.Errorf("part %d ran on two goroutines at once", p)
				}
				for i := lo; i < hi; i++ {
					counts[i].Add(1)
				}
				busy[p].Store(false)
			})
			for i := range counts {
				if got := counts[i].Load(); got != 1 {
					t.Fatalf("total=%d parts=%d: row %d ran %d times", total, parts, i, got)
				}
			}
		}
	}
}
