package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Alert is a stored alert-topic message: an alert or an event_* message.
type Alert struct {
	ID         string
	DeviceID   string
	Type       string
	EventID    string
	Time       time.Time // when the agent decided it
	Received   time.Time // when the hub got it
	Origin     string
	FrameSeq   int64
	Label      int
	LabelName  string
	Confidence float64
	Energy     float64
	Score      float64
	Threshold  float64
	Method     string
	ModelName  string
	ModelSHA   string
	EvidenceID string // "" when the message has no evidence
	// Payload is the message's JSON as the agent sent it.
	Payload []byte
}

// Quantiles are the 5th, 50th and 95th percentiles of the energy score;
// nil when unknown.
type Quantiles struct {
	P05, P50, P95 *float64
}

// Stats is a stored statistics message.
type Stats struct {
	ID           string
	DeviceID     string
	Time         time.Time
	Received     time.Time
	IntervalS    float64
	Frames       int64
	OODFrames    int64
	FPS          float64
	InferenceP50 *float64
	Energy       Quantiles
	Calibration  Quantiles
	CalThreshold float64
	Payload      []byte
}

// Status is a device's last status message.
type Status struct {
	DeviceID  string
	State     string
	Time      time.Time // as the agent wrote it; see docs/mqtt.md
	Received  time.Time
	Version   string
	ModelName string
	ModelSHA  string
}

// Evidence is a JPEG attached to an alert.
type Evidence struct {
	ID          string
	DeviceID    string
	Received    time.Time
	ContentType string
	Data        []byte
}

// Batch is what one transaction writes.
type Batch struct {
	Alerts      []Alert
	Stats       []Stats
	Statuses    []Status
	Evidence    []Evidence
	Results     []CommandResult
	Adaptations []Adaptation
}

// Len is the number of records in b.
func (b *Batch) Len() int {
	return len(b.Alerts) + len(b.Stats) + len(b.Statuses) + len(b.Evidence) + len(b.Results) + len(b.Adaptations)
}

// Reset empties b, keeping its capacity.
func (b *Batch) Reset() {
	b.Alerts, b.Stats, b.Statuses, b.Evidence, b.Results = b.Alerts[:0], b.Stats[:0], b.Statuses[:0], b.Evidence[:0], b.Results[:0]
	b.Adaptations = b.Adaptations[:0]
}

// WriteResult counts what a Write changed.
type WriteResult struct {
	// NewAlerts is the number of alerts inserted; the others of the batch
	// were already stored (redeliveries).
	NewAlerts int
	NewStats  int
}

// Write stores b in one transaction: every record or none. Alerts, stats
// and evidence already stored (same id) are left as they are.
func (s *Store) Write(ctx context.Context, b *Batch) (WriteResult, error) {
	var res WriteResult
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()

	// lastSeen collects one device update per device and batch rather
	// than one per message: at thousands of alerts a second the device
	// rows would otherwise be the hot spot.
	lastSeen := map[string]int64{}
	seen := func(device string, t time.Time) {
		if v := ms(t); v > lastSeen[device] {
			lastSeen[device] = v
		}
	}
	type deviceHour struct {
		device string
		hour   int64
	}
	hourly := map[deviceHour]int{}
	if len(b.Alerts) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO alerts (id, device_id, type, event_id, time_ms, received_ms, origin, frame_seq,
			label, label_name, confidence, energy, score, threshold, method, model_name, model_sha256, evidence_id, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
			ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return res, fmt.Errorf("store: prepare alert insert: %w", err)
		}
		defer stmt.Close()
		for _, a := range b.Alerts {
			r, err := stmt.ExecContext(ctx, a.ID, a.DeviceID, a.Type, a.EventID, ms(a.Time), ms(a.Received), a.Origin, a.FrameSeq,
				a.Label, a.LabelName, a.Confidence, a.Energy, a.Score, a.Threshold, a.Method, a.ModelName, a.ModelSHA, a.EvidenceID, string(a.Payload))
			if err != nil {
				return res, fmt.Errorf("store: insert alert %s: %w", a.ID, err)
			}
			if n, _ := r.RowsAffected(); n > 0 {
				res.NewAlerts++
				if a.Type == "alert" || a.Type == "event_start" {
					hourly[deviceHour{a.DeviceID, hourOf(a.Time)}]++
				}
			}
			seen(a.DeviceID, a.Received)
		}
	}
	for k, n := range hourly {
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_hours (device_id, hour, alerts) VALUES ($1, $2, $3)
			ON CONFLICT (device_id, hour) DO UPDATE SET alerts = alert_hours.alerts + excluded.alerts`, k.device, k.hour, n); err != nil {
			return res, fmt.Errorf("store: count alerts of %s: %w", k.device, err)
		}
	}
	for _, st := range b.Stats {
		r, err := tx.ExecContext(ctx, `INSERT INTO stats (id, device_id, time_ms, interval_s, frames, ood_frames, fps, inference_p50,
			energy_p05, energy_p50, energy_p95, cal_p05, cal_p50, cal_p95, cal_threshold, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
			ON CONFLICT (id) DO NOTHING`,
			st.ID, st.DeviceID, ms(st.Time), st.IntervalS, st.Frames, st.OODFrames, st.FPS, nullable(st.InferenceP50),
			nullable(st.Energy.P05), nullable(st.Energy.P50), nullable(st.Energy.P95),
			nullable(st.Calibration.P05), nullable(st.Calibration.P50), nullable(st.Calibration.P95), st.CalThreshold, string(st.Payload))
		if err != nil {
			return res, fmt.Errorf("store: insert stats %s: %w", st.ID, err)
		}
		seen(st.DeviceID, st.Received)
		if n, _ := r.RowsAffected(); n == 0 {
			continue
		}
		res.NewStats++
		// The device row shows the newest interval, and the OOD rate of
		// the hour up to it, so that the fleet page reads one row per
		// device; a late redelivery of an older interval changes nothing.
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, stats_ms, fps, ood_rate, energy_p05, energy_p50, energy_p95,
			cal_p05, cal_p50, cal_p95, cal_threshold) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (id) DO UPDATE SET stats_ms = excluded.stats_ms, fps = excluded.fps, ood_rate = excluded.ood_rate,
			energy_p05 = excluded.energy_p05, energy_p50 = excluded.energy_p50, energy_p95 = excluded.energy_p95,
			cal_p05 = excluded.cal_p05, cal_p50 = excluded.cal_p50, cal_p95 = excluded.cal_p95, cal_threshold = excluded.cal_threshold
			WHERE devices.stats_ms <= excluded.stats_ms`,
			st.DeviceID, ms(st.Time), st.FPS, rate(st.OODFrames, st.Frames), nullable(st.Energy.P05), nullable(st.Energy.P50), nullable(st.Energy.P95),
			nullable(st.Calibration.P05), nullable(st.Calibration.P50), nullable(st.Calibration.P95), st.CalThreshold); err != nil {
			return res, fmt.Errorf("store: update device %s from stats: %w", st.DeviceID, err)
		}
		var ood, frames sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT SUM(ood_frames), SUM(frames) FROM stats WHERE device_id = $1 AND time_ms > $2 AND time_ms <= $3`,
			st.DeviceID, ms(st.Time)-int64(time.Hour/time.Millisecond), ms(st.Time)).Scan(&ood, &frames); err != nil {
			return res, fmt.Errorf("store: ood rate of %s: %w", st.DeviceID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET ood_rate_1h = $1 WHERE id = $2 AND stats_ms = $3`,
			rate(ood.Int64, frames.Int64), st.DeviceID, ms(st.Time)); err != nil {
			return res, fmt.Errorf("store: update ood rate of %s: %w", st.DeviceID, err)
		}
	}
	for _, st := range b.Statuses {
		// Retained status messages are states: the last one received
		// wins, whatever its time field says (a will's time is when the
		// agent connected, not when it went away).
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, state, status_ms, version, model_name, model_sha256, last_seen_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO UPDATE SET state = excluded.state, status_ms = excluded.status_ms, version = excluded.version,
			model_name = excluded.model_name, model_sha256 = excluded.model_sha256`,
			st.DeviceID, st.State, ms(st.Time), st.Version, st.ModelName, st.ModelSHA, ms(st.Received)); err != nil {
			return res, fmt.Errorf("store: update device %s from status: %w", st.DeviceID, err)
		}
		seen(st.DeviceID, st.Received)
	}
	for _, e := range b.Evidence {
		if _, err := tx.ExecContext(ctx, `INSERT INTO evidence (id, device_id, received_ms, content_type, data) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO NOTHING`, e.ID, e.DeviceID, ms(e.Received), e.ContentType, e.Data); err != nil {
			return res, fmt.Errorf("store: insert evidence %s: %w", e.ID, err)
		}
		seen(e.DeviceID, e.Received)
	}
	if err := writeResults(ctx, tx, b.Results); err != nil {
		return res, err
	}
	for _, r := range b.Results {
		seen(r.DeviceID, r.Received)
	}
	if err := writeAdaptations(ctx, tx, b.Adaptations); err != nil {
		return res, err
	}
	for _, a := range b.Adaptations {
		seen(a.DeviceID, a.Received)
	}
	for device, t := range lastSeen {
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, last_seen_ms) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms WHERE devices.last_seen_ms < excluded.last_seen_ms`,
			device, t); err != nil {
			return res, fmt.Errorf("store: update device %s last seen: %w", device, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return WriteResult{}, fmt.Errorf("store: commit: %w", err)
	}
	return res, nil
}

// hourOf numbers the clock hour of t since the Unix epoch.
func hourOf(t time.Time) int64 { return t.Unix() / 3600 }

func nullable(p *float64) sql.NullFloat64 {
	if p == nil {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *p, Valid: true}
}

func rate(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

// Prune deletes alerts, statistics, evidence and adaptation messages
// older than before, and the hourly alert counts of the hours before, and
// returns how many alerts, statistics, images and adaptation messages
// went.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, q := range []struct {
		sql   string
		bound int64
		count bool // whether its rows count in the total
	}{
		{`DELETE FROM alerts WHERE time_ms < $1`, before.UnixMilli(), true},
		{`DELETE FROM stats WHERE time_ms < $1`, before.UnixMilli(), true},
		{`DELETE FROM evidence WHERE received_ms < $1`, before.UnixMilli(), true},
		{`DELETE FROM adaptations WHERE time_ms < $1`, before.UnixMilli(), true},
		{`DELETE FROM alert_hours WHERE hour < $1`, hourOf(before), false},
	} {
		r, err := s.db.ExecContext(ctx, q.sql, q.bound)
		if err != nil {
			return total, fmt.Errorf("store: prune: %w", err)
		}
		if n, _ := r.RowsAffected(); q.count {
			total += n
		}
	}
	return total, nil
}
