package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/hub/web"
)

// TestControlOff: without a signing key the command endpoints say how to
// turn control on, and the device page says it instead of showing
// buttons.
func TestControlOff(t *testing.T) {
	ts, alerts := fixture(t)
	_, body := get(t, ts, "/api/v1/control", true)
	var info web.ControlJSON
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.Enabled || !strings.Contains(info.Message, "hub.control.key_file") {
		t.Errorf("control = %s (%v)", body, err)
	}
	for path, body := range map[string]string{"/api/v1/devices/cam-ok/commands": `{"type":"pause"}`, "/api/v1/groups/lobby/commands": `{"type":"pause"}`,
		"/api/v1/commands": `{"type":"pause"}`, "/api/v1/alerts/" + alerts[0].ID + "/feedback": `{"label":"confirmed"}`} {
		req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "hub.control.key_file") {
			t.Errorf("POST %s: %d %s, want 503 naming hub.control.key_file", path, resp.StatusCode, b)
		}
	}
	_, page := get(t, ts, "/devices/cam-ok", true)
	if strings.Contains(page, `value="pause"`) || !strings.Contains(page, "fleet control is off") {
		t.Error("device page shows command buttons while control is off")
	}
	if _, page := get(t, ts, "/alerts", true); strings.Contains(page, `value="false_alarm"`) || !strings.Contains(page, alerts[0].ID) {
		t.Error("alerts page shows verdict buttons while control is off")
	}
	if resp, body := get(t, ts, "/api/v1/commands", true); resp.StatusCode != 200 || !strings.Contains(body, `"commands": []`) {
		t.Errorf("empty audit log: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, ts, "/rollouts", true); resp.StatusCode != 200 || !strings.Contains(body, "fleet control is off") || strings.Contains(body, `name="model"`) {
		t.Errorf("rollouts page while control is off: %d", resp.StatusCode)
	}
	for _, path := range []string{"/models/v1/model.tflite", "/api/v1/rollouts/r-1"} {
		if resp, _ := get(t, ts, path, true); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/rollouts", strings.NewReader(`{"model":"v1","target":{"all":true}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := ts.Client().Do(req); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("rollout while control is off: %v %v", resp.Status, err)
	}
}

// TestCommandFormCrossOrigin: a form on another site cannot press a
// command button with an operator's session.
func TestCommandFormCrossOrigin(t *testing.T) {
	ts, _ := fixture(t)
	jar := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := jar.Get(ts.URL + "/?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		session = c
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	post := func(site string) int {
		req, _ := http.NewRequest("POST", ts.URL+"/devices/cam-ok/commands", strings.NewReader(url.Values{"type": {"pause"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", site)
		req.AddCookie(session)
		resp, err := jar.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-site form POST: %d, want 403", code)
	}
	// The same form from the hub's own page reaches the handler (which
	// answers that control is off).
	if code := post("same-origin"); code != http.StatusServiceUnavailable {
		t.Errorf("same-origin form POST: %d, want 503", code)
	}
}
