package runner

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/agent/mqtt"
)

// TestFeedbackKeepsFlaggedFramesAndTakesLabels: with feedback on, every
// alert's frame lands in the store with its logits, features and evidence,
// and a label sent over MQTT is applied and answered.
func TestFeedbackKeepsFlaggedFramesAndTakesLabels(t *testing.T) {
	broker := startBroker(t)
	frames, state := t.TempDir(), t.TempDir()
	cfg := testConfig(t, frames, state, broker.URL())
	cfg.Feedback.Enabled = true
	cfg.MQTT.Evidence.Enabled = true

	alerts := collectAlertIDs(t, broker.URL(), "central-"+t.Name())
	results := make(chan map[string]any, 4)
	runSubscriber(t, broker.URL(), "hub-"+t.Name(), true, "ood/test-device/feedback/result", func(_ string, payload []byte) {
		var r map[string]any
		if err := json.Unmarshal(payload, &r); err != nil {
			t.Errorf("result: %v", err)
		}
		results <- r
	})

	a := newAgent(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	const n = 3
	for i := range n {
		writeFrame(t, frames, i)
	}
	waitFor(t, "the alerts", 20*time.Second, func() bool { return alerts.count() == n })

	pub, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "labeler", KeepAlive: 5 * time.Second,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	go pub.Run(pctx)
	if err := pub.WaitConnected(pctx); err != nil {
		t.Fatal(err)
	}
	labeled := alerts.from(0)[0]
	label, _ := json.Marshal(map[string]any{"id": "fb-1", "alert_id": labeled, "label": "confirmed"})
	if err := pub.Publish(pctx, "ood/test-device/feedback", label, 1, false); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-results:
		if r["ok"] != true || r["alert_id"] != labeled {
			t.Errorf("feedback result = %v, want ok for %s", r, labeled)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no feedback result")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	store, err := feedback.Open(feedback.Options{Dir: feedback.Dir(state), NoTrim: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	entries := store.List()
	if len(entries) != n {
		t.Fatalf("store holds %d flagged frames, want %d", len(entries), n)
	}
	for _, e := range entries {
		if !e.HasJPEG || e.Model != a.model.id.SHA256 {
			t.Errorf("record %s: jpeg %v, model %q", e.AlertID, e.HasJPEG, e.Model)
		}
		if (e.AlertID == labeled) != (e.Label != nil && e.Label.Kind == feedback.Confirmed) {
			t.Errorf("record %s: label %+v (labeled %s)", e.AlertID, e.Label, labeled)
		}
	}
	// The labeled frame's vectors, as adapt reads them.
	out := t.TempDir()
	if _, err := store.Export(out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(out, "features.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, err := feedback.ReadFeatures(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].ID != labeled || len(lines[0].Logits) != 10 || len(lines[0].Features) == 0 {
		t.Fatalf("exported features = %+v, want the labeled frame's 10 logits and its features", lines)
	}
}
