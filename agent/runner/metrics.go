package runner

import (
	"io"

	vm "github.com/VictoriaMetrics/metrics"
)

// metrics are the agent's counts, exposed on /metrics in the Prometheus
// text format together with the Go runtime's and the process's (memory,
// GC, goroutines, CPU, file descriptors).
//
// They go through VictoriaMetrics/metrics rather than
// prometheus/client_golang: the latter links protobuf and grew the agent's
// binary by 4.9 MB (14.3 → 19.2 MB), past its 16 MB budget; this library
// adds a few hundred kB and writes the same exposition format.
type metrics struct {
	set          *vm.Set
	frames       *vm.Counter
	oodFrames    *vm.Counter
	skipped      *vm.Counter
	pausedFrames *vm.Counter
	alerts       *vm.Counter
	sent         *vm.Counter
	latency      *vm.PrometheusHistogram
	energy       *vm.PrometheusHistogram

	lastReport struct{ dropped, skipped, obDropped, alerts uint64 } // touched by the ticker only
}

func (a *Agent) initMetrics() {
	// TYPE and HELP lines are a process-wide switch of the library; the
	// agent is its only user.
	vm.ExposeMetadata(true)
	s := vm.NewSet()
	a.set = s
	a.frames = s.NewCounter("ood_agent_frames_total")                      // frames classified
	a.oodFrames = s.NewCounter("ood_agent_ood_frames_total")               // frames classified out of distribution
	a.skipped = s.NewCounter("ood_agent_frames_skipped_total")             // frames not decoded or classified
	a.pausedFrames = s.NewCounter("ood_agent_frames_paused_total")         // frames read but not analysed while paused
	a.alerts = s.NewCounter("ood_agent_alerts_total")                      // alert and event_start messages queued
	a.sent = s.NewCounter("ood_agent_messages_published_total")            // messages the broker acknowledged
	a.latency = s.NewPrometheusHistogramExt("ood_agent_inference_seconds", // preprocessing and inference per frame
		[]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1})
	a.energy = s.NewPrometheusHistogramExt("ood_agent_energy", // E(x) of classified frames
		[]float64{-30, -25, -20, -15, -12, -10, -8, -6, -4, -2, 0, 2})
	s.NewGauge("ood_agent_outbox_depth", func() float64 { return float64(a.ob.Len()) })
	s.NewGauge("ood_agent_outbox_dropped_total", func() float64 { return float64(a.ob.Stats().Dropped) })
	s.NewGauge("ood_agent_mqtt_connected", func() float64 {
		if a.client.Connected() {
			return 1
		}
		return 0
	})
	s.NewGauge("ood_agent_frames_dropped_total", func() float64 { // by the source pump under backpressure
		if a.pump == nil {
			return 0
		}
		return float64(a.pump.Stats().Dropped)
	})
	// In the calibrated score's in-distribution orientation.
	s.NewGauge("ood_agent_threshold", a.idThreshold)
	a.win = newWindow(a.clock.Now(), 4096)
}

// writeMetrics writes every metric in the Prometheus text format.
func (a *Agent) writeMetrics(w io.Writer) {
	a.set.WritePrometheus(w)
	vm.WriteProcessMetrics(w)
}
