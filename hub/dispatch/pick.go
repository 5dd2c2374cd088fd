package dispatch

import (
	"cmp"
	"crypto/sha256"
	"math"
	"slices"
)

// PickPercent chooses ceil(percent% of devices) of devices, the same
// ones for the same seed whatever the order of the list: each device is
// ranked by SHA-256(seed, 0, id). A later rollout with a larger percent
// and the same seed takes a superset of the devices, so a fleet can be
// widened step by step (seed it with the model version).
func PickPercent(devices []string, seed string, percent float64) []string {
	n := int(math.Ceil(float64(len(devices)) * percent / 100))
	n = max(0, min(n, len(devices)))
	type ranked struct {
		id   string
		rank [32]byte
	}
	all := make([]ranked, 0, len(devices))
	for _, id := range devices {
		all = append(all, ranked{id, sha256.Sum256([]byte(seed + "\x00" + id))})
	}
	slices.SortFunc(all, func(a, b ranked) int {
		if c := slices.Compare(a.rank[:], b.rank[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]string, n)
	for i := range out {
		out[i] = all[i].id
	}
	slices.Sort(out)
	return out
}
