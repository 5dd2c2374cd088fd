package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMessageJSONRoundTrip(t *testing.T) {
	for _, m := range sampleMessages(t) {
		t.Run(string(m.Type), func(t *testing.T) {
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var got Message
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("Unmarshal(%s): %v", data, err)
			}
			// The wire keeps milliseconds in UTC.
			want := m
			want.Time = m.Time.Truncate(time.Millisecond).UTC()
			if m.Event != nil {
				e := *m.Event
				e.Start = e.Start.Truncate(time.Millisecond).UTC()
				e.Duration = e.Duration.Truncate(time.Millisecond)
				want.Event = &e
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Unmarshal(Marshal(m)) differs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTimeFormat(t *testing.T) {
	zone := time.FixedZone("CET", 3600)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2025, 3, 14, 10, 26, 53, 987654321, zone), "2025-03-14T09:26:53.987Z"},
		{time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC), "2025-03-14T09:26:53.000Z"},
	}
	for _, tt := range tests {
		if got := formatTime(tt.in); got != tt.want {
			t.Errorf("formatTime(%v) = %s, want %s", tt.in, got, tt.want)
		}
		m := Message{Type: TypeAlert, Time: tt.in}
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `"time":"`+tt.want+`"`) {
			t.Errorf("json.Marshal(message at %v) = %s, want time %s", tt.in, data, tt.want)
		}
	}
}

func TestMessageJSONFields(t *testing.T) {
	// Alerts carry no event fields; event messages carry all of them,
	// zero values included, and only event_end an end reason.
	eventFields := []string{"event_id", "start_time", "peak_score", "peak_energy", "peak_frame_seq", "frames", "ood_frames", "duration_ms"}
	for _, m := range sampleMessages(t) {
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var o map[string]any
		if err := json.Unmarshal(data, &o); err != nil {
			t.Fatal(err)
		}
		for _, f := range eventFields {
			if _, ok := o[f]; ok != (m.Type != TypeAlert) {
				t.Errorf("%s: field %s present %v, want %v", m.Type, f, ok, m.Type != TypeAlert)
			}
		}
		if _, ok := o["end_reason"]; ok != (m.Type == TypeEventEnd) {
			t.Errorf("%s: end_reason present %v", m.Type, ok)
		}
		if o["schema"] != AlertSchema || o["type"] != string(m.Type) || o["id"] != m.ID {
			t.Errorf("%s: schema, type, id = %v, %v, %v", m.Type, o["schema"], o["type"], o["id"])
		}
	}
}

func TestStatusAndStatsRoundTrip(t *testing.T) {
	for _, s := range sampleStatuses() {
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var got Status
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", data, err)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("status round trip (-want +got):\n%s", diff)
		}
	}
	for _, s := range sampleStats(t) {
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var got Stats
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", data, err)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("stats round trip (-want +got):\n%s", diff)
		}
		var o struct {
			FPS     float64 `json:"fps"`
			OODRate float64 `json:"ood_rate"`
		}
		if err := json.Unmarshal(data, &o); err != nil {
			t.Fatal(err)
		}
		if o.FPS != s.FPS() || o.OODRate != s.OODRate() {
			t.Errorf("stats fps, ood_rate = %v, %v, want %v, %v", o.FPS, o.OODRate, s.FPS(), s.OODRate())
		}
	}
}

func TestAdaptationRoundTrip(t *testing.T) {
	for _, a := range sampleAdaptations() {
		data, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var got Adaptation
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", data, err)
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("adaptation round trip (-want +got):\n%s", diff)
		}
		if !strings.Contains(string(data), `"time":"`+a.Time.Format("2006-01-02T15:04:05.000Z")+`"`) {
			t.Errorf("%s: time not in the messages' spelling", data)
		}
	}
	for _, bad := range []string{
		`{"schema":"ood-agent/adaptation/v1","id":"x","device_id":"d","time":"2025-03-14T10:26:53.000Z","version":"v","stage":"done","model":{"name":"m","sha256":""}}`,
		`{"schema":"ood-agent/adaptation/v1","id":"x","device_id":"d","time":"yesterday","version":"v","stage":"failed","model":{"name":"m","sha256":""}}`,
		`{"schema":"ood-agent/stats/v1","stage":"failed"}`,
	} {
		var a Adaptation
		if err := json.Unmarshal([]byte(bad), &a); !errors.Is(err, ErrSchema) {
			t.Errorf("Unmarshal(%s) = %v, want ErrSchema", bad, err)
		}
	}
}

func TestStatsRates(t *testing.T) {
	tests := []struct {
		frames, ood uint64
		interval    time.Duration
		fps, rate   float64
	}{
		{1200, 36, time.Minute, 20, 0.03},
		{0, 0, time.Minute, 0, 0},
		{5, 5, 0, 0, 1},
	}
	for _, tt := range tests {
		s := Stats{Frames: tt.frames, OODFrames: tt.ood, Interval: tt.interval}
		if s.FPS() != tt.fps || s.OODRate() != tt.rate {
			t.Errorf("Stats{%d frames, %d OOD, %v}: FPS, OODRate = %v, %v, want %v, %v", tt.frames, tt.ood, tt.interval, s.FPS(), s.OODRate(), tt.fps, tt.rate)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	alert, err := json.Marshal(sampleMessages(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	start, err := json.Marshal(sampleMessages(t)[1])
	if err != nil {
		t.Fatal(err)
	}
	status, err := json.Marshal(sampleStatuses()[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		v    json.Unmarshaler
		data string
	}{
		{"status as alert", new(Message), string(status)},
		{"alert as status", new(Status), string(alert)},
		{"alert as stats", new(Stats), string(alert)},
		{"unknown type", new(Message), strings.Replace(string(alert), `"type":"alert"`, `"type":"alarm"`, 1)},
		{"bad time", new(Message), strings.Replace(string(alert), `"time":"2025`, `"time":"yesterday 2025`, 1)},
		{"event without its fields", new(Message), strings.Replace(string(start), `"frames"`, `"frames_"`, 1)},
		{"unknown state", new(Status), strings.Replace(string(status), `"online"`, `"asleep"`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := json.Unmarshal([]byte(tt.data), tt.v); !errors.Is(err, ErrSchema) {
				t.Errorf("Unmarshal(%s) error = %v, want ErrSchema", tt.data, err)
			}
		})
	}
}

// FuzzMessageUnmarshal checks that whatever Message.UnmarshalJSON accepts
// marshals again and reads back the same.
func FuzzMessageUnmarshal(f *testing.F) {
	for _, m := range sampleMessages(f) {
		data, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"schema":"ood-agent/alert/v1","type":"event_end","time":"2025-01-01T00:00:00Z"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Message
		if err := json.Unmarshal(data, &m); err != nil {
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			return // e.g. a year past 9999 has no RFC 3339 form
		}
		var m2 Message
		if err := json.Unmarshal(again, &m2); err != nil {
			t.Fatalf("Unmarshal(Marshal(%+v)) = %v; JSON %s", m, err, again)
		}
		third, err := json.Marshal(m2)
		if err != nil || string(third) != string(again) {
			t.Errorf("not stable: %s then %s (%v)", again, third, err)
		}
	})
}
