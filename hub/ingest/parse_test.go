package ingest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/hub/internal/agentsim"
	"github.com/ood-agent/ood-agent/hub/store"
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParse(t *testing.T) {
	p, err := NewParser("ood/site")
	if err != nil {
		t.Fatal(err)
	}
	d, err := agentsim.NewDevice("ood/site", "cam-1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	alert := d.Alert(now)
	alert.AttachEvidence(d.Topics, len(agentsim.JPEG))
	other, _ := agentsim.NewDevice("ood/site", "cam-2")
	var extra map[string]any
	json.Unmarshal(mustJSON(t, alert), &extra)
	extra["unexpected"] = 1

	tests := []struct {
		name    string
		topic   string
		payload []byte
		reason  string // "" = stored
		check   func(t *testing.T, b *store.Batch)
	}{
		{"alert", d.Topics.Alert(), mustJSON(t, alert), "", func(t *testing.T, b *store.Batch) {
			a := b.Alerts[0]
			if a.ID != alert.ID || a.DeviceID != "cam-1" || a.Type != "alert" || a.EvidenceID != alert.ID || !a.Time.Equal(now) || a.Received != now {
				t.Errorf("alert record = %+v", a)
			}
		}},
		{"stats", d.Topics.Stats(), mustJSON(t, d.Stats(now, 120, 30, -9)), "", func(t *testing.T, b *store.Batch) {
			s := b.Stats[0]
			if s.Frames != 120 || s.OODFrames != 30 || s.FPS != 2 || *s.Energy.P50 != -9 || *s.Calibration.P95 != -8.3 {
				t.Errorf("stats record = %+v", s)
			}
		}},
		{"status", d.Topics.Status(), mustJSON(t, d.Status(event.StateOnline, now)), "", func(t *testing.T, b *store.Batch) {
			if s := b.Statuses[0]; s.State != "online" || s.ModelName != agentsim.Model.Name {
				t.Errorf("status record = %+v", s)
			}
		}},
		{"evidence", d.Topics.Evidence(alert.ID), agentsim.JPEG, "", func(t *testing.T, b *store.Batch) {
			if e := b.Evidence[0]; e.ID != alert.ID || e.DeviceID != "cam-1" || len(e.Data) != len(agentsim.JPEG) {
				t.Errorf("evidence record = %+v", e)
			}
		}},
		{"cleared status", d.Topics.Status(), nil, "", func(t *testing.T, b *store.Batch) {
			if b.Len() != 0 {
				t.Errorf("cleared status stored %+v", b)
			}
		}},
		{"foreign prefix", "other/cam-1/alert", mustJSON(t, alert), reasonTopic, nil},
		{"unknown kind", "ood/site/cam-1/config", []byte(`{}`), reasonTopic, nil},
		{"no device", "ood/site/alert", mustJSON(t, alert), reasonTopic, nil},
		{"not json", d.Topics.Alert(), []byte(`{"schema":`), reasonJSON, nil},
		{"unknown field", d.Topics.Alert(), mustJSON(t, extra), reasonSchema, nil},
		{"status on alert topic", d.Topics.Alert(), mustJSON(t, d.Status(event.StateOnline, now)), reasonSchema, nil},
		{"device mismatch", other.Topics.Alert(), mustJSON(t, alert), reasonMismatch, nil},
		{"evidence not jpeg", d.Topics.Evidence(alert.ID), []byte("GIF89a"), reasonEvidence, nil},
		{"command result", "ood/site/cam-1/cmd/result", []byte(`{"v":1,"id":"c-1","device":"cam-1","type":"pause","ok":true,"stage":"","time":"2026-12-04T12:00:01Z"}`), "", func(t *testing.T, b *store.Batch) {
			if r := b.Results[0]; r.CommandID != "c-1" || r.DeviceID != "cam-1" || !r.OK || r.Received != now || !r.Time.Equal(now.Add(time.Second)) {
				t.Errorf("result record = %+v", r)
			}
		}},
		{"command refused", "ood/site/cam-1/cmd/result", []byte(`{"v":1,"id":"c-1","device":"cam-1","ok":false,"code":"replayed","message":"seen","time":"2026-12-04T12:00:01Z"}`), "", func(t *testing.T, b *store.Batch) {
			if r := b.Results[0]; r.OK || r.Code != "replayed" || r.Message != "seen" {
				t.Errorf("result record = %+v", r)
			}
		}},
		{"result of no command", "ood/site/cam-1/cmd/result", []byte(`{"v":1,"id":"","device":"cam-1","ok":false,"code":"malformed","message":"not json","time":"2026-12-04T12:00:01Z"}`), "", func(t *testing.T, b *store.Batch) {
			if b.Len() != 0 {
				t.Errorf("stored %+v", b)
			}
		}},
		{"result of another device", "ood/site/cam-2/cmd/result", []byte(`{"v":1,"id":"c-1","device":"cam-1","ok":true,"time":"2026-12-04T12:00:01Z"}`), reasonMismatch, nil},
		{"result failure without code", "ood/site/cam-1/cmd/result", []byte(`{"v":1,"id":"c-1","device":"cam-1","ok":false,"time":"2026-12-04T12:00:01Z"}`), reasonSchema, nil},
		{"feedback applied", "ood/site/cam-1/feedback/result", []byte(`{"v":1,"id":"fb-1","device":"cam-1","alert_id":"a-1","ok":true,"label":"false_alarm","class":"Sandal","time":"2026-12-04T12:00:01Z"}`), "", func(t *testing.T, b *store.Batch) {
			if r := b.Results[0]; r.CommandID != "fb-1" || r.DeviceID != "cam-1" || !r.OK || r.Stage != "labeled" || r.Message != "alert a-1 labeled false_alarm (class Sandal)" {
				t.Errorf("result record = %+v", r)
			}
		}},
		{"feedback refused", "ood/site/cam-1/feedback/result", []byte(`{"v":1,"id":"fb-1","device":"cam-1","alert_id":"a-1","ok":false,"code":"unknown_alert","message":"no alert a-1","time":"2026-12-04T12:00:01Z"}`), "", func(t *testing.T, b *store.Batch) {
			if r := b.Results[0]; r.OK || r.Code != "unknown_alert" || r.Message != "no alert a-1" {
				t.Errorf("result record = %+v", r)
			}
		}},
		{"feedback result with a command code", "ood/site/cam-1/feedback/result", []byte(`{"v":1,"id":"fb-1","device":"cam-1","ok":false,"code":"replayed","time":"2026-12-04T12:00:01Z"}`), reasonSchema, nil},
		{"feedback result of another device", "ood/site/cam-2/feedback/result", []byte(`{"v":1,"id":"fb-1","device":"cam-1","ok":true,"time":"2026-12-04T12:00:01Z"}`), reasonMismatch, nil},
		{"evidence bad id", d.Topics.Alert() + "/../evidence/", agentsim.JPEG, reasonTopic, nil},
		{"adaptation", d.Topics.Adaptation(), mustJSON(t, d.Adaptation(now, "adapt-20261204T120000Z", event.AdaptSwitching)), "", func(t *testing.T, b *store.Batch) {
			if a := b.Adaptations[0]; a.DeviceID != "cam-1" || a.Version != "adapt-20261204T120000Z" || a.Stage != "switching" || !a.Time.Equal(now) || a.Received != now || len(a.Payload) == 0 {
				t.Errorf("adaptation record = %+v", a)
			}
		}},
		{"adaptation of another device", other.Topics.Adaptation(), mustJSON(t, d.Adaptation(now, "adapt-1", event.AdaptCommitted)), reasonMismatch, nil},
		{"adaptation with an unknown stage", d.Topics.Adaptation(), []byte(strings.Replace(string(mustJSON(t, d.Adaptation(now, "adapt-1", event.AdaptCommitted))), `"committed"`, `"done"`, 1)), reasonSchema, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &store.Batch{}
			err := p.Parse(tt.topic, tt.payload, now, b)
			if got := Reason(err); got != tt.reason || (err != nil) != (tt.reason != "") {
				t.Fatalf("Parse: err %v (reason %q), want reason %q", err, got, tt.reason)
			}
			if tt.reason != "" && b.Len() != 0 {
				t.Errorf("rejected message was added: %+v", b)
			}
			if tt.check != nil {
				tt.check(t, b)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	p, _ := NewParser("ood")
	got := p.Filters("hubs", true)
	want := []string{"$share/hubs/ood/+/alert", "$share/hubs/ood/+/stats", "$share/hubs/ood/+/adaptation", "$share/hubs/ood/+/cmd/result", "$share/hubs/ood/+/feedback/result", "$share/hubs/ood/+/evidence/+", "ood/+/status"}
	if len(got) != len(want) {
		t.Fatalf("filters = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("filter %d = %q, want %q", i, got[i], want[i])
		}
	}
	if _, err := NewParser("bad/+"); err == nil {
		t.Error("wildcard prefix accepted")
	}
}

// FuzzParse: no input crashes the parser, and whatever it accepts is
// one record naming the topic's device.
func FuzzParse(f *testing.F) {
	d, _ := agentsim.NewDevice("ood", "cam")
	now := time.Now()
	f.Add(d.Topics.Alert(), mustJSON(f, d.Alert(now)))
	f.Add(d.Topics.Stats(), mustJSON(f, d.Stats(now, 10, 1, -9)))
	f.Add(d.Topics.Status(), mustJSON(f, d.Status(event.StateOffline, now)))
	f.Add(d.Topics.Evidence("x"), agentsim.JPEG)
	f.Add(d.Topics.Adaptation(), mustJSON(f, d.Adaptation(now, "adapt-1", event.AdaptRolledBack)))
	f.Add("ood/cam/cmd/result", []byte(`{"v":1,"id":"c-1","device":"cam","ok":true,"time":"2026-12-04T12:00:01Z"}`))
	f.Add("ood/cam/feedback/result", []byte(`{"v":1,"id":"fb-1","device":"cam","alert_id":"a-1","ok":true,"label":"confirmed","time":"2026-12-04T12:00:01Z"}`))
	p, err := NewParser("ood")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		b := &store.Batch{}
		if err := p.Parse(topic, payload, now, b); err != nil {
			if Reason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if b.Len() > 1 {
			t.Fatalf("%d records from one message", b.Len())
		}
		for _, r := range b.Results {
			if topic != "ood/"+r.DeviceID+"/cmd/result" && topic != "ood/"+r.DeviceID+"/feedback/result" {
				t.Fatalf("result of %q stored from topic %q", r.DeviceID, topic)
			}
		}
		for _, a := range b.Alerts {
			if a.DeviceID != "cam" && topic != "ood/"+a.DeviceID+"/alert" {
				t.Fatalf("alert of %q stored from topic %q", a.DeviceID, topic)
			}
		}
		for _, a := range b.Adaptations {
			if topic != "ood/"+a.DeviceID+"/adaptation" {
				t.Fatalf("adaptation of %q stored from topic %q", a.DeviceID, topic)
			}
		}
	})
}

func TestTopicKind(t *testing.T) {
	for topic, want := range map[string]string{
		"ood/cam/alert": "alert", "ood/cam/stats": "stats", "ood/cam/status": "status",
		"ood/cam/evidence/e-1": "evidence", "ood/cam/cmd/result": "cmd_result",
		"ood/cam/feedback/result": "feedback_result", "ood/cam/feedback": "other", "ood/cam/adaptation": "adaptation",
	} {
		if got := topicKind(topic); got != want {
			t.Errorf("topicKind(%q) = %q, want %q", topic, got, want)
		}
	}
}
