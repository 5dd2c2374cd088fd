package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/ood-agent/ood-agent/hub/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetsFS embed.FS

// staticFS serves assets/ under /static/.
var staticFS = func() fs.FS {
	sub, err := fs.Sub(assetsFS, "assets")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return &prefixFS{prefix: "static/", fs: sub}
}()

// prefixFS serves fs under a path prefix, for http.FileServerFS on a
// pattern that keeps the prefix.
type prefixFS struct {
	prefix string
	fs     fs.FS
}

func (p *prefixFS) Open(name string) (fs.File, error) {
	if len(name) < len(p.prefix) || name[:len(p.prefix)] != p.prefix {
		return nil, fs.ErrNotExist
	}
	return p.fs.Open(name[len(p.prefix):])
}

type pages struct {
	fleet, device, alerts, commands, rollouts *template.Template
}

func newPages() (*pages, error) {
	funcs := template.FuncMap{
		"ago":       ago,
		"pct":       func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
		"short":     func(s string) string { return s[:min(len(s), 12)] },
		"sparkline": sparkline,
		"f3":        func(v float64) string { return fmt.Sprintf("%.3g", v) },
		"fp":        func(v *float64) string { return fmtPtr(v) },
		"utc":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"settings":  func(payload []byte) string { return string(settingsOf(payload)) },
		"sum": func(v []int) int {
			n := 0
			for _, c := range v {
				n += c
			}
			return n
		},
	}
	parse := func(name string) (*template.Template, error) {
		return template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name)
	}
	var p pages
	var err error
	if p.fleet, err = parse("fleet.html"); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if p.device, err = parse("device.html"); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if p.alerts, err = parse("alerts.html"); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if p.commands, err = parse("commands.html"); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if p.rollouts, err = parse("rollouts.html"); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	return &p, nil
}

func fmtPtr(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *v)
}

// ago says how long ago t was, coarsely.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// render executes t into a buffer first, so that a template error
// becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		s.log.Error("render page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	s.metrics.dbErrors.Inc()
	s.log.Error("store query failed", "path", r.URL.Path, "err", err)
	http.Error(w, "database error", http.StatusInternalServerError)
}

func (s *Server) pageFleet(w http.ResponseWriter, r *http.Request) {
	views, err := s.fleet(r.Context())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	var online, drifting, alerts int
	for _, v := range views {
		if v.State == "online" {
			online++
		}
		if v.Drifting() {
			drifting++
		}
		alerts += v.Alerts24h[len(v.Alerts24h)-1]
	}
	s.render(w, s.pages.fleet, map[string]any{
		"Title": "Fleet", "Nav": "fleet", "Devices": views,
		"Online": online, "Drifting": drifting, "AlertsLastHour": alerts,
	})
}

func (s *Server) pageDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v, stats, err := s.device(r.Context(), id)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	page, err := s.store.Alerts(r.Context(), store.AlertQuery{Device: id, Since: s.now().Add(-24 * time.Hour), Limit: 200})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	var scores, ood series
	var threshold float64
	scores = series{Name: "score (in-distribution ↑)", Class: "s-score", Dots: true}
	for _, a := range page.Alerts {
		scores.Pts = append(scores.Pts, point{a.Time, a.Score})
		threshold = a.Threshold
	}
	timeline := chart{Title: "Alerts, last 24 h: score vs threshold", Series: []series{scores}}
	if len(page.Alerts) > 0 {
		timeline.Lines = []hline{{Y: threshold, Class: "l-threshold", Name: "threshold"}}
	}
	fps := series{Name: "fps", Class: "s-fps"}
	latency := series{Name: "inference p50 (ms)", Class: "s-fps"}
	ood = series{Name: "OOD rate", Class: "s-ood"}
	p05 := series{Name: "energy p05", Class: "s-e05"}
	p50 := series{Name: "energy p50", Class: "s-e50"}
	p95 := series{Name: "energy p95", Class: "s-e95"}
	for _, st := range stats {
		fps.Pts = append(fps.Pts, point{st.Time, st.FPS})
		if st.InferenceP50 != nil {
			latency.Pts = append(latency.Pts, point{st.Time, *st.InferenceP50})
		}
		r := 0.0
		if st.Frames > 0 {
			r = float64(st.OODFrames) / float64(st.Frames)
		}
		ood.Pts = append(ood.Pts, point{st.Time, r})
		if e := st.Energy; e.P05 != nil && e.P50 != nil && e.P95 != nil {
			p05.Pts = append(p05.Pts, point{st.Time, *e.P05})
			p50.Pts = append(p50.Pts, point{st.Time, *e.P50})
			p95.Pts = append(p95.Pts, point{st.Time, *e.P95})
		}
	}
	energy := chart{Title: "Energy E(x) quantiles vs calibration", Series: []series{p05, p50, p95}}
	if c := v.Calibration; c.P05 != nil && c.P95 != nil {
		energy.Bands = []hband{{Lo: *c.P05, Hi: *c.P95, Class: "b-cal", Name: "calibration p05–p95"}}
		if c.P50 != nil {
			energy.Lines = []hline{{Y: *c.P50, Class: "l-cal", Name: "calibration p50"}}
		}
	}
	cmds, err := s.store.Commands(r.Context(), store.CommandFilter{Device: id, Limit: 20})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	latest, err := s.alertRows(r.Context(), page.Alerts, "/devices/"+url.PathEscape(id)+"#alerts")
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	adaptations, err := s.adaptations(r.Context(), id)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	pctFormat := func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }
	s.render(w, s.pages.device, map[string]any{
		"Title": v.ID, "Nav": "fleet", "D": v, "Alerts": latest, "Commands": cmds, "Control": s.controlInfo(), "Adaptations": adaptations,
		"Timeline": timeline.svg(),
		"FPS":      chart{Title: "Frames per second", Series: []series{fps}}.svg(),
		"Latency":  chart{Title: "Inference time, median (ms)", Series: []series{latency}}.svg(),
		"OOD":      chart{Title: "Out-of-distribution rate", Series: []series{ood}, Format: pctFormat}.svg(),
		"Energy":   energy.svg(),
	})
}

func (s *Server) pageAlerts(w http.ResponseWriter, r *http.Request) {
	q, err := parseAlertQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if q.Limit == 0 {
		q.Limit = 50
	}
	page, err := s.store.Alerts(r.Context(), q)
	if errors.Is(err, store.ErrBadCursor) {
		http.Error(w, "cursor: not one this hub made", http.StatusBadRequest)
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	devices, err := s.store.Devices(r.Context())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	filters := r.URL.Query()
	filters.Del("cursor")
	next := ""
	if page.Next != "" {
		nq := url.Values{}
		for k, v := range filters {
			nq[k] = v
		}
		nq.Set("cursor", page.Next)
		next = "/alerts?" + nq.Encode()
	}
	rows, err := s.alertRows(r.Context(), page.Alerts, "/alerts?"+filters.Encode())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	csvQ := url.Values{}
	for k, v := range filters {
		csvQ[k] = v
	}
	csvQ.Del("limit")
	csvQ.Set("format", "csv")
	s.render(w, s.pages.alerts, map[string]any{
		"Title": "Alerts", "Nav": "alerts", "Alerts": rows, "Devices": devices,
		"Q": filters, "Next": next, "CSV": "/api/v1/alerts?" + csvQ.Encode(), "First": q.Cursor == "",
		"Types": []string{"alert", "event_start", "event_update", "event_end"},
	})
}

func (s *Server) pageCommands(w http.ResponseWriter, r *http.Request) {
	cmds, err := s.store.Commands(r.Context(), store.CommandFilter{Device: r.URL.Query().Get("device"), Limit: 200})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, s.pages.commands, map[string]any{"Title": "Commands", "Nav": "commands", "Commands": cmds, "Control": s.controlInfo()})
}
