package event

import (
	"encoding/json"
	"math"
	"time"
)

// Stats is the periodic message of the stats topic: what the agent did
// during the last interval. Its JSON form is the schema StatsSchema
// (docs/schema/stats.schema.json). The rates fps and ood_rate are not
// fields: MarshalJSON derives them (see FPS and OODRate), so they always
// agree with the counts.
type Stats struct {
	// ID is unique to the message, like Message.ID, so that a receiver
	// that sums counts can drop a redelivered copy.
	ID       string
	DeviceID string
	// Time is the end of the interval.
	Time     time.Time
	Interval time.Duration
	// Frames counts the frames classified in the interval and OODFrames
	// the out-of-distribution ones among them.
	Frames    uint64
	OODFrames uint64
	// DroppedFrames counts frames lost because the pipeline was busy
	// (a full queue); SkippedFrames counts inputs that could not be
	// decoded or classified.
	DroppedFrames uint64
	SkippedFrames uint64
	// Inference and Energy are quantiles over the interval's frames; nil
	// (JSON null) when Frames is 0.
	Inference *LatencyQuantiles
	Energy    *EnergyQuantiles
	// Calibration is the reference the interval's energies are compared
	// with.
	Calibration CalibrationInfo
	// OutboxDepth is the number of messages waiting in the outbox at
	// Time, and OutboxDropped the number the outbox dropped during the
	// interval because it was full.
	OutboxDepth   int
	OutboxDropped uint64
	// Alerts counts the alert and event_start messages of the interval.
	Alerts uint64
}

// LatencyQuantiles are quantiles of the time one inference took, in
// milliseconds.
type LatencyQuantiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// EnergyQuantiles are quantiles of the energy score E(x).
type EnergyQuantiles struct {
	P05 float64 `json:"p05"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
}

// CalibrationInfo summarises the calibration in use, so that a receiver
// can see drift: interval energies moving away from the calibration's.
type CalibrationInfo struct {
	// Method is the scoring method the threshold belongs to.
	Method string `json:"method"`
	// Threshold is the threshold in the method's in-distribution score
	// orientation (OOD iff score < threshold), as in Message.Threshold.
	Threshold float64 `json:"threshold"`
	// EnergyP05, EnergyP50 and EnergyP95 are quantiles of E(x) over the
	// calibration's in-distribution samples; nil (JSON null) when the
	// calibration did not record energies (a method other than energy).
	EnergyP05 *float64 `json:"energy_p05"`
	EnergyP50 *float64 `json:"energy_p50"`
	EnergyP95 *float64 `json:"energy_p95"`
}

// NewStats returns a Stats for the interval of length interval that ends
// at t, with a new id from ids; the caller fills in the counts.
func NewStats(ids *IDGenerator, deviceID string, t time.Time, interval time.Duration) Stats {
	return Stats{ID: ids.NewAt(t), DeviceID: deviceID, Time: t, Interval: interval}
}

// FPS is Frames per second of Interval, or 0 for an empty interval.
func (s Stats) FPS() float64 {
	if s.Interval <= 0 {
		return 0
	}
	return float64(s.Frames) / s.Interval.Seconds()
}

// OODRate is the fraction of Frames that were out of distribution, or 0
// when there were none.
func (s Stats) OODRate() float64 {
	if s.Frames == 0 {
		return 0
	}
	return float64(s.OODFrames) / float64(s.Frames)
}

type statsJSON struct {
	Schema        string            `json:"schema"`
	ID            string            `json:"id"`
	DeviceID      string            `json:"device_id"`
	Time          string            `json:"time"`
	IntervalS     float64           `json:"interval_s"`
	Frames        uint64            `json:"frames"`
	FPS           float64           `json:"fps"`
	DroppedFrames uint64            `json:"dropped_frames"`
	SkippedFrames uint64            `json:"skipped_frames"`
	Inference     *LatencyQuantiles `json:"inference_ms"`
	OODFrames     uint64            `json:"ood_frames"`
	OODRate       float64           `json:"ood_rate"`
	Energy        *EnergyQuantiles  `json:"energy"`
	Calibration   CalibrationInfo   `json:"calibration"`
	OutboxDepth   int               `json:"outbox_depth"`
	OutboxDropped uint64            `json:"outbox_dropped"`
	Alerts        uint64            `json:"alerts"`
}

// MarshalJSON encodes s as a StatsSchema payload.
func (s Stats) MarshalJSON() ([]byte, error) {
	return json.Marshal(statsJSON{
		Schema:        StatsSchema,
		ID:            s.ID,
		DeviceID:      s.DeviceID,
		Time:          formatTime(s.Time),
		IntervalS:     s.Interval.Seconds(),
		Frames:        s.Frames,
		FPS:           s.FPS(),
		DroppedFrames: s.DroppedFrames,
		SkippedFrames: s.SkippedFrames,
		Inference:     s.Inference,
		OODFrames:     s.OODFrames,
		OODRate:       s.OODRate(),
		Energy:        s.Energy,
		Calibration:   s.Calibration,
		OutboxDepth:   s.OutboxDepth,
		OutboxDropped: s.OutboxDropped,
		Alerts:        s.Alerts,
	})
}

// UnmarshalJSON decodes a StatsSchema payload; fps and ood_rate are
// recomputed from the counts.
func (s *Stats) UnmarshalJSON(data []byte) error {
	var w statsJSON
	if err := decode(data, StatsSchema, &w); err != nil {
		return err
	}
	t, err := parseTime("time", w.Time)
	if err != nil {
		return err
	}
	*s = Stats{
		ID:            w.ID,
		DeviceID:      w.DeviceID,
		Time:          t,
		Interval:      time.Duration(math.Round(w.IntervalS * float64(time.Second))),
		Frames:        w.Frames,
		OODFrames:     w.OODFrames,
		DroppedFrames: w.DroppedFrames,
		SkippedFrames: w.SkippedFrames,
		Inference:     w.Inference,
		Energy:        w.Energy,
		Calibration:   w.Calibration,
		OutboxDepth:   w.OutboxDepth,
		OutboxDropped: w.OutboxDropped,
		Alerts:        w.Alerts,
	}
	return nil
}
