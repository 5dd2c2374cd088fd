package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds named metrics. Metrics are registered once at start-up and
// then updated lock-free.
type Registry struct {
	mu      sync.Mutex
	metrics []metric
}

type metric interface {
	name() string
	write(w io.Writer) error
}

// New returns an empty registry.
func New() *Registry { return &Registry{} }

func (r *Registry) add(m metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics = append(r.metrics, m)
}

// WriteTo writes every metric in the text exposition format, sorted by name.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	ms := append([]metric(nil), r.metrics...)
	r.mu.Unlock()
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].name() < ms[j].name() })
	cw := &countingWriter{w: w}
	for _, m := range ms {
		if err := m.write(cw); err != nil {
			return cw.n, err
		}
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Counter is a monotonically increasing count.
type Counter struct {
	n    string
	help string
	v    atomic.Uint64
}

// Counter registers a counter.
func (r *Registry) Counter(name, help string) *Counter {
	c := &Counter{n: name, help: help}
	r.add(c)
	return c
}

// Add increases the counter by d.
func (c *Counter) Add(d uint64) { c.v.Add(d) }

// Inc increases the counter by one.
func (c *Counter) Inc() { c.v.Add(1) }

// Value returns the current count.
func (c *Counter) Value() uint64 { return c.v.Load() }

func (c *Counter) name() string { return c.n }
func (c *Counter) write(w io.Writer) error {
	_, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.n, escapeHelp(c.help), c.n, c.n, c.v.Load())
	return err
}

// GaugeFunc reports a value computed at scrape time.
type GaugeFunc struct {
	n, help string
	fn      func() float64
}

// GaugeFunc registers a gauge whose value fn computes.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	r.add(&GaugeFunc{n: name, help: help, fn: fn})
}

func (g *GaugeFunc) name() string { return g.n }
func (g *GaugeFunc) write(w io.Writer) error {
	_, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", g.n, escapeHelp(g.help), g.n, g.n, formatFloat(g.fn()))
	return err
}

// Histogram counts observations into fixed cumulative buckets.
type Histogram struct {
	n, help string
	bounds  []float64
	counts  []atomic.Uint64 // one per bound, plus +Inf
	sumBits atomic.Uint64
	count   atomic.Uint64
}

// Histogram registers a histogram with the given upper bounds (ascending).
func (r *Registry) Histogram(name, help string, bounds []float64) *Histogram {
	h := &Histogram{n: name, help: help, bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
	r.add(h)
	return h
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.counts[i].Add(1)
	h.count.Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (h *Histogram) name() string { return h.n }
func (h *Histogram) write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s histogram\n", h.n, escapeHelp(h.help), h.n)
	var cum uint64
	for i, bound := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(&b, "%s_bucket{le=\"%s\"} %d\n", h.n, formatFloat(bound), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(&b, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", h.n, cum, h.n,
		formatFloat(math.Float64frombits(h.sumBits.Load())), h.n, h.count.Load())
	_, err := io.WriteString(w, b.String())
	return err
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return fmt.Sprintf("%g", v)
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
