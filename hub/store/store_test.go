package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/hub/internal/pgtest"
	"github.com/ood-agent/ood-agent/hub/store"
)

// backends opens a fresh store on every engine the hub supports, so each
// test proves the same SQL works on both.
func backends(t *testing.T) map[string]func(t *testing.T) *store.Store {
	return map[string]func(t *testing.T) *store.Store{
		"sqlite": func(t *testing.T) *store.Store {
			return open(t, "sqlite://"+filepath.Join(t.TempDir(), "sub", "hub.db"))
		},
		"postgres": func(t *testing.T) *store.Store {
			return open(t, pgtest.Start(t))
		},
	}
}

func open(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func f(v float64) *float64 { return &v }

var base = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func alert(id, device string, t time.Time, typ string) store.Alert {
	return store.Alert{ID: id, DeviceID: device, Type: typ, Time: t, Received: t.Add(time.Second), LabelName: "shirt",
		Energy: -3, Score: 3, Threshold: 7, Method: "energy", ModelName: "m.tflite", ModelSHA: "ab", Payload: []byte(`{"id":"` + id + `"}`)}
}

func TestStore(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			if v, err := s.SchemaVersion(ctx); err != nil || v != 5 {
				t.Fatalf("schema version = %d, %v; want 5", v, err)
			}
			b := &store.Batch{
				Alerts: []store.Alert{
					alert("a1", "cam-1", base, "alert"),
					alert("a2", "cam-1", base.Add(time.Minute), "alert"),
					alert("a3", "cam-2", base.Add(2*time.Minute), "event_start"),
					alert("a1", "cam-1", base, "alert"), // a redelivery in the same batch
				},
				Statuses: []store.Status{{DeviceID: "cam-1", State: "online", Time: base, Received: base, Version: "v1", ModelName: "m.tflite", ModelSHA: "ab"}},
				Stats: []store.Stats{{ID: "s1", DeviceID: "cam-1", Time: base.Add(time.Minute), Received: base.Add(time.Minute), IntervalS: 60,
					Frames: 100, OODFrames: 25, FPS: 1.67, Energy: store.Quantiles{f(-9), f(-2), f(-1)},
					Calibration: store.Quantiles{f(-12), f(-10), f(-8)}, CalThreshold: 7}},
				Evidence: []store.Evidence{{ID: "a2", DeviceID: "cam-1", Received: base, ContentType: "image/jpeg", Data: []byte{0xff, 0xd8, 0}}},
			}
			res, err := s.Write(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if res.NewAlerts != 3 || res.NewStats != 1 {
				t.Errorf("first write = %+v, want 3 new alerts, 1 new stats", res)
			}
			// The whole batch again: at-least-once delivery stores nothing twice.
			if res, err = s.Write(ctx, b); err != nil || res.NewAlerts != 0 || res.NewStats != 0 {
				t.Errorf("second write = %+v, %v; want nothing new", res, err)
			}
			if n, _ := s.CountAlerts(ctx); n != 3 {
				t.Errorf("%d alerts stored, want 3", n)
			}

			devs, err := s.Devices(ctx)
			if err != nil || len(devs) != 2 {
				t.Fatalf("devices = %+v, %v", devs, err)
			}
			d := devs[0]
			if d.ID != "cam-1" || d.State != "online" || d.ModelName != "m.tflite" || d.OODRate != 0.25 || d.OODRate1h != 0.25 || d.FPS != 1.67 {
				t.Errorf("cam-1 = %+v", d)
			}
			if !d.Drifting() {
				t.Errorf("cam-1 live median -2 is outside the calibration band [-12, -8] but not drifting")
			}
			if devs[1].ID != "cam-2" || devs[1].State != "" || devs[1].Drifting() {
				t.Errorf("cam-2 = %+v", devs[1])
			}
			if _, err := s.Device(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown device: %v", err)
			}

			got, err := s.Alert(ctx, "a2")
			if err != nil || got.DeviceID != "cam-1" || !got.Time.Equal(base.Add(time.Minute)) || string(got.Payload) != `{"id":"a2"}` {
				t.Errorf("alert a2 = %+v, %v", got, err)
			}
			ev, err := s.Evidence(ctx, "a2")
			if err != nil || len(ev.Data) != 3 || ev.ContentType != "image/jpeg" {
				t.Errorf("evidence = %+v, %v", ev, err)
			}

			hours, err := s.AlertsPerHour(ctx, "", base.Add(time.Hour), 2)
			one, err1 := s.AlertsPerHour(ctx, "cam-2", base.Add(time.Hour), 2)
			if err1 != nil || len(one) != 1 || fmt.Sprint(one["cam-2"]) != "[1 0]" {
				t.Errorf("alerts per hour of cam-2 = %v, %v", one, err1)
			}
			if err != nil || fmt.Sprint(hours["cam-1"]) != "[2 0]" || fmt.Sprint(hours["cam-2"]) != "[1 0]" {
				t.Errorf("alerts per hour = %v, %v", hours, err)
			}
			series, err := s.StatsSince(ctx, "cam-1", base, 10)
			if err != nil || len(series) != 1 || *series[0].Energy.P50 != -2 {
				t.Errorf("stats = %+v, %v", series, err)
			}

			// Retention: everything before base+90s goes, a3 stays.
			n, err := s.Prune(ctx, base.Add(90*time.Second))
			if err != nil || n != 4 { // a1, a2, s1, evidence a2
				t.Errorf("prune = %d, %v; want 4", n, err)
			}
			if n, _ := s.CountAlerts(ctx); n != 1 {
				t.Errorf("%d alerts after prune, want 1", n)
			}
		})
	}
}

func TestAlertsQuery(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			b := &store.Batch{}
			for i := range 25 {
				dev := []string{"cam-a", "cam-b"}[i%2]
				typ := []string{"alert", "event_start", "event_end"}[i%3]
				b.Alerts = append(b.Alerts, alert(fmt.Sprintf("id-%02d", i), dev, base.Add(time.Duration(i/2)*time.Second), typ))
			}
			if _, err := s.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				q    store.AlertQuery
				want int
			}{
				{store.AlertQuery{}, 25},
				{store.AlertQuery{Device: "cam-a"}, 13},
				{store.AlertQuery{Type: "alert"}, 9},
				{store.AlertQuery{Device: "cam-b", Type: "event_start"}, 4},
				{store.AlertQuery{Since: base.Add(10 * time.Second)}, 5},
				{store.AlertQuery{Until: base.Add(time.Second)}, 2},
				{store.AlertQuery{Label: "shirt"}, 25},
				{store.AlertQuery{Label: "boot"}, 0},
			}
			for _, tt := range tests {
				// Page through with a small limit: every row exactly once, in order.
				q := tt.q
				q.Limit = 4
				seen := map[string]bool{}
				var last store.Alert
				for pages := 0; ; pages++ {
					if pages > 20 {
						t.Fatalf("%+v: paging does not end", tt.q)
					}
					page, err := s.Alerts(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					for _, a := range page.Alerts {
						if seen[a.ID] {
							t.Errorf("%+v: %s twice", tt.q, a.ID)
						}
						if last.ID != "" && (a.Time.After(last.Time) || a.Time.Equal(last.Time) && a.ID > last.ID) {
							t.Errorf("%+v: %s after %s is out of order", tt.q, a.ID, last.ID)
						}
						seen[a.ID], last = true, a
					}
					if page.Next == "" {
						break
					}
					q.Cursor = page.Next
				}
				if len(seen) != tt.want {
					t.Errorf("%+v: %d alerts, want %d", tt.q, len(seen), tt.want)
				}
			}
			if _, err := s.Alerts(ctx, store.AlertQuery{Cursor: "!!"}); !errors.Is(err, store.ErrBadCursor) {
				t.Errorf("bad cursor: %v", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	for _, dsn := range []string{"", "mysql://x", "sqlite://"} {
		if _, err := store.Open(context.Background(), dsn); err == nil {
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}

// TestReopen runs the migrations on an existing database: nothing is
// applied twice and the data stays.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "hub.db")
	s := open(t, dsn)
	if _, err := s.Write(ctx, &store.Batch{Alerts: []store.Alert{alert("x", "d", base, "alert")}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dsn)
	if n, err := s.CountAlerts(ctx); err != nil || n != 1 {
		t.Errorf("after reopen: %d alerts, %v", n, err)
	}
}
