package runner

import (
	"slices"
	"sync"
	"time"
)

// window accumulates per-frame measurements between two stats reports.
// Samples beyond capacity are kept by reservoir replacement so memory stays
// bounded at any frame rate.
type window struct {
	mu        sync.Mutex
	start     time.Time
	frames    int
	ood       int
	latencies []float64 // milliseconds
	energies  []float64
	seen      int
	capacity  int
	rng       uint64
}

func newWindow(now time.Time, capacity int) *window {
	return &window{start: now, capacity: capacity, rng: 0x9e3779b97f4a7c15,
		latencies: make([]float64, 0, capacity), energies: make([]float64, 0, capacity)}
}

func (w *window) add(latencyMS, energy float64, isOOD bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.frames++
	if isOOD {
		w.ood++
	}
	w.seen++
	if len(w.latencies) < w.capacity {
		w.latencies = append(w.latencies, latencyMS)
		w.energies = append(w.energies, energy)
		return
	}
	// xorshift: cheap, allocation-free randomness for the reservoir.
	w.rng ^= w.rng << 13
	w.rng ^= w.rng >> 7
	w.rng ^= w.rng << 17
	if j := int(w.rng % uint64(w.seen)); j < w.capacity {
		w.latencies[j] = latencyMS
		w.energies[j] = energy
	}
}

// summary is one report's worth of measurements.
type summary struct {
	Start, End    time.Time
	Frames, OOD   int
	Latency       [3]float64 // p50, p90, p99 ms
	Energy        [3]float64 // p05, p50, p95
	HaveQuantiles bool
}

// take returns the summary and starts a new window at now.
func (w *window) take(now time.Time) summary {
	w.mu.Lock()
	s := summary{Start: w.start, End: now, Frames: w.frames, OOD: w.ood}
	lat := slices.Clone(w.latencies)
	en := slices.Clone(w.energies)
	w.start, w.frames, w.ood, w.seen = now, 0, 0, 0
	w.latencies, w.energies = w.latencies[:0], w.energies[:0]
	w.mu.Unlock()
	if len(lat) > 0 {
		slices.Sort(lat)
		slices.Sort(en)
		s.Latency = [3]float64{quantile(lat, 0.5), quantile(lat, 0.9), quantile(lat, 0.99)}
		s.Energy = [3]float64{quantile(en, 0.05), quantile(en, 0.5), quantile(en, 0.95)}
		s.HaveQuantiles = true
	}
	return s
}

// quantile of sorted values, nearest rank.
func quantile(sorted []float64, q float64) float64 {
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}
