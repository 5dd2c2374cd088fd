package runner

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/model/ood"
)

// tick drives event timeouts once a second and publishes stats.
func (a *Agent) tick(ctx context.Context) error {
	sec := a.clock.NewTicker(time.Second)
	defer sec.Stop()
	stats := a.clock.NewTicker(a.cfg.MQTT.StatsInterval)
	defer stats.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-sec.C():
			a.enqueue(a.decider.Tick(now), nil, nil)
		case <-stats.C():
			a.publishStats(ctx)
		}
	}
}

// publishStats publishes one stats message for the interval just ended,
// at QoS 0 and only while connected. Stats are not queued in the outbox:
// they describe the present, and while the broker is away alerts must not
// compete with them for space.
func (a *Agent) publishStats(ctx context.Context) {
	now := a.clock.Now()
	s := a.win.take(now)
	st := event.NewStats(a.ids, a.cfg.DeviceID, now, max(s.End.Sub(s.Start), time.Millisecond))
	st.Frames, st.OODFrames = uint64(s.Frames), uint64(s.OOD)
	if s.HaveQuantiles {
		st.Inference = &event.LatencyQuantiles{P50: s.Latency[0], P90: s.Latency[1], P99: s.Latency[2]}
		st.Energy = &event.EnergyQuantiles{P05: s.Energy[0], P50: s.Energy[1], P95: s.Energy[2]}
	}
	calib := a.active().calib
	st.Calibration = event.CalibrationInfo{Method: string(calib.Method), Threshold: a.idThreshold()}
	if calib.Method == ood.MethodEnergy {
		// The calibration summarizes −E; report energies.
		q := calib.Summary.Quantiles
		p05, p50, p95 := -q.P95, -q.P50, -q.P05
		st.Calibration.EnergyP05, st.Calibration.EnergyP50, st.Calibration.EnergyP95 = &p05, &p50, &p95
	}
	obs := a.ob.Stats()
	counts := a.pump.Stats()
	skipped := a.skipped.Get() + counts.Skipped
	alerts := a.alerts.Get()
	last := &a.lastReport
	st.DroppedFrames = counts.Dropped - last.dropped
	st.SkippedFrames = skipped - last.skipped
	st.OutboxDropped = obs.Dropped - last.obDropped
	st.Alerts = alerts - last.alerts
	last.dropped, last.skipped, last.obDropped, last.alerts = counts.Dropped, skipped, obs.Dropped, alerts
	st.OutboxDepth = obs.Depth
	payload, err := json.Marshal(st)
	if err != nil {
		a.log.Error("encode stats", "err", err)
		return
	}
	if !a.client.Connected() {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, a.cfg.MQTT.ConnectTimeout)
	defer cancel()
	if err := a.client.Publish(pctx, a.topics.Stats(), payload, 0, false); err != nil {
		a.log.Debug("stats not published", "err", err)
	}
}
