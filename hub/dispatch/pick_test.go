package dispatch

import (
	"fmt"
	"slices"
	"testing"
)

func TestPickPercent(t *testing.T) {
	var fleet []string
	for i := range 40 {
		fleet = append(fleet, fmt.Sprintf("cam-%02d", i))
	}
	reversed := slices.Clone(fleet)
	slices.Reverse(reversed)
	for _, tt := range []struct {
		percent float64
		want    int
	}{{0, 0}, {1, 1}, {10, 4}, {25, 10}, {26, 11}, {100, 40}, {150, 40}, {-5, 0}} {
		got := PickPercent(fleet, "v2", tt.percent)
		if len(got) != tt.want {
			t.Errorf("%v%% of 40 = %d devices, want %d", tt.percent, len(got), tt.want)
		}
		if again := PickPercent(reversed, "v2", tt.percent); !slices.Equal(got, again) {
			t.Errorf("%v%%: the pick depends on the list order: %v vs %v", tt.percent, got, again)
		}
	}
	small, large := PickPercent(fleet, "v2", 10), PickPercent(fleet, "v2", 50)
	for _, id := range small {
		if !slices.Contains(large, id) {
			t.Errorf("widening to 50%% dropped %s", id)
		}
	}
	if other := PickPercent(fleet, "v3", 50); slices.Equal(other, large) {
		t.Error("another seed picked the same half of the fleet")
	}
	if first := PickPercent(fleet, "v2", 50); slices.Equal(first, fleet[:20]) {
		t.Error("the pick is the first half of the list, not a spread")
	}
}

// BenchmarkPickPercent: a percentage rollout over a large fleet.
func BenchmarkPickPercent(b *testing.B) {
	fleet := make([]string, 10000)
	for i := range fleet {
		fleet[i] = fmt.Sprintf("cam-%05d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		PickPercent(fleet, "v2", 10)
	}
}
