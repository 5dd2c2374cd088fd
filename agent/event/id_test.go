package event

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/clock"
)

func TestIDsUniqueAndIncreasing(t *testing.T) {
	tests := []struct {
		name string
		next func(i int) time.Time // the time passed to NewAt for the i-th id
	}{
		{"same millisecond", func(int) time.Time { return t0 }},
		{"microsecond steps", func(i int) time.Time { return t0.Add(time.Duration(i) * time.Microsecond) }},
		{"clock going back", func(i int) time.Time { return t0.Add(-time.Duration(i) * time.Millisecond) }},
		{"jumping clock", func(i int) time.Time { return t0.Add(time.Duration(i%97-48) * time.Second) }},
	}
	const n = 100_000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewIDGenerator(nil)
			seen := make(map[string]struct{}, n)
			prev := ""
			for i := range n {
				id := g.NewAt(tt.next(i))
				if _, dup := seen[id]; dup {
					t.Fatalf("id %d: %s made twice", i, id)
				}
				seen[id] = struct{}{}
				if id <= prev {
					t.Fatalf("id %d: %s not after %s", i, id, prev)
				}
				prev = id
			}
		})
	}
}

func TestIDTime(t *testing.T) {
	g := NewIDGenerator(clock.NewFake(t0))
	tests := []struct {
		name string
		at   time.Time
	}{
		{"epoch", time.UnixMilli(0)},
		{"now", t0.Add(123456 * time.Microsecond)},
		{"far future", time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := NewIDGenerator(nil).NewAt(tt.at)
			got, err := IDTime(id)
			want := tt.at.Truncate(time.Millisecond).UTC()
			if err != nil || !got.Equal(want) {
				t.Errorf("IDTime(%s) = %v, %v, want %v", id, got, err, want)
			}
		})
	}
	if got, err := IDTime(g.New()); err != nil || !got.Equal(t0) {
		t.Errorf("IDTime(New()) = %v, %v, want the clock's %v", got, err, t0)
	}
}

func TestIDTimeRejects(t *testing.T) {
	good := NewIDGenerator(nil).NewAt(t0)
	tests := []string{
		"",
		good[:35],
		good + "0",
		strings.ToUpper(good),
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8",  // version 1
		"0195940a-6f68-7000-c000-000000000000",  // wrong variant
		"0195940a-6f68-7000-8000_000000000000",  // bad separator
		"0195940a-6f68-7000-8000-00000000000g",  // not hex
		"0195940a6f687000800000000000000000000", // no dashes
	}
	for _, in := range tests {
		if _, err := IDTime(in); !errors.Is(err, ErrInvalidID) {
			t.Errorf("IDTime(%q) error = %v, want ErrInvalidID", in, err)
		}
	}
}

func TestIDGeneratorsDiffer(t *testing.T) {
	// Two runs of one device whose clocks read the same: no shared ids.
	a, b := NewIDGenerator(nil), NewIDGenerator(nil)
	seen := map[string]bool{}
	for range 10_000 {
		seen[a.NewAt(t0)] = true
	}
	for range 10_000 {
		if id := b.NewAt(t0); seen[id] {
			t.Fatalf("second generator made %s, which the first made too", id)
		}
	}
}

func TestIDGeneratorConcurrent(t *testing.T) {
	g := NewIDGenerator(nil)
	const workers, each = 4, 5000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ids[w] = append(ids[w], g.New())
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for w, list := range ids {
		for i, id := range list {
			if seen[id] {
				t.Fatalf("id %s made twice", id)
			}
			seen[id] = true
			if i > 0 && id <= list[i-1] {
				t.Errorf("worker %d: id %s not after %s", w, id, list[i-1])
			}
		}
	}
}

func FuzzIDTime(f *testing.F) {
	f.Add(NewIDGenerator(nil).NewAt(t0))
	f.Add("00000000-0000-7000-8000-000000000000")
	f.Add("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := IDTime(s)
		if err != nil {
			return
		}
		// Whatever parses is a canonical v7 id: the time goes back in
		// unchanged.
		id := NewIDGenerator(nil).NewAt(tm)
		if id[:13] != s[:13] {
			t.Errorf("IDTime(%q) = %v, which stamps as %s", s, tm, id)
		}
	})
}

func BenchmarkNewID(b *testing.B) {
	g := NewIDGenerator(nil)
	b.ReportAllocs()
	for b.Loop() {
		g.New()
	}
}

func TestDeriveID(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 15, 0, 0, 123e6, time.UTC)
	a := DeriveID(t0, "dev\x00alert\x00dir:/in/a.png")
	if b := DeriveID(t0, "dev\x00alert\x00dir:/in/a.png"); a != b {
		t.Errorf("same input, different ids %s and %s", a, b)
	}
	for _, other := range []string{
		DeriveID(t0, "dev\x00alert\x00dir:/in/b.png"),
		DeriveID(t0, "dev2\x00alert\x00dir:/in/a.png"),
		DeriveID(t0.Add(time.Millisecond), "dev\x00alert\x00dir:/in/a.png"),
	} {
		if other == a {
			t.Errorf("different inputs share id %s", a)
		}
	}
	got, err := IDTime(a)
	if err != nil {
		t.Fatalf("derived id %s does not parse: %v", a, err)
	}
	if !got.Equal(t0) {
		t.Errorf("derived id time = %v, want %v", got, t0)
	}
	if later := DeriveID(t0.Add(time.Millisecond), "x"); later <= a {
		t.Errorf("id of a later time %s does not sort after %s", later, a)
	}
}
