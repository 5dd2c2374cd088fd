package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Device is what the hub knows about one agent.
type Device struct {
	ID string
	// State is "online" or "offline" from the retained status topic, ""
	// if no status has arrived.
	State      string
	StatusTime time.Time
	LastSeen   time.Time
	Version    string
	ModelName  string
	ModelSHA   string
	// From the newest statistics message.
	StatsTime time.Time
	FPS       float64
	OODRate   float64
	// OODRate1h is the OOD rate of the statistics of the hour up to
	// StatsTime.
	OODRate1h    float64
	Energy       Quantiles
	Calibration  Quantiles
	CalThreshold float64
}

// Drifting reports whether the live median energy of the newest stats
// interval lies outside the calibration's 5th–95th percentile band: the
// inputs no longer look like the data the threshold was calibrated on.
// It is false when either is unknown.
func (d Device) Drifting() bool {
	e, c := d.Energy, d.Calibration
	if e.P50 == nil || c.P05 == nil || c.P95 == nil {
		return false
	}
	return *e.P50 < *c.P05 || *e.P50 > *c.P95
}

const deviceColumns = `id, state, status_ms, last_seen_ms, version, model_name, model_sha256, stats_ms, fps, ood_rate, ood_rate_1h,
	energy_p05, energy_p50, energy_p95, cal_p05, cal_p50, cal_p95, cal_threshold`

func scanDevice(r scanner) (Device, error) {
	var d Device
	var status, seen, stats int64
	var q [6]sql.NullFloat64
	err := r.Scan(&d.ID, &d.State, &status, &seen, &d.Version, &d.ModelName, &d.ModelSHA, &stats, &d.FPS, &d.OODRate, &d.OODRate1h,
		&q[0], &q[1], &q[2], &q[3], &q[4], &q[5], &d.CalThreshold)
	d.StatusTime, d.LastSeen, d.StatsTime = fromMS(status), fromMS(seen), fromMS(stats)
	d.Energy = Quantiles{ptr(q[0]), ptr(q[1]), ptr(q[2])}
	d.Calibration = Quantiles{ptr(q[3]), ptr(q[4]), ptr(q[5])}
	return d, err
}

func ptr(n sql.NullFloat64) *float64 {
	if !n.Valid {
		return nil
	}
	return &n.Float64
}

// Devices returns every known device, ordered by id.
func (s *Store) Devices(ctx context.Context) ([]Device, error) {
	return queryAll(ctx, s.db, "list devices", scanDevice, `SELECT `+deviceColumns+` FROM devices ORDER BY id`)
}

// Device returns one device, or ErrNotFound.
func (s *Store) Device(ctx context.Context, id string) (Device, error) {
	return queryOne(ctx, s.db, "device "+id, scanDevice, `SELECT `+deviceColumns+` FROM devices WHERE id = $1`, id)
}

// AlertsPerHour counts the alert and event_start messages of one device,
// or of each device if device is "", in the last hours clock hours up to
// and including the one of end, oldest first. Devices without alerts in
// them are absent from the map.
func (s *Store) AlertsPerHour(ctx context.Context, device string, end time.Time, hours int) (map[string][]int, error) {
	last := hourOf(end)
	first := last - int64(hours) + 1
	query := `SELECT device_id, hour, alerts FROM alert_hours WHERE hour >= $1 AND hour <= $2`
	args := []any{first, last}
	if device != "" {
		query += ` AND device_id = $3`
		args = append(args, device)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: alerts per hour: %w", err)
	}
	defer rows.Close()
	out := map[string][]int{}
	for rows.Next() {
		var device string
		var hour int64
		var n int
		if err := rows.Scan(&device, &hour, &n); err != nil {
			return nil, fmt.Errorf("store: alerts per hour: %w", err)
		}
		if out[device] == nil {
			out[device] = make([]int, hours)
		}
		out[device][hour-first] += n
	}
	return out, rows.Err()
}

// AlertQuery selects alerts; zero fields do not filter.
type AlertQuery struct {
	Device string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	Type   string
	Label  string // label_name
	Limit  int    // default 100, at most 1000
	// Cursor continues a previous query; see AlertPage.Next.
	Cursor string
}

// AlertPage is one page of alerts, newest first.
type AlertPage struct {
	Alerts []Alert
	// Next is the cursor of the following page, "" on the last one.
	Next string
}

// ErrBadCursor is returned for a cursor the store did not make.
var ErrBadCursor = errors.New("store: invalid cursor")

const alertColumns = `id, device_id, type, event_id, time_ms, received_ms, origin, frame_seq, label, label_name,
	confidence, energy, score, threshold, method, model_name, model_sha256, evidence_id, payload`

func scanAlert(r scanner) (Alert, error) {
	var a Alert
	var t, recv int64
	var payload string
	err := r.Scan(&a.ID, &a.DeviceID, &a.Type, &a.EventID, &t, &recv, &a.Origin, &a.FrameSeq, &a.Label, &a.LabelName,
		&a.Confidence, &a.Energy, &a.Score, &a.Threshold, &a.Method, &a.ModelName, &a.ModelSHA, &a.EvidenceID, &payload)
	a.Time, a.Received, a.Payload = fromMS(t), fromMS(recv), []byte(payload)
	return a, err
}

// Alerts returns the alerts that match q, newest first (by time, then id).
func (s *Store) Alerts(ctx context.Context, q AlertQuery) (AlertPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Device != "" {
		where = append(where, "device_id = "+arg(q.Device))
	}
	if !q.Since.IsZero() {
		where = append(where, "time_ms >= "+arg(q.Since.UnixMilli()))
	}
	if !q.Until.IsZero() {
		where = append(where, "time_ms < "+arg(q.Until.UnixMilli()))
	}
	if q.Type != "" {
		where = append(where, "type = "+arg(q.Type))
	}
	if q.Label != "" {
		where = append(where, "label_name = "+arg(q.Label))
	}
	if q.Cursor != "" {
		t, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return AlertPage{}, err
		}
		ta, ia := arg(t), arg(id)
		where = append(where, "(time_ms < "+ta+" OR (time_ms = "+ta+" AND id < "+ia+"))")
	}
	query := `SELECT ` + alertColumns + ` FROM alerts`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY time_ms DESC, id DESC LIMIT " + arg(limit+1)
	alerts, err := queryAll(ctx, s.db, "list alerts", scanAlert, query, args...)
	if err != nil {
		return AlertPage{}, err
	}
	page := AlertPage{Alerts: alerts}
	if len(page.Alerts) > limit {
		page.Alerts = page.Alerts[:limit]
		last := page.Alerts[limit-1]
		page.Next = encodeCursor(last.Time.UnixMilli(), last.ID)
	}
	return page, nil
}

func encodeCursor(t int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t, 10) + ":" + id))
}

func decodeCursor(c string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	ts, id, ok := strings.Cut(string(raw), ":")
	t, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", ErrBadCursor
	}
	return t, id, nil
}

// Alert returns one alert by id, or ErrNotFound.
func (s *Store) Alert(ctx context.Context, id string) (Alert, error) {
	return queryOne(ctx, s.db, "alert "+id, scanAlert, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id)
}

// CountAlerts returns the number of stored alert-topic messages.
func (s *Store) CountAlerts(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM alerts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count alerts: %w", err)
	}
	return n, nil
}

// Evidence returns one evidence image by id (the id of its alert), or
// ErrNotFound.
func (s *Store) Evidence(ctx context.Context, id string) (Evidence, error) {
	return queryOne(ctx, s.db, "evidence "+id, scanEvidence, `SELECT id, device_id, received_ms, content_type, data FROM evidence WHERE id = $1`, id)
}

func scanEvidence(r scanner) (Evidence, error) {
	var e Evidence
	var recv int64
	err := r.Scan(&e.ID, &e.DeviceID, &recv, &e.ContentType, &e.Data)
	e.Received = fromMS(recv)
	return e, err
}

// StatsSince returns a device's statistics intervals that ended at or
// after since, oldest first, at most limit of the newest.
func (s *Store) StatsSince(ctx context.Context, device string, since time.Time, limit int) ([]Stats, error) {
	out, err := queryAll(ctx, s.db, "stats of "+device, scanStats, `SELECT id, device_id, time_ms, interval_s, frames, ood_frames, fps, inference_p50,
		energy_p05, energy_p50, energy_p95, cal_p05, cal_p50, cal_p95, cal_threshold FROM stats
		WHERE device_id = $1 AND time_ms >= $2 ORDER BY time_ms DESC LIMIT $3`, device, since.UnixMilli(), limit)
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

func scanStats(r scanner) (Stats, error) {
	var st Stats
	var t int64
	var q [7]sql.NullFloat64
	err := r.Scan(&st.ID, &st.DeviceID, &t, &st.IntervalS, &st.Frames, &st.OODFrames, &st.FPS, &q[0],
		&q[1], &q[2], &q[3], &q[4], &q[5], &q[6], &st.CalThreshold)
	st.Time = fromMS(t)
	st.InferenceP50 = ptr(q[0])
	st.Energy = Quantiles{ptr(q[1]), ptr(q[2]), ptr(q[3])}
	st.Calibration = Quantiles{ptr(q[4]), ptr(q[5]), ptr(q[6])}
	return st, err
}
