package runner

import "testing"

// TestGCPercent: the heap may grow by the headroom between collections,
// within the percentage bounds.
func TestGCPercent(t *testing.T) {
	for _, live := range []uint64{0, 1 << 20, 3 << 20, 10 << 20, 30 << 20, 100 << 20, 1 << 30} {
		p := gcPercent(live)
		// In range, the growth falls short of the headroom by less than the
		// whole percent of live that the integer GOGC drops.
		switch growth := live * uint64(p) / 100; {
		case p < gcMinPercent || p > gcMaxPercent:
			t.Errorf("live %d: GOGC %d out of [%d, %d]", live, p, gcMinPercent, gcMaxPercent)
		case p > gcMinPercent && p < gcMaxPercent && (growth > gcHeadroom || growth+live/100 < gcHeadroom):
			t.Errorf("live %d: GOGC %d grows the heap by %d, want about %d", live, p, growth, gcHeadroom)
		case p == gcMaxPercent && growth > gcHeadroom, p == gcMinPercent && growth < gcHeadroom:
			t.Errorf("live %d: GOGC %d clamped the wrong way (growth %d)", live, p, growth)
		}
	}
}
