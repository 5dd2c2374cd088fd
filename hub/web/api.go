package web

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ood-agent/ood-agent/hub/store"
)

// DeviceJSON is a device in the API.
type DeviceJSON struct {
	ID          string          `json:"id"`
	State       string          `json:"state"`
	Online      bool            `json:"online"`
	LastSeen    *time.Time      `json:"last_seen"`
	StatusTime  *time.Time      `json:"status_time"`
	Version     string          `json:"version"`
	Model       ModelJSON       `json:"model"`
	FPS         float64         `json:"fps"`
	OODRate1h   float64         `json:"ood_rate_1h"`
	Alerts24h   []int           `json:"alerts_per_hour_24h"`
	Drift       bool            `json:"drift"`
	Energy      *QuantilesJSON  `json:"energy"`
	Calibration *QuantilesJSON  `json:"calibration"`
	Stats       []StatsJSONItem `json:"stats,omitempty"`
}

// ModelJSON names a model.
type ModelJSON struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// QuantilesJSON are energy quantiles.
type QuantilesJSON struct {
	P05 *float64 `json:"p05"`
	P50 *float64 `json:"p50"`
	P95 *float64 `json:"p95"`
}

// StatsJSONItem is one statistics interval in a device's history.
type StatsJSONItem struct {
	Time      time.Time      `json:"time"`
	Frames    int64          `json:"frames"`
	OODFrames int64          `json:"ood_frames"`
	FPS       float64        `json:"fps"`
	Energy    *QuantilesJSON `json:"energy"`
}

func quantilesJSON(q store.Quantiles) *QuantilesJSON {
	if q.P05 == nil && q.P50 == nil && q.P95 == nil {
		return nil
	}
	return &QuantilesJSON{q.P05, q.P50, q.P95}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func deviceJSON(v deviceView) DeviceJSON {
	d := v.Device
	return DeviceJSON{
		ID: d.ID, State: d.State, Online: d.State == "online", LastSeen: timePtr(d.LastSeen), StatusTime: timePtr(d.StatusTime),
		Version: d.Version, Model: ModelJSON{d.ModelName, d.ModelSHA}, FPS: d.FPS, OODRate1h: v.OODRate1h,
		Alerts24h: v.Alerts24h, Drift: d.Drifting(), Energy: quantilesJSON(d.Energy), Calibration: quantilesJSON(d.Calibration),
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// jsonList converts items for a JSON answer: an empty list is [], not
// null.
func jsonList[T, J any](items []T, conv func(T) J) []J {
	out := make([]J, 0, len(items))
	for _, v := range items {
		out = append(out, conv(v))
	}
	return out
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// storeError answers a failed store call: 404 for a missing row, 500
// (counted and logged) for anything else.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	s.metrics.dbErrors.Inc()
	s.log.Error("store query failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "database error")
}

func (s *Server) apiDevices(w http.ResponseWriter, r *http.Request) {
	views, err := s.fleet(r.Context())
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": jsonList(views, deviceJSON)})
}

func (s *Server) apiDevice(w http.ResponseWriter, r *http.Request) {
	v, stats, err := s.device(r.Context(), r.PathValue("id"))
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := deviceJSON(v)
	for _, st := range stats {
		out.Stats = append(out.Stats, StatsJSONItem{Time: st.Time, Frames: st.Frames, OODFrames: st.OODFrames, FPS: st.FPS, Energy: quantilesJSON(st.Energy)})
	}
	writeJSON(w, http.StatusOK, out)
}

// parseAlertQuery reads the filters of /api/v1/alerts and /alerts.
func parseAlertQuery(r *http.Request) (store.AlertQuery, error) {
	v := r.URL.Query()
	q := store.AlertQuery{Device: v.Get("device"), Type: v.Get("type"), Label: v.Get("label"), Cursor: v.Get("cursor")}
	var err error
	if q.Since, err = parseTime("since", v.Get("since")); err != nil {
		return q, err
	}
	if q.Until, err = parseTime("until", v.Get("until")); err != nil {
		return q, err
	}
	if l := v.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > 1000 {
			return q, fmt.Errorf("limit %q: want 1–1000", l)
		}
	}
	switch q.Type {
	case "", "alert", "event_start", "event_update", "event_end":
	default:
		return q, fmt.Errorf("type %q: want alert, event_start, event_update or event_end", q.Type)
	}
	return q, nil
}

// parseTime accepts RFC 3339, and the minute-precision local form of an
// HTML datetime-local input, read as UTC.
func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time such as 2026-12-04T09:30:00Z", name, s)
}

func (s *Server) apiAlerts(w http.ResponseWriter, r *http.Request) {
	q, err := parseAlertQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.URL.Query().Get("format") == "csv" {
		s.alertsCSV(w, r, q)
		return
	}
	page, err := s.store.Alerts(r.Context(), q)
	if errors.Is(err, store.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "cursor: not one this hub made")
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	alerts := jsonList(page.Alerts, func(a store.Alert) json.RawMessage { return a.Payload })
	writeJSON(w, http.StatusOK, map[string]any{"alerts": alerts, "next": page.Next})
}

// maxCSVRows bounds one export.
const maxCSVRows = 100_000

// alertsCSV streams every alert matching q, page by page.
func (s *Server) alertsCSV(w http.ResponseWriter, r *http.Request, q store.AlertQuery) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="alerts.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "device_id", "type", "event_id", "time", "received", "label", "label_name", "confidence", "energy", "score", "threshold", "method", "model", "model_sha256", "origin", "frame_seq", "evidence_id"})
	q.Limit = 1000
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for rows := 0; rows < maxCSVRows; {
		page, err := s.store.Alerts(r.Context(), q)
		if err != nil {
			s.log.Error("csv export failed", "err", err)
			break // the status is sent; a short file is all that can be done
		}
		for _, a := range page.Alerts {
			cw.Write([]string{a.ID, a.DeviceID, a.Type, a.EventID, a.Time.Format(time.RFC3339Nano), a.Received.Format(time.RFC3339Nano),
				strconv.Itoa(a.Label), a.LabelName, f(a.Confidence), f(a.Energy), f(a.Score), f(a.Threshold), a.Method,
				a.ModelName, a.ModelSHA, a.Origin, strconv.FormatInt(a.FrameSeq, 10), a.EvidenceID})
		}
		rows += len(page.Alerts)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	cw.Flush()
}

func (s *Server) apiAlert(w http.ResponseWriter, r *http.Request) {
	a, err := s.store.Alert(r.Context(), r.PathValue("id"))
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(a.Payload)
}

func (s *Server) apiEvidence(w http.ResponseWriter, r *http.Request) {
	e, err := s.store.Evidence(r.Context(), r.PathValue("id"))
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", e.ContentType)
	w.Header().Set("Cache-Control", "private, max-age=86400, immutable")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(e.Data)
}

// healthz answers 503 when the database does not answer, since then
// nothing is stored; a broker connection that is down leaves the UI and
// the API useful, so it answers 200 with status "degraded" and says which
// state the connection is in.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ping(r.Context()); err != nil {
		writeError(w, http.StatusServiceUnavailable, "database unreachable")
		return
	}
	h := map[string]string{"status": "ok", "database": "ok"}
	if s.mqtt != nil {
		h["mqtt"] = s.mqtt()
		if h["mqtt"] != "subscribed" {
			h["status"] = "degraded"
		}
	}
	writeJSON(w, http.StatusOK, h)
}
