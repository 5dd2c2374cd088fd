package hub_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/hub/internal/agentsim"
	"github.com/ood-agent/ood-agent/hub/web"
)

// TestFeedbackThroughTheHub labels alerts from the hub — through the API
// and through the alerts page's buttons — on a real agent feedback
// service and store behind a real broker: the device labels its store,
// and its answers, applied or refused, come back to the hub's alert.
func TestFeedbackThroughTheHub(t *testing.T) {
	const prefix = "ood/site"
	ctx, broker, signer, a := startFleet(t, prefix)

	// The hub has subscribed once it has the probe's retained status:
	// alerts published before that would not reach it.
	waitDevices(t, a, 1)
	dev, conn, st, alerts := startFeedbackDevice(t, ctx, broker.URL(), prefix, "cam-f", signer.PublicKey())
	waitAlerts(t, a, "cam-f", 3)

	// Through the API: a false alarm with its true class.
	var sent web.CommandJSON
	if code := a.do("POST", "/api/v1/alerts/"+alerts[0].ID+"/feedback", "application/json", []byte(`{"label":"false_alarm","class":"Coat"}`), &sent); code != http.StatusAccepted {
		t.Fatalf("POST feedback: %d %+v", code, sent)
	}
	if sent.Type != "feedback" || sent.Target != "device/cam-f" || sent.Operator != "api-token" {
		t.Errorf("audit entry = %+v", sent)
	}
	got := a.results(sent.ID, 1)
	if r := got.Results[0]; !r.OK || r.Device != "cam-f" || r.Message != "alert "+alerts[0].ID+" labeled false_alarm (class Coat)" {
		t.Errorf("result = %+v", r)
	}
	var fb struct{ Feedback *web.CommandJSON }
	if a.do("GET", "/api/v1/alerts/"+alerts[0].ID+"/feedback", "", nil, &fb); fb.Feedback == nil || fb.Feedback.ID != sent.ID || len(fb.Feedback.Results) != 1 {
		t.Errorf("GET feedback = %+v", fb.Feedback)
	}

	// Through the pages' buttons: "confirmed" on the second alert, from
	// the alerts page, and on the third, which the device no longer
	// holds, from a form whose return address points off the hub.
	for id, back := range map[string][2]string{
		alerts[1].ID: {"/alerts?device=cam-f", "/alerts?device=cam-f"},
		alerts[2].ID: {"//evil.example/alerts", "/alerts"},
	} {
		form := url.Values{"label": {"confirmed"}, "class": {"ignored"}, "back": {back[0]}}
		req, _ := http.NewRequest("POST", a.base+"/alerts/"+id+"/feedback", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+a.token)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != back[1] {
			t.Fatalf("form POST: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	page := func() string {
		req, _ := http.NewRequest("GET", a.base+"/alerts?device=cam-f", nil)
		req.Header.Set("Authorization", "Bearer "+a.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitUntil(t, "the page to show the devices' answers", func() bool {
		p := page()
		return strings.Contains(p, "false alarm (Coat): applied") && strings.Contains(p, "confirmed: applied") && strings.Contains(p, "confirmed: refused")
	})

	labels := map[string]string{}
	for _, e := range st.List() {
		if e.Label != nil {
			labels[e.AlertID] = string(e.Label.Kind) + "/" + e.Label.Class
		}
	}
	if labels[alerts[0].ID] != "false_alarm/Coat" || labels[alerts[1].ID] != "confirmed/" || len(labels) != 2 {
		t.Errorf("labels in the device's store: %v", labels)
	}

	// What no device would take is refused before it is signed: a bad
	// label, a class with confirmed, an alert the hub does not have, and
	// an event_end message (devices keep the frames of alerts and event
	// starts).
	end := dev.Alert(time.Now().UTC())
	end.Type, end.Event = event.TypeEventEnd, &event.EventInfo{ID: end.ID, Start: end.Time, PeakScore: end.Score, PeakEnergy: end.Energy,
		PeakFrameSeq: end.FrameSeq, Frames: 3, OODFrames: 2, Duration: time.Second, EndReason: event.EndInDistribution}
	if err := agentsim.Publish(ctx, conn, dev.Topics.Alert(), end, false); err != nil {
		t.Fatal(err)
	}
	waitAlerts(t, a, "cam-f", 4)
	for path, body := range map[string]string{
		"/api/v1/alerts/" + end.ID + "/feedback":        `{"label":"confirmed"}`,
		"/api/v1/alerts/" + alerts[0].ID + "/feedback":  `{"label":"maybe"}`,
		"/api/v1/alerts/" + alerts[1].ID + "/feedback":  `{"label":"confirmed","class":"Coat"}`,
		"/api/v1/alerts/" + alerts[0].ID + "/feedback?": `{"label":"false_alarm","class":"../etc"}`,
		"/api/v1/alerts/no-such-alert/feedback":         `{"label":"confirmed"}`,
	} {
		var out struct{ Error string }
		if code := a.do("POST", path, "application/json", []byte(body), &out); code < 400 || code >= 500 || out.Error == "" {
			t.Errorf("POST %s %s: %d %q, want a 4xx with a reason", path, body, code, out.Error)
		}
	}
}

// startFeedbackDevice publishes three alerts of device id and runs its
// feedback service, trusting trustedKey, on a real store that holds the
// first two (the third was evicted, say).
func startFeedbackDevice(t *testing.T, ctx context.Context, broker, prefix, id, trustedKey string) (*agentsim.Device, *mqtt.Client, *feedback.Store, []event.Message) {
	t.Helper()
	dev, err := agentsim.NewDevice(prefix, id)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := agentsim.Connect(ctx, broker, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	st, err := feedback.Open(feedback.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var alerts []event.Message
	for i := range 3 {
		m := dev.Alert(time.Now().UTC().Add(time.Duration(i) * time.Millisecond))
		if i < 2 {
			if err := st.AddFlagged(feedback.Record{AlertID: m.ID, Time: m.Time, Source: "cam0", Frame: "f", Class: m.Label, Label: m.LabelName,
				Score: m.Score, Threshold: m.Threshold, Model: "sha256:0f1e", Logits: []float32{1, 2}, Features: []float32{3, 4}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := agentsim.Publish(ctx, conn, dev.Topics.Alert(), m, false); err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, m)
	}
	ring, err := control.ParseKeyRing([]string{trustedKey})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := feedback.NewService(feedback.ServiceOptions{Prefix: prefix, Device: id, Labeler: st, Transport: conn, Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	go svc.Run(ctx)
	return dev, conn, st, alerts
}

// waitAlerts returns once the hub has stored n alerts of device.
func waitAlerts(t *testing.T, a api, device string, n int) {
	t.Helper()
	waitUntil(t, "the hub to store the alerts", func() bool {
		var out struct{ Alerts []json.RawMessage }
		a.do("GET", "/api/v1/alerts?device="+device, "", nil, &out)
		return len(out.Alerts) == n
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
