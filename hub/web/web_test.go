package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/hub/internal/agentsim"
	"github.com/ood-agent/ood-agent/hub/store"
	"github.com/ood-agent/ood-agent/hub/web"
)

const token = "s3cret-token"

// fixture stores what two agents published, parsed by the hub's own
// parser from the agents' own message types, and serves it.
func fixture(t *testing.T) (*httptest.Server, []event.Message) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p, err := ingest.NewParser("ood")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	b := &store.Batch{}
	add := func(topic string, v any) {
		var data []byte
		if raw, ok := v.([]byte); ok {
			data = raw
		} else if data, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
		if err := p.Parse(topic, data, now, b); err != nil {
			t.Fatal(err)
		}
	}
	var alerts []event.Message
	for i, id := range []string{"cam-drift", "cam-ok"} {
		d, _ := agentsim.NewDevice("ood", id)
		add(d.Topics.Status(), d.Status(event.StateOnline, now))
		median := -10.0
		if i == 0 {
			median = -4 // far above the calibration's p95 of -8.3
		}
		for m := 5; m >= 1; m-- {
			add(d.Topics.Stats(), d.Stats(now.Add(-time.Duration(m)*time.Minute), 120, uint64(10*(i+1)), median))
		}
		for k := range 3 + i {
			a := d.Alert(now.Add(-time.Duration(k) * time.Minute))
			if k == 0 {
				a.AttachEvidence(d.Topics, len(agentsim.JPEG))
				add(d.Topics.Evidence(a.ID), agentsim.JPEG)
			}
			add(d.Topics.Alert(), a)
			alerts = append(alerts, a)
		}
		if i == 0 {
			// One adaptation that went live and stayed, then one the
			// accuracy check refused.
			add(d.Topics.Adaptation(), d.Adaptation(now.Add(-3*time.Minute), "adapt-1", event.AdaptSwitching))
			add(d.Topics.Adaptation(), d.Adaptation(now.Add(-2*time.Minute), "adapt-1", event.AdaptCommitted))
			add(d.Topics.Adaptation(), d.Adaptation(now.Add(-time.Minute), "adapt-2", event.AdaptRefused))
		}
	}
	if _, err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Options{Store: s, Token: token, Metrics: vm.NewSet(), Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts, alerts
}

func get(t *testing.T, ts *httptest.Server, path string, auth bool) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+path, nil)
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestAPI(t *testing.T) {
	ts, alerts := fixture(t)

	resp, body := get(t, ts, "/api/v1/devices", true)
	var devs struct{ Devices []web.DeviceJSON }
	if err := json.Unmarshal([]byte(body), &devs); err != nil || resp.StatusCode != 200 {
		t.Fatalf("devices: %d %v %s", resp.StatusCode, err, body)
	}
	if len(devs.Devices) != 2 {
		t.Fatalf("devices = %+v", devs.Devices)
	}
	drift, ok := devs.Devices[0], devs.Devices[1]
	if drift.ID != "cam-drift" || !drift.Drift || ok.Drift || !drift.Online || drift.Model.Name != agentsim.Model.Name {
		t.Errorf("devices = %+v", devs.Devices)
	}
	if got := ok.OODRate1h; got < 0.16 || got > 0.17 { // 20 of 120 frames
		t.Errorf("cam-ok OOD rate = %v, want 1/6", got)
	}
	if sum(drift.Alerts24h) != 3 || sum(ok.Alerts24h) != 4 {
		t.Errorf("alerts per hour = %v, %v", drift.Alerts24h, ok.Alerts24h)
	}

	resp, body = get(t, ts, "/api/v1/devices/cam-ok", true)
	var one web.DeviceJSON
	if err := json.Unmarshal([]byte(body), &one); err != nil || resp.StatusCode != 200 || len(one.Stats) != 5 {
		t.Errorf("device: %d %v %s", resp.StatusCode, err, body)
	}
	if resp, _ := get(t, ts, "/api/v1/devices/nope", true); resp.StatusCode != 404 {
		t.Errorf("unknown device: %d", resp.StatusCode)
	}

	resp, body = get(t, ts, "/api/v1/devices/cam-drift/adaptations", true)
	var ads web.AdaptationsJSON
	if err := json.Unmarshal([]byte(body), &ads); err != nil || resp.StatusCode != 200 {
		t.Fatalf("adaptations: %d %v %s", resp.StatusCode, err, body)
	}
	var stages []string
	for _, raw := range ads.Adaptations {
		var a event.Adaptation
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("API adaptation is not the agent's payload: %v", err)
		}
		stages = append(stages, a.Version+" "+string(a.Stage))
	}
	if got := strings.Join(stages, ", "); got != "adapt-2 refused, adapt-1 committed, adapt-1 switching" {
		t.Errorf("adaptations of cam-drift, newest first: %s", got)
	}
	if _, body := get(t, ts, "/api/v1/devices/cam-ok/adaptations", true); strings.Join(strings.Fields(body), "") != `{"adaptations":[]}` {
		t.Errorf("adaptations of cam-ok: %q, want an empty list", body)
	}
	if resp, _ := get(t, ts, "/api/v1/devices/nope/adaptations", true); resp.StatusCode != 404 {
		t.Errorf("adaptations of an unknown device: %d", resp.StatusCode)
	}

	// Paging through all alerts, two at a time.
	var ids []string
	cursor := ""
	for range 10 {
		_, body = get(t, ts, "/api/v1/alerts?limit=2&cursor="+cursor, true)
		var page struct {
			Alerts []json.RawMessage
			Next   string
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		for _, raw := range page.Alerts {
			var m event.Message
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("API alert is not the agent's payload: %v", err)
			}
			ids = append(ids, m.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(ids) != len(alerts) {
		t.Errorf("paged %d alerts, want %d", len(ids), len(alerts))
	}
	_, body = get(t, ts, "/api/v1/alerts?device=cam-ok&type=alert", true)
	if n := strings.Count(body, `"schema"`); n != 4 {
		t.Errorf("filtered alerts: %d, want 4", n)
	}
	for _, bad := range []string{"since=yesterday", "limit=0", "type=nope", "cursor=zz"} {
		if resp, body := get(t, ts, "/api/v1/alerts?"+bad, true); resp.StatusCode != 400 || !strings.Contains(body, "error") {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, body)
		}
	}

	a := alerts[0]
	resp, body = get(t, ts, "/api/v1/alerts/"+a.ID, true)
	if resp.StatusCode != 200 || !strings.Contains(body, a.ID) {
		t.Errorf("alert: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, ts, "/api/v1/evidence/"+a.ID, true)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || body != string(agentsim.JPEG) {
		t.Errorf("evidence: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	resp, body = get(t, ts, "/api/v1/alerts?format=csv", true)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != len(alerts)+1 || rows[0][0] != "id" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("csv: %v, %d rows", err, len(rows))
	}

	resp, body = get(t, ts, "/metrics", true)
	if resp.StatusCode != 200 || !strings.Contains(body, "ood_hub_http_request_seconds") {
		t.Errorf("metrics: %d", resp.StatusCode)
	}
	if resp, _ := get(t, ts, "/healthz", false); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}

func sum(v []int) (n int) {
	for _, c := range v {
		n += c
	}
	return n
}

func TestAuth(t *testing.T) {
	ts, _ := fixture(t)
	for _, path := range []string{"/", "/alerts", "/api/v1/devices", "/metrics", "/api/v1/alerts?token=wrong"} {
		if resp, body := get(t, ts, path, false); resp.StatusCode != 401 || strings.Contains(body, token) {
			t.Errorf("%s without token: %d", path, resp.StatusCode)
		}
	}
	// Basic auth with the token as password.
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/devices", nil)
	req.SetBasicAuth("admin", token)
	if resp, err := ts.Client().Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("basic auth: %v %v", resp, err)
	}
	req.SetBasicAuth("admin", "nope")
	if resp, err := ts.Client().Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("wrong basic auth: %v %v", resp, err)
	}
	// ?token= logs a browser in: a cookie, and a redirect without it.
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(ts.URL + "/alerts?device=cam-ok&token=" + token)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v %v", resp, err)
	}
	loc := resp.Header.Get("Location")
	cookies := resp.Cookies()
	if strings.Contains(loc, "token") || loc != "/alerts?device=cam-ok" || len(cookies) != 1 || strings.Contains(cookies[0].Value, token) || !cookies[0].HttpOnly {
		t.Errorf("login: location %q, cookies %v", loc, cookies)
	}
	req, _ = http.NewRequest("GET", ts.URL+loc, nil)
	req.AddCookie(cookies[0])
	resp, err = c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("with session cookie: %v %v", resp, err)
	}
}

func TestPages(t *testing.T) {
	ts, alerts := fixture(t)
	tests := []struct {
		path string
		want []string
	}{
		{"/", []string{"cam-drift", "cam-ok", `class="badge drift"`, agentsim.Model.Name, "<svg class=\"spark\"", "2</b> online"}},
		{"/devices/cam-drift", []string{"cam-drift", "calibration p05–p95", "Inference time", "/api/v1/evidence/" + alerts[0].ID, "threshold",
			`class="adaptation committed" data-version="adapt-1"`, `class="adaptation refused" data-version="adapt-2"`, "91.1% → 90.6%", "accuracy dropped"}},
		{"/devices/cam-ok", []string{"None yet"}},
		{"/alerts", []string{alerts[0].ID, alerts[len(alerts)-1].ID, "format=csv"}},
		{"/alerts?device=cam-ok&limit=2", []string{"cam-ok", "older →"}},
		{"/static/style.css", []string{"--accent"}},
	}
	for _, tt := range tests {
		resp, body := get(t, ts, tt.path, true)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", tt.path, resp.StatusCode, body)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", tt.path, w)
			}
		}
	}
	if resp, _ := get(t, ts, "/devices/none", true); resp.StatusCode != 404 {
		t.Errorf("unknown device page: %d", resp.StatusCode)
	}
}
