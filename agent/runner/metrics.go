package runner

import (
	"github.com/ood-agent/ood-agent/agent/metrics"
)

func (a *Agent) initMetrics() {
	r := metrics.New()
	a.reg = r
	a.frames = r.Counter("ood_agent_frames_total", "Frames classified.")
	a.oodCount = r.Counter("ood_agent_ood_frames_total", "Frames classified as out-of-distribution.")
	a.skipped = r.Counter("ood_agent_frames_skipped_total", "Frames that could not be decoded or classified.")
	a.alerts = r.Counter("ood_agent_alerts_total", "Alert and event_start messages queued.")
	a.sent = r.Counter("ood_agent_messages_published_total", "Messages acknowledged by the broker and removed from the outbox.")
	a.latency = r.Histogram("ood_agent_inference_seconds", "Preprocessing and inference time per frame.",
		[]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1})
	a.energy = r.Histogram("ood_agent_energy", "Energy score E(x) of classified frames.",
		[]float64{-30, -25, -20, -15, -12, -10, -8, -6, -4, -2, 0, 2})
	r.GaugeFunc("ood_agent_outbox_depth", "Messages waiting in the outbox.", func() float64 { return float64(a.ob.Len()) })
	r.GaugeFunc("ood_agent_outbox_dropped_total", "Messages the full outbox dropped.", func() float64 { return float64(a.ob.Stats().Dropped) })
	r.GaugeFunc("ood_agent_mqtt_connected", "1 while connected to the broker.", func() float64 {
		if a.client.Connected() {
			return 1
		}
		return 0
	})
	r.GaugeFunc("ood_agent_frames_dropped_total", "Frames dropped under backpressure.", func() float64 {
		if a.pump == nil {
			return 0
		}
		return float64(a.pump.Stats().Dropped)
	})
	r.GaugeFunc("ood_agent_threshold", "Threshold in force, in the calibrated score's in-distribution orientation.", a.idThreshold)
	a.win = newWindow(a.clock.Now(), 4096)
}
