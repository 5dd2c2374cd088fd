package memplan

import (
	"math/rand/v2"
	"testing"
)

func TestPlace(t *testing.T) {
	tests := []struct {
		name string
		bufs []Buffer
		size int
	}{
		{"empty", nil, 0},
		{"one", []Buffer{{Size: 10, First: 0, Last: 0}}, 64},
		{"chain shares", []Buffer{{100, 0, 1}, {100, 1, 2}, {100, 2, 3}}, 256},
		{"all live", []Buffer{{64, 0, 3}, {64, 0, 3}, {64, 0, 3}}, 192},
		{"disjoint reuse", []Buffer{{640, 0, 0}, {64, 1, 1}, {128, 2, 2}}, 640},
		{"small ones share the space beside a long one", []Buffer{{256, 0, 2}, {64, 0, 0}, {128, 1, 1}, {64, 2, 2}}, 384},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Place(tt.bufs)
			if err != nil {
				t.Fatal(err)
			}
			if p.Size != tt.size {
				t.Errorf("Place size = %d, want %d", p.Size, tt.size)
			}
			checkNoOverlap(t, tt.bufs, p)
		})
	}
}

func TestPlaceRejectsBadLifetime(t *testing.T) {
	for _, b := range []Buffer{{-1, 0, 0}, {8, 2, 1}, {8, -1, 0}} {
		if _, err := Place([]Buffer{b}); err == nil {
			t.Errorf("Place(%v) succeeded, want an error", b)
		}
	}
}

// TestPlaceRandom checks the invariants on random graphs: no two buffers
// that are alive together share a byte, offsets are aligned, and the arena
// is never larger than placing everything side by side.
func TestPlaceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 500; iter++ {
		n := rng.IntN(40)
		bufs := make([]Buffer, n)
		sum := 0
		for i := range bufs {
			first := rng.IntN(30)
			bufs[i] = Buffer{Size: rng.IntN(5000), First: first, Last: first + rng.IntN(6)}
			sum += (bufs[i].Size + Align - 1) &^ (Align - 1)
		}
		p, err := Place(bufs)
		if err != nil {
			t.Fatal(err)
		}
		if p.Size > sum {
			t.Fatalf("arena %d larger than the sum of buffers %d", p.Size, sum)
		}
		checkNoOverlap(t, bufs, p)
	}
}

func checkNoOverlap(t *testing.T, bufs []Buffer, p Plan) {
	t.Helper()
	for i, a := range bufs {
		if p.Offsets[i]%Align != 0 {
			t.Fatalf("buffer %d at unaligned offset %d", i, p.Offsets[i])
		}
		if p.Offsets[i]+a.Size > p.Size {
			t.Fatalf("buffer %d ends at %d past the arena (%d)", i, p.Offsets[i]+a.Size, p.Size)
		}
		for j := i + 1; j < len(bufs); j++ {
			b := bufs[j]
			live := a.First <= b.Last && b.First <= a.Last
			bytes := p.Offsets[i] < p.Offsets[j]+b.Size && p.Offsets[j] < p.Offsets[i]+a.Size
			if live && bytes && a.Size > 0 && b.Size > 0 {
				t.Fatalf("buffers %d %+v at %d and %d %+v at %d overlap", i, a, p.Offsets[i], j, b, p.Offsets[j])
			}
		}
	}
}
