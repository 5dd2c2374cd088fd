package metrics

import (
	"strings"
	"testing"
)

func TestExposition(t *testing.T) {
	r := New()
	c := r.Counter("ood_agent_frames_total", "Frames processed.")
	c.Add(3)
	r.GaugeFunc("ood_agent_outbox_depth", "Messages waiting.", func() float64 { return 7 })
	h := r.Histogram("ood_agent_inference_seconds", "Inference latency.", []float64{0.001, 0.01})
	h.Observe(0.0005)
	h.Observe(0.005)
	h.Observe(1)
	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"# TYPE ood_agent_frames_total counter\nood_agent_frames_total 3\n",
		"ood_agent_outbox_depth 7\n",
		"ood_agent_inference_seconds_bucket{le=\"0.001\"} 1\n",
		"ood_agent_inference_seconds_bucket{le=\"0.01\"} 2\n",
		"ood_agent_inference_seconds_bucket{le=\"+Inf\"} 3\n",
		"ood_agent_inference_seconds_count 3\n",
		"ood_agent_inference_seconds_sum 1.0055\n",
	}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("exposition lacks %q:\n%s", w, b.String())
		}
	}
	if i, j := strings.Index(b.String(), "frames_total"), strings.Index(b.String(), "outbox_depth"); i > j {
		t.Errorf("metrics not sorted by name")
	}
}
