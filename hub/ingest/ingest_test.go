package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
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
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

// brokerConfig lets many QoS 1 messages be in flight per client, as
// docs/hub.md recommends for a hub's broker.
var brokerConfig = mosquittotest.WithConfig("max_inflight_messages 1000", "max_queued_messages 100000")

func openStore(t testing.TB, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startIngester runs an Ingester until the returned stop is called. It
// returns once every subscription is in place: the Ingester subscribes to
// its filters in no fixed order, and before a filter's SUBACK the broker
// does not keep that filter's messages for a new session (a test that
// waited for the status row alone lost the first alerts now and then).
func startIngester(t testing.TB, opts ingest.Options) (stop func()) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	in, err := ingest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	waitFor(t, "the ingester's subscriptions", func() bool { return in.MQTTState() == "subscribed" })
	return stop
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countAlerts(t testing.TB, s *store.Store) int64 {
	n, err := s.CountAlerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIngest: a real agent client publishes alerts (some twice, as after a
// reconnect), stats, status, evidence and junk to a real Mosquitto; the
// hub stores each alert once, drops the junk without dying, and — its
// session being persistent — gets what was published while it was down.
func TestIngest(t *testing.T) {
	broker := mosquittotest.Start(t, brokerConfig)
	s := openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "hub.db"))
	metrics := ingest.NewMetrics(vm.NewSet())
	opts := ingest.Options{Broker: broker.URL(), ClientID: "hub-test", Prefix: "ood", Evidence: true, Store: s, Metrics: metrics, BatchSize: 50}
	stop := startIngester(t, opts)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := agentsim.Connect(ctx, broker.URL(), "agent-cam-1")
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := agentsim.NewDevice("ood", "cam-1")
	// The hub's subscription is in place once its retained-status read
	// works: publish a status and wait for the device row.
	now := time.Now()
	if err := agentsim.Publish(ctx, pub, dev.Topics.Status(), dev.Status(event.StateOnline, now), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "status", func() bool { d, err := s.Device(ctx, "cam-1"); return err == nil && d.State == "online" })

	const n = 300
	var ids []string
	for i := range n {
		m := dev.Alert(now.Add(time.Duration(i) * time.Millisecond))
		if i%50 == 0 {
			m.AttachEvidence(dev.Topics, len(agentsim.JPEG))
			if err := pub.Publish(ctx, dev.Topics.Evidence(m.ID), agentsim.JPEG, 1, false); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, m.ID)
		if err := agentsim.Publish(ctx, pub, dev.Topics.Alert(), m, false); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 { // a redelivery
			if err := agentsim.Publish(ctx, pub, dev.Topics.Alert(), m, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, junk := range []struct{ topic, payload string }{
		{"ood/cam-1/alert", "not json"},
		{"ood/cam-1/alert", `{"schema":"ood-agent/alert/v1"}`},
		{"ood/cam-1/stats", `{"schema":"someone-else/v1"}`},
		{"ood/cam-1/evidence/x", "GIF89a"},
	} {
		if err := pub.Publish(ctx, junk.topic, []byte(junk.payload), 1, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := agentsim.Publish(ctx, pub, dev.Topics.Stats(), dev.Stats(now, 600, 300, -4), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all alerts", func() bool { return countAlerts(t, s) == n })
	waitFor(t, "junk counted", func() bool { return dropped(metrics) >= 4 })
	waitFor(t, "stats", func() bool { d, _ := s.Device(ctx, "cam-1"); return d.FPS == 10 })
	for _, id := range ids {
		if _, err := s.Alert(ctx, id); err != nil {
			t.Fatalf("alert %s: %v", id, err)
		}
	}
	if _, err := s.Evidence(ctx, ids[50]); err != nil {
		t.Errorf("evidence of %s: %v", ids[50], err)
	}
	if got := dropped(metrics); got != 4 {
		t.Errorf("dropped = %v, want 4", got)
	}
	// The last redelivery may still be on its way once every alert is
	// stored.
	waitFor(t, "the redeliveries", func() bool { return metrics.Duplicates.Get() >= n/10 })
	if dup := metrics.Duplicates.Get(); dup != n/10 {
		t.Errorf("duplicates = %v, want %d", dup, n/10)
	}

	// The hub goes away; the agent keeps publishing; the broker queues
	// for the hub's persistent session.
	stop()
	var later []string
	for i := range 50 {
		m := dev.Alert(time.Now().Add(time.Duration(i) * time.Millisecond))
		later = append(later, m.ID)
		if err := agentsim.Publish(ctx, pub, dev.Topics.Alert(), m, false); err != nil {
			t.Fatal(err)
		}
	}
	startIngester(t, opts)
	waitFor(t, "alerts queued while the hub was down", func() bool { return countAlerts(t, s) == n+50 })
	for _, id := range later {
		if _, err := s.Alert(ctx, id); err != nil {
			t.Errorf("alert %s published while the hub was down: %v", id, err)
		}
	}
}

// TestSharedSubscription proves that Mosquitto 2 serves an MQTT 3.1.1
// shared subscription: two hubs in one group split the alerts between
// them — each gets some, together they get each one once — rather than
// each getting all.
func TestSharedSubscription(t *testing.T) {
	broker := mosquittotest.Start(t, brokerConfig)
	s := openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "hub.db"))
	var ms []*ingest.Metrics
	for i := range 2 {
		m := ingest.NewMetrics(vm.NewSet())
		ms = append(ms, m)
		startIngester(t, ingest.Options{Broker: broker.URL(), ClientID: fmt.Sprintf("hub-%d", i), Prefix: "ood", ShareGroup: "hubs", Store: s, Metrics: m})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := agentsim.Connect(ctx, broker.URL(), "agent")
	if err != nil {
		t.Fatal(err)
	}
	// Wait until both subscriptions are live: probes until each hub has
	// received one.
	dev, _ := agentsim.NewDevice("ood", "cam")
	waitFor(t, "both subscribed", func() bool {
		if err := agentsim.Publish(ctx, pub, dev.Topics.Alert(), dev.Alert(time.Now()), false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		return ms[0].Received("alert").Get() > 0 && ms[1].Received("alert").Get() > 0
	})
	before := countAlerts(t, s)
	const n = 200
	for range n {
		if err := agentsim.Publish(ctx, pub, dev.Topics.Alert(), dev.Alert(time.Now()), false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "alerts", func() bool { return countAlerts(t, s) == before+n })
	time.Sleep(200 * time.Millisecond) // any copies beyond one would arrive now
	r0 := ms[0].Received("alert").Get()
	r1 := ms[1].Received("alert").Get()
	if int64(r0+r1) != before+n {
		t.Errorf("hubs received %v + %v alerts, want %d in total: the subscription was not shared", r0, r1, before+n)
	}
	if r0 < n/4 || r1 < n/4 {
		t.Errorf("unbalanced split %v / %v", r0, r1)
	}
	// The broker logs each client's protocol: p2 is MQTT 3.1.1.
	for i := range 2 {
		if want := fmt.Sprintf("as hub-%d (p2,", i); !strings.Contains(broker.Log(), want) {
			t.Errorf("broker log lacks %q: the hub did not connect with MQTT 3.1.1\n%s", want, broker.Log())
		}
	}
}

func dropped(m *ingest.Metrics) uint64 {
	var sum uint64
	for _, reason := range []string{"topic", "json", "schema", "device_mismatch", "evidence"} {
		sum += m.Dropped(reason).Get()
	}
	return sum
}

// TestRetainedStatus: a status retained before the hub subscribed (every
// device's, at each hub start) gives the device's state but does not
// make it "seen" now; a live one does.
func TestRetainedStatus(t *testing.T) {
	broker := mosquittotest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := agentsim.Connect(ctx, broker.URL(), "agent-old")
	if err != nil {
		t.Fatal(err)
	}
	old, _ := agentsim.NewDevice("ood", "cam-old")
	if err := agentsim.Publish(ctx, pub, old.Topics.Status(), old.Status(event.StateOffline, time.Now()), true); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "hub.db"))
	startIngester(t, ingest.Options{Broker: broker.URL(), ClientID: "hub-retained", Prefix: "ood", Store: s})
	waitFor(t, "retained status", func() bool { d, err := s.Device(ctx, "cam-old"); return err == nil && d.State == "offline" })
	if d, _ := s.Device(ctx, "cam-old"); !d.LastSeen.IsZero() {
		t.Errorf("a retained status counted as seen at %v", d.LastSeen)
	}
	if err := agentsim.Publish(ctx, pub, old.Topics.Status(), old.Status(event.StateOnline, time.Now()), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "live status", func() bool { d, _ := s.Device(ctx, "cam-old"); return d.State == "online" && !d.LastSeen.IsZero() })
}
